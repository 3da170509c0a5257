"""Validation score for model selection: a pluggable callable (hypotheses, references) -> float.

The paper's monitor is RadGraph-partial + BLEU-4 + CheXbert micro-F1 (structured reports:
:func:`structured_bleu_plus_section_ce`). RadGraph is not available
offline, so the default (:func:`bleu4_plus_ce_f1`) is BLEU-4 (pycocoevalcap, spec-6.1 text
preparation) + CE-14 micro-F1 from ``cogaze.metrics`` with the rule labeler (CheXbert stand-in).
Pass any other callable, e.g. one using ``cogaze.metrics.report_eval.make_labeler("chexbert", ...)``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

SelectionMetric = Callable[[Sequence[str], Sequence[str]], float]


def _prep(text: str) -> str:
    return re.sub(r" +", " ", text.replace(".", " .")).strip() or "."


def bleu4(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """Corpus BLEU-4 (pycocoevalcap) with '.' -> ' .' and collapsed spaces (spec 6.1)."""
    from pycocoevalcap.bleu.bleu import Bleu

    gts = {i: [_prep(r)] for i, r in enumerate(references)}
    res = {i: [_prep(h)] for i, h in enumerate(hypotheses)}
    scores, _ = Bleu(4).compute_score(gts, res, verbose=0)
    return float(scores[3])


def ce14_micro_f1(hypotheses: Sequence[str], references: Sequence[str], labeler=None) -> float:
    """CE-14 micro-F1 of the hypotheses' labels against the references' (rule labeler by default)."""
    from cogaze.metrics.clinical import ce_scores
    from cogaze.metrics.labeler import RuleLabeler

    labeler = labeler or RuleLabeler()
    return float(ce_scores(labeler(list(hypotheses)), labeler(list(references)))["CE_14_micro_F1"])


def bleu4_plus_ce_f1(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """BLEU-4 + CE-14 micro-F1 (rule labeler): the paper's monitor without RadGraph."""
    return bleu4(hypotheses, references) + ce14_micro_f1(hypotheses, references)


def structured_bleu_plus_section_ce(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """Structured reports: StructEval BLEU + section-level CE micro-F1 (rule labeler), both in [0, 1]."""
    from cogaze.metrics.labeler import RuleLabeler
    from cogaze.metrics.structured import nlg_row_scores, section_ce_metrics, section_rows

    sections = section_rows(references, hypotheses)
    if not sections.rows:
        return 0.0
    bleu = nlg_row_scores(sections)["BLEU"]
    ce = {m.name: m.value() for m in section_ce_metrics(sections, RuleLabeler())}
    return float(sum(bleu) / len(bleu) + ce["section_CE_micro_F1"])
