"""The report-evaluation pipeline behind ``cogaze evaluate``: NLG + CE + bootstrap CIs, and comparisons."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from cogaze.errors import DataError
from cogaze.io import atomic_write_json
from cogaze.metrics.clinical import ce_metrics
from cogaze.metrics.meteor import DEFAULT_MAX_WORDS, MeteorProcess, MetricUnavailable, java_available
from cogaze.metrics.nlg import NLGResult, compute_nlg
from cogaze.metrics.radmetrics import RadWeights, compute_radmetrics
from cogaze.metrics.reports_csv import ReportPairs
from cogaze.metrics.stats import CorpusMetric, PairedTest, bootstrap_ci, paired_randomisation_test


def make_labeler(kind: str = "rule", chexbert: str | Path | None = None, tokenizer: str | Path | None = None):
    """``rule`` (built in) or ``chexbert`` (needs a local chexbert.pth)."""
    if kind == "rule":
        from cogaze.metrics.labeler import RuleLabeler

        return RuleLabeler()
    if kind == "chexbert":
        from cogaze.metrics.chexbert import CheXbertLabeler

        if chexbert is None:
            raise MetricUnavailable("--labeler chexbert needs --chexbert PATH (a local chexbert.pth)")
        return CheXbertLabeler(chexbert, tokenizer)
    raise ValueError(f"unknown labeler {kind!r}; choose rule or chexbert")


def _metrics(pairs: ReportPairs, protocol: str, labeler, policy: str, skip_missing: bool,
             meteor: MeteorProcess | None, meteor_max_words: int = DEFAULT_MAX_WORDS,
             meteor_long_text: str = "truncate") -> tuple[dict[str, float], list[CorpusMetric], NLGResult]:
    nlg = compute_nlg(pairs.references, pairs.hypotheses, protocol, skip_missing=skip_missing, meteor=meteor,
                      meteor_max_words=meteor_max_words, meteor_long_text=meteor_long_text, ids=pairs.ids)
    ce = ce_metrics(labeler(pairs.hypotheses), labeler(pairs.references), policy)
    scores = dict(nlg.scores) | {m.name: m.value() for m in ce}
    return scores, nlg.metrics + ce, nlg


def _per_pair_metric(name: str, values: np.ndarray) -> CorpusMetric:
    """A mean-over-pairs metric for resampling; ``RadCliQ-v1`` per pair becomes ``1/RadCliQ-v1`` =
    1 / mean (the published report convention)."""
    stats = np.stack([np.asarray(values, dtype=np.float64), np.ones(len(values))], axis=1)
    if name == "RadCliQ-v1":
        return CorpusMetric("1/RadCliQ-v1", stats, lambda s: s[:, 1] / s[:, 0])
    return CorpusMetric(name, stats, lambda s: s[:, 0] / s[:, 1])


def start_meteor(skip_missing: bool = False) -> MeteorProcess | None:
    """A running METEOR process (one JVM start, several seconds) to share between evaluations; None when
    Java is missing and ``skip_missing``. The caller closes it."""
    if not java_available() and skip_missing:
        return None
    return MeteorProcess()


def evaluate_pairs(pairs: ReportPairs, protocol: str = "reference", labeler=None, policy: str = "uncertain_positive",
                   n_boot: int = 1000, seed: int = 0, skip_missing: bool = False,
                   meteor: MeteorProcess | None = None, meteor_max_words: int = DEFAULT_MAX_WORDS,
                   meteor_long_text: str = "truncate", radmetrics: Sequence[str] = (),
                   weights: RadWeights | None = None) -> dict[str, object]:
    """All corpus scores, their bootstrap 95% CIs (``<metric>_CI``) and the settings, as a JSON-able dict.

    ``meteor``: a process from :func:`start_meteor` to reuse (left open); by default one is started
    and closed here. ``unavailable`` / ``failed`` name metrics that could not run here / failed on
    this input (the others are still reported); ``METEOR_truncated`` lists the ids of rows cut by
    METEOR's long-text policy. ``radmetrics``: groups of :mod:`cogaze.metrics.radmetrics` to add
    (weights from ``weights``)."""
    labeler = labeler or make_labeler("rule")
    own = meteor is None
    if own:
        meteor = start_meteor(skip_missing)
    try:
        scores, metrics, nlg = _metrics(pairs, protocol, labeler, policy, skip_missing, meteor,
                                        meteor_max_words, meteor_long_text)
        rad_missing: dict[str, str] = {}
        if radmetrics:
            rad_scores, per_pair, rad_missing = compute_radmetrics(pairs.references, pairs.hypotheses, radmetrics,
                                                                   weights or RadWeights())
            scores.update(rad_scores)
            metrics += [_per_pair_metric(name, values) for name, values in per_pair.items()]
        cis = bootstrap_ci(metrics, n_boot=n_boot, seed=seed) if n_boot > 0 else {}
    finally:
        if own and meteor is not None:
            meteor.close()
    out: dict[str, object] = {"file": pairs.path, "n_pairs": len(pairs), "n_skipped": pairs.problems.n_skipped,
                              "protocol": protocol, "labeler": getattr(labeler, "name", str(labeler)),
                              "CE_policy": policy, "bootstrap": {"n": n_boot, "seed": seed, "level": 0.95}}
    out.update(scores)
    out.update({f"{k}_CI": list(v) for k, v in cis.items()})
    out["unavailable"] = dict(nlg.unavailable) | rad_missing
    out["failed"] = dict(nlg.failed)
    out["METEOR_truncated"] = [pairs.ids[i] for i in nlg.truncated]
    out["METEOR_max_words"] = meteor_max_words
    return out


def evaluate_structured_pairs(pairs: ReportPairs, labeler=None, policy: str = "uncertain_positive",
                              aligned: bool = False, lower: bool = False, n_boot: int = 1000, seed: int = 0,
                              radgraph: bool = True, srr_bert: str | Path | None = None,
                              srr_tokenizer: str | Path | None = None,
                              radgraph_dir: str | Path | None = None) -> dict[str, object]:
    """Structured-report scores (StructEval protocol, :mod:`cogaze.metrics.structured`) as a JSON-able dict.

    RadGraph (RadGraph-XL, as StructEval) runs when the ``radgraph`` package and its model files are
    found locally (``radgraph_dir`` or the package cache; ``radgraph=False`` skips it); F1-SRR runs with a local SRR-BERT folder (``srr_bert``). What cannot run is listed under
    ``unavailable`` with the reason; the other scores are unaffected.
    """
    from cogaze.metrics.structured import radgraph_scorer, structured_scores

    labeler = labeler or make_labeler("rule")
    unavailable: dict[str, str] = {}
    scorer = None
    if radgraph:
        scorer, why = radgraph_scorer(folder=radgraph_dir)
        if why:
            unavailable["RadGraph"] = why
    else:
        unavailable["RadGraph"] = "skipped (--no-radgraph)"
    srr = None
    if srr_bert is None:
        unavailable["SRR"] = ("no SRR-BERT weights given: pass --srr-bert DIR (a local copy of the SRRG authors' "
                              "SRR-BERT-Leaves checkpoint) to compute F1-SRR")
    else:
        from cogaze.metrics.srr import SRRClassifier

        srr = SRRClassifier(srr_bert, srr_tokenizer)
    res = structured_scores(pairs.references, pairs.hypotheses, aligned=aligned, lower=lower, labeler=labeler,
                            policy=policy, radgraph=scorer, srr=srr, unavailable=unavailable)
    cis = bootstrap_ci(res.metrics, n_boot=n_boot, seed=seed) if n_boot > 0 else {}
    out: dict[str, object] = {"file": pairs.path, **res.counts, "n_skipped": pairs.problems.n_skipped,
                              "protocol": {"name": "StructEval findings", "aligned": aligned, "lower_case": lower},
                              "labeler": getattr(labeler, "name", str(labeler)), "CE_policy": policy,
                              "bootstrap": {"n": n_boot, "seed": seed, "level": 0.95}}
    out.update(res.scores)
    out.update({f"{k}_CI": list(v) for k, v in cis.items()})
    out["per_section"] = res.per_section
    out["unavailable"] = res.unavailable
    return out


def align(a: ReportPairs, b: ReportPairs) -> ReportPairs:
    """``b`` reordered to ``a``'s ids; both must cover the same reports with the same references."""
    if set(a.ids) != set(b.ids):
        only = sorted(set(a.ids) ^ set(b.ids))[:5]
        raise DataError(f"the two files cover different reports (e.g. {', '.join(only)})", b.path)
    pos = {rid: i for i, rid in enumerate(b.ids)}
    out = ReportPairs([], [], [], b.path, [], b.problems)
    for rid, ref in zip(a.ids, a.references):
        j = pos[rid]
        if " ".join(b.references[j].split()) != " ".join(ref.split()):
            raise DataError(f"reference report of {rid!r} differs between the two files", b.path, b.lines[j])
        out.ids.append(rid)
        out.references.append(ref)
        out.hypotheses.append(b.hypotheses[j])
        out.lines.append(b.lines[j])
    return out


def compare_pairs(a: ReportPairs, b: ReportPairs, protocol: str = "reference", labeler=None,
                  policy: str = "uncertain_positive", n_perm: int = 1000, seed: int = 0,
                  skip_missing: bool = False, meteor_max_words: int = DEFAULT_MAX_WORDS,
                  meteor_long_text: str = "truncate") -> list[PairedTest]:
    """Paired approximate-randomisation test (B - A) for every metric."""
    labeler = labeler or make_labeler("rule")
    b = align(a, b)
    meteor = start_meteor(skip_missing)
    try:
        _, ma, _ = _metrics(a, protocol, labeler, policy, skip_missing, meteor, meteor_max_words, meteor_long_text)
        _, mb, _ = _metrics(b, protocol, labeler, policy, skip_missing, meteor, meteor_max_words, meteor_long_text)
        by_b = {m.name: m for m in mb}
        return [paired_randomisation_test(m, by_b[m.name], n_perm=n_perm, seed=seed) for m in ma if m.name in by_b]
    finally:
        if meteor is not None:
            meteor.close()


def write_json(data: object, path: str | Path) -> None:
    """Write JSON atomically (temp file + os.replace)."""
    atomic_write_json(path, data, default=None)
