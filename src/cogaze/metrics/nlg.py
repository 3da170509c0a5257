"""Report-generation NLG metrics through pycocoevalcap: BLEU-1..4, METEOR, ROUGE-L, CIDEr(-D).

Text protocols (always recorded in the output):

- ``reference`` (default, spec 6.1): every "." becomes " .", runs of spaces become one space, case is
  kept; no PTB tokenizer. This reproduces the reference implementation's published numbers.
- ``lower``: the reference protocol, then lower-cased.
- ``ptb``: pycocoevalcap's PTBTokenizer (Stanford CoreNLP, Java): lower-cased, punctuation removed.

One reference per report; corpus-level scores as pycocoevalcap computes them. METEOR runs in a warm
Java process (:mod:`cogaze.metrics.meteor`) concurrently with the Python scorers.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from pycocoevalcap.bleu.bleu_scorer import BleuScorer
from pycocoevalcap.cider.cider import Cider
from pycocoevalcap.rouge.rouge import Rouge

from cogaze.metrics.meteor import (
    DEFAULT_MAX_WORDS,
    JAVA_INSTALL_HINT,
    MeteorFailed,
    MeteorProcess,
    MetricUnavailable,
    java_available,
    meteor_score,
)
from cogaze.metrics.stats import CorpusMetric

log = logging.getLogger("cogaze")

Protocol = Literal["reference", "lower", "ptb"]
PROTOCOLS: tuple[str, ...] = ("reference", "lower", "ptb")
NLG_METRICS: tuple[str, ...] = ("BLEU_1", "BLEU_2", "BLEU_3", "BLEU_4", "METEOR", "ROUGE_L", "CIDEr")

_SPACES = re.compile(" +")


def normalise_reference(text: str) -> str:
    """The reference implementation's protocol: "." -> " .", squeeze runs of spaces, keep case."""
    return _SPACES.sub(" ", text.replace(".", " ."))


def apply_protocol(texts: Sequence[str], protocol: str) -> list[str]:
    """Prepare ``texts`` for pycocoevalcap under ``protocol`` (see the module docstring)."""
    if protocol == "reference":
        return [normalise_reference(t) for t in texts]
    if protocol == "lower":
        return [normalise_reference(t).lower() for t in texts]
    if protocol == "ptb":
        if not java_available():
            raise MetricUnavailable("the ptb protocol runs Stanford's PTBTokenizer: " + JAVA_INSTALL_HINT)
        from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

        tok = PTBTokenizer().tokenize({i: [{"caption": t}] for i, t in enumerate(texts)})
        return [tok[i][0] for i in range(len(texts))]
    raise ValueError(f"unknown protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}")


def _bleu_aggregate(n: int = 4):
    small, tiny = 1e-9, 1e-15  # pycocoevalcap's constants

    def aggregate(summed: np.ndarray, k: int) -> np.ndarray:
        testlen, reflen = summed[:, 0], summed[:, 1]
        guess, correct = summed[:, 2 : 2 + n], summed[:, 2 + n : 2 + 2 * n]
        bleu = np.ones(len(summed))
        for j in range(k + 1):
            bleu = bleu * (correct[:, j] + tiny) / (guess[:, j] + small)
        out = bleu ** (1.0 / (k + 1))
        ratio = (testlen + tiny) / (reflen + small)
        return np.where(ratio < 1, out * np.exp(1 - 1 / np.minimum(ratio, 1)), out)

    return aggregate


def _mean_aggregate(summed: np.ndarray) -> np.ndarray:
    return summed[:, 0] / summed[:, 1]


def bleu_metrics(references: Sequence[str], hypotheses: Sequence[str]) -> tuple[list[float], list[CorpusMetric]]:
    """pycocoevalcap corpus BLEU-1..4 ("closest" reference length) and their per-report statistics."""
    scorer = BleuScorer(n=4)
    for r, h in zip(references, hypotheses):
        scorer += (h, [r])
    scores, _ = scorer.compute_score(option="closest", verbose=0)
    stats = np.array(
        [[c["testlen"], min((abs(rl - c["testlen"]), rl) for rl in c["reflen"])[1], *c["guess"], *c["correct"]]
         for c in scorer.ctest],
        dtype=np.float64,
    )
    agg = _bleu_aggregate(4)
    metrics = [CorpusMetric(f"BLEU_{k + 1}", stats, functools.partial(agg, k=k)) for k in range(4)]
    return [float(s) for s in scores], metrics


def _mean_metric(name: str, per_report: np.ndarray) -> CorpusMetric:
    stats = np.stack([np.asarray(per_report, dtype=np.float64), np.ones(len(per_report))], axis=1)
    return CorpusMetric(name, stats, _mean_aggregate)


@dataclass
class NLGResult:
    """Corpus NLG scores, their resampling statistics, the protocol, and metrics that could not run.

    ``unavailable``: metrics that cannot run here (no Java); ``failed``: metrics that failed on this
    input (message names the row); ``per_pair``: per-pair scores where the library gives them;
    ``truncated``: METEOR's rows cut by the long-text policy (0-based indices)."""

    protocol: str
    scores: dict[str, float]
    metrics: list[CorpusMetric] = field(default_factory=list)
    unavailable: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    per_pair: dict[str, np.ndarray] = field(default_factory=dict)
    truncated: list[int] = field(default_factory=list)
    meteor_process: MeteorProcess | None = None

    def close(self) -> None:
        """Stop the METEOR process started for this result (its METEOR metric can no longer resample)."""
        if self.meteor_process is not None:
            self.meteor_process.close()
            self.meteor_process = None


def compute_nlg(
    references: Sequence[str],
    hypotheses: Sequence[str],
    protocol: str = "reference",
    skip_missing: bool = False,
    meteor: MeteorProcess | None = None,
    meteor_max_words: int = DEFAULT_MAX_WORDS,
    meteor_long_text: str = "truncate",
    ids: Sequence[str] | None = None,
) -> NLGResult:
    """All NLG metrics of aligned ``references`` / ``hypotheses`` under ``protocol``.

    ``meteor``: a running :class:`MeteorProcess` to reuse (kept open for resampling); when None one is
    started and closed here. Without Java, METEOR raises :class:`MetricUnavailable` (with the install
    command) unless ``skip_missing``, which records it as unavailable with a warning. When the jar
    fails on a row (e.g. out of heap), METEOR is recorded in ``failed`` naming the row (``ids``) and
    the other metrics are still returned. ``meteor_max_words`` / ``meteor_long_text``: the long-text
    policy of :mod:`cogaze.metrics.meteor`.
    """
    if len(references) != len(hypotheses):
        raise ValueError(f"{len(references)} references but {len(hypotheses)} hypotheses")
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}")
    result = NLGResult(protocol, {})
    own_meteor = None
    if meteor is None:
        try:
            meteor = own_meteor = MeteorProcess()  # start the JVM first: its start-up overlaps our work
        except MetricUnavailable as err:
            if not skip_missing:
                raise
            log.warning("skipping METEOR: %s", err)
            result.unavailable["METEOR"] = str(err)
    try:
        refs = apply_protocol(references, protocol)
        hyps = apply_protocol(hypotheses, protocol)
        meteor_out: dict[str, Any] = {}

        def run_meteor() -> None:
            try:
                meteor_out["result"] = meteor_score(meteor, refs, hyps, meteor_max_words,  # type: ignore[arg-type]
                                                    meteor_long_text, ids)
            except BaseException as err:  # noqa: BLE001 - handled in the caller's thread
                meteor_out["error"] = err

        worker = threading.Thread(target=run_meteor, daemon=True) if meteor is not None else None
        if worker is not None:
            worker.start()
        bleu, bleu_m = bleu_metrics(refs, hyps)
        gts = {i: [r] for i, r in enumerate(refs)}
        res = {i: [h] for i, h in enumerate(hyps)}
        rouge, rouge_each = Rouge().compute_score(gts, res)
        cider, cider_each = Cider().compute_score(gts, res)
        for k in range(4):
            result.scores[f"BLEU_{k + 1}"] = bleu[k]
        result.metrics.extend(bleu_m)
        if worker is not None:
            worker.join()
            failure = meteor_out.get("error")
            if isinstance(failure, MeteorFailed):
                log.error("%s; the other metrics are still reported", failure)
                result.failed["METEOR"] = str(failure)
            elif isinstance(failure, BaseException):
                raise failure
            else:
                corpus, per_pair, stats, cut = meteor_out["result"]
                result.scores["METEOR"] = float(corpus)
                result.per_pair["METEOR"] = per_pair
                result.truncated = list(cut)
                proc = meteor
                result.metrics.append(CorpusMetric("METEOR", stats, lambda s: proc.score_summed(s)))  # type: ignore[union-attr]
        result.scores["ROUGE_L"] = float(rouge)
        result.metrics.append(_mean_metric("ROUGE_L", rouge_each))
        result.per_pair["ROUGE_L"] = np.asarray(rouge_each, dtype=np.float64)
        # CIDEr-D document frequencies come from the whole reference set; resampling keeps them fixed.
        result.scores["CIDEr"] = float(cider)
        result.metrics.append(_mean_metric("CIDEr", cider_each))
        result.per_pair["CIDEr"] = np.asarray(cider_each, dtype=np.float64)
    finally:
        if own_meteor is not None and not result.metrics:
            own_meteor.close()
    # A process started here stays up for resampling until result.close() (or garbage collection).
    result.meteor_process = own_meteor
    return result
