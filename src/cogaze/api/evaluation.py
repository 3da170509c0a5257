"""Score generated reports: NLG metrics, clinical efficacy, model metrics, bootstrap CIs, paired tests.

Each function reads a reports CSV (``dicom_id, reference_report, generated_report`` by default; see
docs/evaluation.md) and returns JSON-able results; :func:`write_results` saves them atomically.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cogaze.errors import ConfigError

METRIC_GROUPS = ("nlg", "ce", "bertscore", "radgraph", "semscore", "radcliq", "ratescore")
"""``nlg`` and ``ce`` are always computed; the others are the model metrics of docs/evaluation.md."""


@dataclass(frozen=True)
class ReportsCsv:
    """Where the texts are in a reports CSV, and what an empty generated report means."""

    id_column: str = "dicom_id"
    reference_column: str = "reference_report"
    generated_column: str = "generated_report"
    keep_empty: bool = False  # score empty generated reports as empty text instead of refusing the file


@dataclass(frozen=True)
class Scoring:
    """How texts are scored: NLG protocol, clinical-efficacy labeler and policy, METEOR's long-text rule."""

    protocol: str = "reference"
    labeler: str = "rule"
    chexbert: str | None = None
    chexbert_tokenizer: str | None = None
    policy: str = "uncertain_positive"
    skip_missing: bool = False
    meteor_max_words: int = 1000
    meteor_long_text: str = "truncate"
    seed: int = 0


def read_reports(csv_file: str | Path, csv: ReportsCsv = ReportsCsv()) -> Any:
    """The report pairs of ``csv_file`` (a clear error naming the file and row for malformed input)."""
    from cogaze.metrics.reports_csv import read_reports_csv

    return read_reports_csv(csv_file, id_column=csv.id_column, reference_column=csv.reference_column,
                            generated_column=csv.generated_column,
                            empty_generated="keep" if csv.keep_empty else "error")


def _labeler(scoring: Scoring) -> Any:
    from cogaze.metrics.report_eval import make_labeler

    return make_labeler(scoring.labeler, scoring.chexbert, scoring.chexbert_tokenizer)


def metric_groups(groups: Sequence[str]) -> list[str]:
    """Validated metric groups: ``["all"]`` or names from :data:`METRIC_GROUPS` including nlg and ce."""
    groups = [g.strip().lower() for g in groups if g.strip()]
    if groups == ["all"]:
        return list(METRIC_GROUPS)
    bad = [g for g in groups if g not in METRIC_GROUPS]
    if bad or not groups:
        raise ConfigError(f"metrics: {', '.join(bad) or 'nothing'}: choose 'all' or a list of "
                          f"{', '.join(METRIC_GROUPS)}")
    if "nlg" not in groups or "ce" not in groups:
        raise ConfigError("metrics: nlg and ce are always computed; add model metrics to them, e.g. nlg,ce,bertscore")
    return groups


def evaluate_reports(csv_file: str | Path, scoring: Scoring = Scoring(), csv: ReportsCsv = ReportsCsv(),
                     n_boot: int = 1000, metrics: Sequence[str] = ("nlg", "ce"),
                     weights_dir: str | Path | None = None) -> dict[str, Any]:
    """Corpus NLG scores (pycocoevalcap), clinical efficacy, optional model metrics and bootstrap 95 % CIs.

    ``unavailable`` / ``failed`` in the result name metrics that could not run here / failed on this
    input; the others are still reported.
    """
    from cogaze.metrics.radmetrics import RadWeights
    from cogaze.metrics.report_eval import evaluate_pairs

    if n_boot < 0:
        raise ConfigError(f"bootstrap: {n_boot} resamples; must be 0 (no CIs) or more")
    groups = metric_groups(metrics)
    weights = RadWeights(Path(weights_dir) if weights_dir else None,
                         Path(scoring.chexbert) if scoring.chexbert else None,
                         Path(scoring.chexbert_tokenizer) if scoring.chexbert_tokenizer else None)
    return evaluate_pairs(read_reports(csv_file, csv), scoring.protocol, _labeler(scoring), scoring.policy, n_boot,
                          scoring.seed, scoring.skip_missing, meteor_max_words=scoring.meteor_max_words,
                          meteor_long_text=scoring.meteor_long_text,
                          radmetrics=[g for g in groups if g not in ("nlg", "ce")], weights=weights)


def evaluate_structured_reports(csv_file: str | Path, scoring: Scoring = Scoring(), csv: ReportsCsv = ReportsCsv(),
                                n_boot: int = 1000, aligned: bool = False, lowercase: bool = False,
                                radgraph: bool = True, radgraph_dir: str | Path | None = None,
                                srr_bert: str | Path | None = None,
                                srr_bert_tokenizer: str | Path | None = None) -> dict[str, Any]:
    """Structured-report scores (SRRG-Findings, the StructEval protocol) with bootstrap 95 % CIs."""
    from cogaze.metrics.report_eval import evaluate_structured_pairs

    if n_boot < 0:
        raise ConfigError(f"bootstrap: {n_boot} resamples; must be 0 (no CIs) or more")
    return evaluate_structured_pairs(read_reports(csv_file, csv), _labeler(scoring), scoring.policy, aligned,
                                     lowercase, n_boot, scoring.seed, radgraph, srr_bert, srr_bert_tokenizer,
                                     radgraph_dir)


def compare_reports(a_csv: str | Path, b_csv: str | Path, scoring: Scoring = Scoring(),
                    csv: ReportsCsv = ReportsCsv(), permutations: int = 1000) -> list[Any]:
    """Paired approximate-randomisation test of system B against system A, per metric (delta = B - A)."""
    from cogaze.metrics.report_eval import compare_pairs

    if permutations < 1:
        raise ConfigError(f"permutations: {permutations}; must be at least 1")
    return compare_pairs(read_reports(a_csv, csv), read_reports(b_csv, csv), scoring.protocol, _labeler(scoring),
                         scoring.policy, permutations, scoring.seed, scoring.skip_missing,
                         scoring.meteor_max_words, scoring.meteor_long_text)


def write_results(results: object, path: str | Path) -> None:
    """Write results as JSON, atomically."""
    from cogaze.metrics.report_eval import write_json

    write_json(results, path)
