"""Structured-report metrics: the StructEval protocol of the SRRG authors (findings mode), written for cogaze.

Protocol (read from the public StructEval code; our implementation, checked against the paper):

1. Each report is split into sections by the StructEval parser (:func:`cogaze.data.structured.parse_structured`;
   text whose line breaks were stripped is restored first). Case is kept unless ``lower``.
2. For every report and every header in the union of its reference and generated sections there is one
   *section row*. A header present on one side only scores 0 on every metric (a missed or an invented
   section is penalised); otherwise the bullets of both sides (``- `` removed) are compared:

   - ``aligned=False`` (default; what reproduces the paper's Table 2): the bullets of a section are
     joined with newlines and scored as one text pair;
   - ``aligned=True``: bullet i of the reference is paired with bullet i of the generation (extra
     generated bullets dropped, missing ones replaced by "No findings"), scored over those pairs.

3. BLEU = BLEU-4 of pycocoevalcap's scorer ("closest" reference length, whitespace tokens, no other
   preprocessing); ROUGE-L = F-measure of Google's ``rouge_score`` (Porter stemmer, its default
   tokenizer, which lower-cases); F1-RadGraph = the ``radgraph`` package's simple / partial /
   complete rewards (RadGraph-XL); F1-SRR = sample-averaged precision / recall / F1 (scikit-learn) of
   the SRR-BERT abnormality labels of the section (utterance labels merged by OR) — see
   :mod:`cogaze.metrics.srr`.
4. Every score is the mean over all section rows of the corpus.

Also reported: section presence (sample-averaged P/R/F1 of which headers appear), a section-level
clinical-efficacy F1 (:func:`section_ce_metrics`) and CE on the flattened reports. Every mean is a
:class:`~cogaze.metrics.stats.CorpusMetric` (per report: sum of its section scores and their count),
so bootstrap CIs resample reports.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pycocoevalcap.bleu.bleu_scorer import BleuScorer

from cogaze.data.records import CHEXPERT_CLASSES
from cogaze.data.structured import ParsedReport, flatten_structured, parse_structured
from cogaze.metrics.clinical import binarise, ce_metrics
from cogaze.metrics.stats import CorpusMetric

log = logging.getLogger("cogaze")

PAD_UTTERANCE = "No findings"
"""What a missing generated bullet is replaced with under ``aligned=True`` (StructEval)."""
RADGRAPH_KEYS = ("RadGraph_simple", "RadGraph_partial", "RadGraph_complete")
SRR_KEYS = ("SRR_P", "SRR_R", "SRR_F1")
SECTION_CE_CLASSES: tuple[str, ...] = tuple(c for c in CHEXPERT_CLASSES if c != "No Finding")
"""Classes of the section-level CE score (No Finding is a statement about a whole report)."""

PairScorer = Callable[[Sequence[str], Sequence[str]], list[tuple[float, ...]]]
"""(references, hypotheses) -> one score tuple per pair (e.g. RadGraph's three rewards)."""


def bleu4(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Corpus BLEU-4 of pycocoevalcap's scorer over aligned pairs (StructEval's BLEU)."""
    scorer = BleuScorer(n=4)
    for ref, hyp in zip(references, hypotheses):
        scorer += (hyp, [ref])
    scores, _ = scorer.compute_score(option="closest", verbose=0)
    return float(scores[3])


class RougeL:
    """ROUGE-L F-measure of ``rouge_score`` with the Porter stemmer (StructEval's ROUGE-L)."""

    def __init__(self) -> None:
        try:
            from rouge_score import rouge_scorer
        except ImportError as err:  # pragma: no cover - a declared dependency of the eval extra
            raise ImportError("structured ROUGE-L needs the rouge-score package (pip install rouge-score)") from err
        logging.getLogger("absl").setLevel(logging.WARNING)  # rouge_score logs "Using default tokenizer." per scorer
        self.scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)

    def mean(self, references: Sequence[str], hypotheses: Sequence[str]) -> float:
        """Mean F-measure over aligned pairs."""
        return float(np.mean([self.scorer.score(r, h)["rougeL"].fmeasure for r, h in zip(references, hypotheses)]))


@dataclass
class SectionRow:
    """One (report, header) of the union of both sides; ``None`` = the header is absent on that side."""

    report: int
    header: str
    reference: list[str] | None
    hypothesis: list[str] | None

    @property
    def matched(self) -> bool:
        return self.reference is not None and self.hypothesis is not None

    def pairs(self, aligned: bool) -> tuple[list[str], list[str]]:
        """The text pairs this row is scored on (see the module docstring)."""
        ref, hyp = list(self.reference or []), list(self.hypothesis or [])
        if not aligned:
            return ["\n".join(ref)], ["\n".join(hyp)]
        hyp = hyp[: len(ref)]
        return ref, hyp + [PAD_UTTERANCE] * (len(ref) - len(hyp))


@dataclass
class Sections:
    """Parsed references and hypotheses and their section rows."""

    references: list[ParsedReport]
    hypotheses: list[ParsedReport]
    rows: list[SectionRow]

    @property
    def n_reports(self) -> int:
        return len(self.references)


def section_rows(references: Sequence[str], hypotheses: Sequence[str], lower: bool = False) -> Sections:
    """Parse both sides and list the section rows (headers of the reference first, then new generated ones)."""
    if len(references) != len(hypotheses):
        raise ValueError(f"{len(references)} references but {len(hypotheses)} hypotheses")
    refs = [parse_structured(t, lower) for t in references]
    hyps = [parse_structured(t, lower) for t in hypotheses]
    rows = []
    for i, (r, h) in enumerate(zip(refs, hyps)):
        for header in dict.fromkeys([*r.sections, *h.sections]):
            rows.append(SectionRow(i, header, r.bullets(header) if header in r.sections else None,
                                   h.bullets(header) if header in h.sections else None))
    return Sections(refs, hyps, rows)


def _per_report_mean(name: str, sections: Sections, values: Sequence[float]) -> CorpusMetric:
    """Mean over section rows as a CorpusMetric whose statistics are per report (sum, count)."""
    stats = np.zeros((sections.n_reports, 2))
    for row, value in zip(sections.rows, values):
        stats[row.report] += (value, 1.0)
    return CorpusMetric(name, stats, lambda s: np.divide(s[:, 0], s[:, 1], out=np.full(len(s), np.nan),
                                                         where=s[:, 1] > 0))


def nlg_row_scores(sections: Sections, aligned: bool = False) -> dict[str, list[float]]:
    """BLEU and ROUGE-L of every section row (0 for a header present on one side only)."""
    rouge = RougeL()
    out: dict[str, list[float]] = {"BLEU": [], "ROUGE_L": []}
    for row in sections.rows:
        if not row.matched:
            out["BLEU"].append(0.0)
            out["ROUGE_L"].append(0.0)
            continue
        refs, hyps = row.pairs(aligned)
        out["BLEU"].append(bleu4(refs, hyps))
        out["ROUGE_L"].append(rouge.mean(refs, hyps))
    return out


def pair_scorer_rows(sections: Sections, scorer: PairScorer, keys: Sequence[str],
                     aligned: bool = False) -> dict[str, list[float]]:
    """Scores of a per-pair scorer (RadGraph) per section row: one call over every pair of the corpus,
    then per row the mean over its pairs (one pair unless ``aligned``); 0 for unmatched rows."""
    refs: list[str] = []
    hyps: list[str] = []
    spans: list[tuple[int, int] | None] = []
    for row in sections.rows:
        if row.matched:
            r, h = row.pairs(aligned)
            spans.append((len(refs), len(refs) + len(r)))
            refs += r
            hyps += h
        else:
            spans.append(None)
    scores = np.asarray(scorer(refs, hyps), dtype=np.float64).reshape(len(refs), len(keys)) if refs else None
    out: dict[str, list[float]] = {k: [] for k in keys}
    for span in spans:
        vals = np.zeros(len(keys)) if span is None else scores[span[0] : span[1]].mean(0)  # type: ignore[index]
        for k, v in zip(keys, vals):
            out[k].append(float(v))
    return out


def section_presence(sections: Sections) -> tuple[dict[str, float], list[CorpusMetric]]:
    """Which headers a generation has vs its reference: sample-averaged P/R/F1 (StructEval's section scores).

    The values come from scikit-learn's ``classification_report`` (``zero_division=0``); the resampling
    statistics are the same per-report values.
    """
    from sklearn.metrics import classification_report

    labels = sorted({h for p in (*sections.references, *sections.hypotheses) for h in p.sections})
    y_true = np.array([[int(h in p.sections) for h in labels] for p in sections.references], dtype=np.int64)
    y_pred = np.array([[int(h in p.sections) for h in labels] for p in sections.hypotheses], dtype=np.int64)
    if not labels:
        return {"section_P": 0.0, "section_R": 0.0, "section_F1": 0.0}, []
    tp = (y_true & y_pred).sum(1)
    fp = ((1 - y_true) & y_pred).sum(1)
    fn = (y_true & (1 - y_pred)).sum(1)
    per = {"section_P": np.divide(tp, tp + fp, out=np.zeros(len(tp)), where=tp + fp > 0),
           "section_R": np.divide(tp, tp + fn, out=np.zeros(len(tp)), where=tp + fn > 0),
           "section_F1": np.divide(2 * tp, 2 * tp + fp + fn, out=np.zeros(len(tp)), where=2 * tp + fp + fn > 0)}
    metrics = [CorpusMetric(k, np.stack([v, np.ones(len(v))], 1), lambda s: s[:, 0] / s[:, 1]) for k, v in per.items()]
    if len(labels) < 2:  # scikit-learn reads one column as a binary target (no sample average): same formula
        return {k: float(v.mean()) for k, v in per.items()}, metrics
    report = classification_report(y_true, y_pred, output_dict=True, zero_division=0)["samples avg"]
    values = {"section_P": float(report["precision"]), "section_R": float(report["recall"]),
              "section_F1": float(report["f1-score"])}
    return values, metrics


def section_ce_metrics(sections: Sections, labeler, policy: str = "uncertain_positive") -> list[CorpusMetric]:
    """Section-level clinical efficacy: micro P/R/F1 of finding labels per (report, section) row.

    Each side of a row is labelled on its bullets (as sentences; an absent side has no labels) with
    ``labeler`` (texts -> raw (n, 14) CheXbert states), over the 13 finding classes. A finding stated
    under the wrong header counts as missed there and invented elsewhere.
    """
    def text(bullets: list[str] | None) -> str:
        return " ".join(b if b.rstrip()[-1:] in ".!?" else b.rstrip() + "." for b in (bullets or []) if b.strip())

    cols = [CHEXPERT_CLASSES.index(c) for c in SECTION_CE_CLASSES]
    rows = sections.rows
    ref_txt = [text(r.reference) for r in rows]
    hyp_txt = [text(r.hypothesis) for r in rows]
    labelled = np.asarray(labeler(ref_txt + hyp_txt)) if rows else np.zeros((0, 14), dtype=np.int64)
    ref = binarise(labelled[: len(rows)], policy)[:, cols]
    hyp = binarise(labelled[len(rows) :], policy)[:, cols]
    empty_ref = np.array([not t for t in ref_txt], dtype=bool)
    empty_hyp = np.array([not t for t in hyp_txt], dtype=bool)
    ref[empty_ref] = 0  # an absent side states nothing (some labelers call an empty text "No Finding")
    hyp[empty_hyp] = 0
    stats = np.zeros((sections.n_reports, 3))
    for k, row in enumerate(rows):
        stats[row.report] += ((hyp[k] & ref[k]).sum(), (hyp[k] & (1 - ref[k])).sum(), ((1 - hyp[k]) & ref[k]).sum())

    def agg(which: int):
        def f(s: np.ndarray) -> np.ndarray:
            tp, fp, fn = s[:, 0], s[:, 1], s[:, 2]
            p = np.divide(tp, tp + fp, out=np.zeros(len(s)), where=tp + fp > 0)
            r = np.divide(tp, tp + fn, out=np.zeros(len(s)), where=tp + fn > 0)
            return (p, r, np.divide(2 * p * r, p + r, out=np.zeros(len(s)), where=p + r > 0))[which]
        return f

    return [CorpusMetric(f"section_CE_micro_{k}", stats, agg(i)) for i, k in enumerate(("P", "R", "F1"))]


def flat_ce_metrics(references: Sequence[str], hypotheses: Sequence[str], labeler,
                    policy: str = "uncertain_positive") -> list[CorpusMetric]:
    """Report-level CE (14 / 5 classes) on the flattened reports (headers and bullet marks removed)."""
    flat_r = [flatten_structured(t) for t in references]
    flat_h = [flatten_structured(t) for t in hypotheses]
    return ce_metrics(np.asarray(labeler(flat_h)), np.asarray(labeler(flat_r)), policy)


@dataclass
class StructuredResult:
    """Corpus scores, per-section means, the resampling statistics and what could not be computed."""

    scores: dict[str, float]
    per_section: dict[str, dict[str, float]]
    metrics: list[CorpusMetric] = field(default_factory=list)
    unavailable: dict[str, str] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)


def structured_scores(references: Sequence[str], hypotheses: Sequence[str], aligned: bool = False,
                      lower: bool = False, labeler=None, policy: str = "uncertain_positive",
                      radgraph: PairScorer | None = None, srr=None,
                      unavailable: dict[str, str] | None = None) -> StructuredResult:
    """Every structured metric of aligned reference / generated report pairs (module docstring).

    ``labeler``: texts -> raw CheXbert states (default: the built-in rule labeler). ``radgraph``: a
    per-pair scorer of (simple, partial, complete) rewards (see :func:`radgraph_scorer`), ``srr``: an
    :class:`~cogaze.metrics.srr.SRRClassifier`; when None, the metric is left out and ``unavailable``
    (reason by metric name) is passed through into the result.
    """
    if labeler is None:
        from cogaze.metrics.labeler import RuleLabeler

        labeler = RuleLabeler()
    sections = section_rows(references, hypotheses, lower)
    row_scores = nlg_row_scores(sections, aligned)
    if radgraph is not None:
        row_scores.update(pair_scorer_rows(sections, radgraph, RADGRAPH_KEYS, aligned))
    if srr is not None:
        from cogaze.metrics.srr import srr_row_scores

        row_scores.update(srr_row_scores(sections, srr, aligned))
    metrics = [_per_report_mean(k, sections, v) for k, v in row_scores.items()]
    presence, presence_metrics = section_presence(sections)
    metrics += presence_metrics
    metrics += section_ce_metrics(sections, labeler, policy)
    metrics += [m for m in flat_ce_metrics(references, hypotheses, labeler, policy)
                if m.name in ("CE_14_micro_F1", "CE_5_micro_F1")]
    scores = {m.name: m.value() for m in metrics}
    scores.update(presence)
    per_section: dict[str, dict[str, float]] = {}
    for header in dict.fromkeys(r.header for r in sections.rows):
        idx = [i for i, r in enumerate(sections.rows) if r.header == header]
        per_section[header] = {"n_rows": float(len(idx)),
                               **{k: float(np.mean([v[i] for i in idx])) for k, v in row_scores.items()}}
    empty = sum(not r.sections and not h.sections for r, h in zip(sections.references, sections.hypotheses))
    if empty:
        log.warning("%d report pair(s) have no parseable section on either side and do not count", empty)
    counts = {"n_pairs": sections.n_reports, "n_section_rows": len(sections.rows),
              "n_matched_rows": sum(r.matched for r in sections.rows), "n_pairs_without_sections": empty,
              "n_reference_lines_discarded": sum(len(p.problems) for p in sections.references),
              "n_generated_lines_discarded": sum(len(p.problems) for p in sections.hypotheses)}
    return StructuredResult(scores, per_section, metrics, dict(unavailable or {}), counts)


def _radgraph_model_dir(model_type: str, folder: str | Path | None) -> Path | None:
    """The folder holding ``<model_type>/`` (config.json + weights.th): ``folder`` or the package's cache."""
    from importlib.metadata import version

    candidates = [Path(folder)] if folder is not None else []
    try:
        from appdirs import user_cache_dir

        candidates.append(Path(user_cache_dir("radgraph")) / version("radgraph"))
    except ImportError:  # pragma: no cover - appdirs is a dependency of radgraph
        pass
    for c in candidates:
        if (c / model_type / "config.json").is_file() and (c / model_type / "weights.th").is_file():
            return c
    return None


def radgraph_scorer(model_type: str = "radgraph-xl", folder: str | Path | None = None
                    ) -> tuple[PairScorer | None, str | None]:
    """A per-pair RadGraph scorer from the ``radgraph`` package (StructEval uses RadGraph-XL), or the
    reason it is unavailable (package missing, model files not found locally). Never downloads, never raises.

    ``folder``: a directory holding ``<model_type>/config.json`` and ``weights.th`` (the extracted
    ``<model_type>.tar.gz`` of the radgraph package); default: the package's own cache.
    """
    import contextlib
    import importlib.util
    import io

    if importlib.util.find_spec("radgraph") is None:
        return None, "package radgraph is not installed (pip install radgraph; its model must be available locally)"
    cache = _radgraph_model_dir(model_type, folder)
    if cache is None:
        where = f"{folder} or the radgraph cache" if folder is not None else "the radgraph package's cache"
        return None, (f"RadGraph model {model_type!r} not found in {where} (needs {model_type}/config.json and "
                      f"weights.th); pass --radgraph-dir DIR holding the extracted {model_type}.tar.gz")
    try:
        from radgraph import F1RadGraph

        with contextlib.redirect_stdout(io.StringIO()):  # the package prints its device
            model = F1RadGraph(reward_level="all", model_type=model_type, model_cache_dir=str(cache))
    except Exception as err:  # noqa: BLE001 - optional metric: report, never crash
        return None, f"RadGraph model {model_type!r} could not be loaded from {cache}: {str(err).splitlines()[0] if str(err) else err!r}"
    def score(refs: Sequence[str], hyps: Sequence[str]) -> list[tuple[float, ...]]:
        _, rewards, *_ = model(refs=list(refs), hyps=list(hyps))
        arr = np.asarray(rewards, dtype=np.float64)
        if arr.shape == (3, len(refs)):  # one list per reward level (radgraph's documented 'all' output)
            arr = arr.T
        elif arr.shape != (len(refs), 3):
            raise ValueError(f"unexpected RadGraph reward shape {arr.shape} for {len(refs)} pairs")
        return [tuple(r) for r in arr]

    return score, None
