"""The official README's model-based report metrics (``pip install cogaze[radmetrics]``), each from the
library that defines it, with local weights only (no network at run time):

- ``BERTScore``: ``bert-score`` with the ReXrank / RadCliQ convention: distilroberta-base, layer 5,
  idf off, baseline rescaling on; per-pair F1, mean over pairs (runs of spaces squeezed first, as
  CXR-Report-Metric does);
- ``RadGraph_simple`` / ``_partial`` / ``_complete``: ``radgraph``'s ``F1RadGraph`` (model "radgraph",
  reward level "all"); mean over pairs; a pair with an empty text scores 0 (the library's rule);
- ``SemScore``: cosine between CheXbert report embeddings (last-layer [CLS]) of hypothesis and
  reference, mean over pairs; a zero embedding gives 0;
- ``1/RadCliQ-v1``: the published RadCliQ-v1 (CXR-Report-Metric ``radcliq-v1.pkl``: a StandardScaler
  and a linear model over [RadGraph combined, BERTScore, SemScore, BLEU-2]), per pair, reported as
  1 / mean over pairs;
- ``RaTEScore``: the ``ratescore`` package (RaTE-NER-DeBERTa + BioLORD-2023-C), mean over pairs.

Weights are looked up in ``weights_dir`` (folder names below) and then in the standard Hugging Face
cache (offline). A missing model raises :class:`MetricUnavailable` naming what was looked for.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cogaze.metrics.meteor import MetricUnavailable

log = logging.getLogger("cogaze")

GROUPS: dict[str, tuple[str, ...]] = {
    "bertscore": ("BERTScore",),
    "radgraph": ("RadGraph_simple", "RadGraph_partial", "RadGraph_complete"),
    "semscore": ("SemScore",),
    "radcliq": ("1/RadCliQ-v1",),
    "ratescore": ("RaTEScore",),
}
RADMETRICS: tuple[str, ...] = tuple(m for names in GROUPS.values() for m in names)

# RadCliQ-v1 (CXR-Report-Metric, CXRMetric/radcliq-v1.pkl), feature order [radgraph_combined, bertscore,
# semb_score, bleu_score]: StandardScaler mean_ / scale_, then coefficients and intercept.
RADCLIQ_MEAN = np.array([0.53792312, 0.61757256, 0.76479421, 0.44738335])
RADCLIQ_SCALE = np.array([0.30282584, 0.22430938, 0.25394391, 0.29892717])
RADCLIQ_COEF = np.array([-3.77083683e-01, -3.70300100e-01, -2.52616218e-01, 4.31504841e-12])
RADCLIQ_INTERCEPT = 2.46655256e-10

# (folder name under weights_dir, Hugging Face repositories to look for in the cache)
BERTSCORE_MODEL = ("distilroberta-base", ("distilbert/distilroberta-base", "distilroberta-base"))
RATE_NER_MODEL = ("RaTE-NER-Deberta", ("Angelakeke/RaTE-NER-Deberta",))
RATE_EVAL_MODEL = ("BioLORD-2023-C", ("FremyCompany/BioLORD-2023-C",))
CHEXBERT_TOKENIZER = ("bert-base-uncased", ("google-bert/bert-base-uncased", "bert-base-uncased"))
INSTALL_HINT = "pip install 'cogaze[radmetrics]' (scripts/install.sh --radmetrics)"


def _need(package: str, metric: str) -> None:
    if importlib.util.find_spec(package) is None:
        raise MetricUnavailable(f"{metric}: package {package!r} is not installed ({INSTALL_HINT})")


@dataclass
class RadWeights:
    """Where model weights are: ``folder`` (a local folder holding the models under the names in this
    module), the Hugging Face cache, and the CheXbert files (``chexbert`` .pth, its tokenizer)."""

    folder: Path | None = None
    chexbert: Path | None = None
    chexbert_tokenizer: Path | None = None

    def hf_model(self, spec: tuple[str, tuple[str, ...]], metric: str) -> Path:
        """A local model folder: ``folder/<name>``, else the cached snapshot of one of the repositories."""
        name, repos = spec
        looked = []
        if self.folder is not None:
            local = Path(self.folder) / name
            if (local / "config.json").is_file():
                return local
            looked.append(str(local))
        from huggingface_hub import snapshot_download

        for repo in repos:
            try:
                path = Path(snapshot_download(repo, local_files_only=True))
            except Exception:  # noqa: BLE001 - not in the cache
                looked.append(f"Hugging Face cache {repo}")
                continue
            if (path / "config.json").is_file():
                return path
            looked.append(f"Hugging Face cache {repo} (incomplete)")
        raise MetricUnavailable(f"{metric}: model weights {name!r} not found (looked in {'; '.join(looked)}); "
                                f"put a copy of {repos[0]} in --weights DIR/{name}")

    def radgraph_cache(self) -> Path:
        """The folder holding ``radgraph/`` (config.json, weights.th, vocabulary/): ``folder`` or the
        ``radgraph`` package's own cache."""
        candidates = []
        if self.folder is not None:
            candidates.append(Path(self.folder))
        from importlib.metadata import version

        from appdirs import user_cache_dir

        candidates.append(Path(user_cache_dir("radgraph")) / version("radgraph"))
        for c in candidates:
            if (c / "radgraph" / "weights.th").is_file() and (c / "radgraph" / "config.json").is_file():
                return c
        raise MetricUnavailable("RadGraph: model 'radgraph' not found (looked for radgraph/weights.th and "
                                f"radgraph/config.json in {', '.join(str(c) for c in candidates)}); extract "
                                "radgraph.tar.gz (StanfordAIMI/RRG_scorers) into --weights DIR/radgraph")

    def chexbert_labeler(self):
        """A :class:`~cogaze.metrics.chexbert.CheXbertLabeler` from the local files."""
        from cogaze.metrics.chexbert import CheXbertLabeler

        pth = self.chexbert or (Path(self.folder) / "chexbert.pth" if self.folder is not None else None)
        if pth is None or not Path(pth).is_file():
            raise MetricUnavailable(f"SemScore / RadCliQ: CheXbert weights not found ({pth or 'no --chexbert'}); "
                                    "pass --chexbert PATH or put chexbert.pth in --weights DIR")
        tok = self.chexbert_tokenizer
        if tok is None and not (Path(pth).parent / "vocab.txt").is_file():
            tok = self.hf_model(CHEXBERT_TOKENIZER, "SemScore")
        return CheXbertLabeler(pth, tok)


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity; 0 where either row is all zeros."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    dot = (a * b).sum(1)
    norm = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return np.divide(dot, norm, out=np.zeros_like(dot), where=norm > 0)


def radcliq_v1(radgraph_combined: np.ndarray, bertscore: np.ndarray, semscore: np.ndarray,
               bleu2: np.ndarray) -> np.ndarray:
    """Per-pair RadCliQ-v1 (lower is better): standardise the four features, then the linear model."""
    x = np.stack([radgraph_combined, bertscore, semscore, bleu2], axis=1).astype(np.float64)
    return ((x - RADCLIQ_MEAN) / RADCLIQ_SCALE) @ RADCLIQ_COEF + RADCLIQ_INTERCEPT


def _set_f1(test: set, retrieved: set) -> float:
    tp = len(test & retrieved)
    p = tp / len(retrieved) if retrieved else 0.0
    r = tp / len(test) if test else 0.0
    return 2 * p * r / (p + r) if p + r else 0.0


def radgraph_combined(hyp_annotation: dict, ref_annotation: dict) -> float:
    """CXR-Report-Metric's ``radgraph_combined``: mean of entity F1 (tokens, label) and relation F1
    ((tokens, label), (tokens, label), relation) between two RadGraph annotations."""
    def parse(ann: dict) -> tuple[set, set]:
        ents = ann.get("entities", {})
        e = {(x["tokens"], x["label"]) for x in ents.values()}
        r = {((x["tokens"], x["label"]), (ents[t]["tokens"], ents[t]["label"]), rel)
             for x in ents.values() for rel, t in x.get("relations", []) if t in ents}
        return e, r

    he, hr = parse(hyp_annotation)
    re_, rr = parse(ref_annotation)
    return (_set_f1(re_, he) + _set_f1(rr, hr)) / 2


def bleu2_per_pair(references: Sequence[str], hypotheses: Sequence[str]) -> np.ndarray:
    """Per-pair BLEU-2 on CXR-Report-Metric's tokens (lower-cased, "." split off, split on spaces).

    RadCliQ-v1 gives BLEU a weight of 4.3e-12, so the BLEU implementation changes the score by less
    than 1e-11; pycocoevalcap's scorer is used here."""
    from pycocoevalcap.bleu.bleu_scorer import BleuScorer

    def prep(t: str) -> str:
        return " ".join(w for w in t.lower().replace(".", " .").split(" ") if w)

    out = np.zeros(len(references))
    for i, (r, h) in enumerate(zip(references, hypotheses)):
        scorer = BleuScorer(n=2)
        scorer += (prep(h), [prep(r)])
        out[i] = scorer.compute_score(option="closest", verbose=0)[1][1][0]
    return out


def bertscore_per_pair(references: Sequence[str], hypotheses: Sequence[str], model_dir: str | Path,
                       num_layers: int = 5, batch_size: int = 32) -> np.ndarray:
    """BERTScore F1 per pair (distilroberta-base convention: idf off, rescaled with its baseline)."""
    _need("bert_score", "BERTScore")
    import bert_score
    from bert_score import BERTScorer

    baseline = Path(bert_score.__file__).parent / "rescale_baseline" / "en" / "distilroberta-base.tsv"
    scorer = BERTScorer(model_type=str(model_dir), num_layers=num_layers, lang="en", idf=False,
                        rescale_with_baseline=True, baseline_path=str(baseline), batch_size=batch_size)
    squeeze = [re.sub(r" +", " ", t) for t in hypotheses], [re.sub(r" +", " ", t) for t in references]
    _, _, f1 = scorer.score(*squeeze)
    return f1.double().numpy()


def radgraph_per_pair(references: Sequence[str], hypotheses: Sequence[str], cache_dir: Path):
    """RadGraph rewards per pair (n, 3: simple, partial, complete) and ``radgraph_combined`` (n,)."""
    _need("radgraph", "RadGraph")
    from radgraph import F1RadGraph

    scorer = F1RadGraph(reward_level="all", model_type="radgraph", model_cache_dir=str(cache_dir))
    _, rewards, hyp_ann, ref_ann = scorer(refs=list(references), hyps=list(hypotheses))
    per_pair = np.stack([np.asarray(r, dtype=np.float64) for r in rewards], axis=1)
    combined = np.zeros(len(references))
    k = 0
    for i, (r, h) in enumerate(zip(references, hypotheses)):
        if len(r) and len(h):  # the library's empty rule: pairs with an empty text are not annotated
            combined[i] = radgraph_combined(hyp_ann[k], ref_ann[k])
            k += 1
    return per_pair, combined


def ratescore_per_pair(references: Sequence[str], hypotheses: Sequence[str], ner_dir: Path,
                       eval_dir: Path) -> np.ndarray:
    """RaTEScore per pair (the ``ratescore`` package, CPU)."""
    _need("RaTEScore", "RaTEScore")
    try:
        from RaTEScore import RaTEScore
    except ImportError as err:  # its sentence splitter needs medspacy
        raise MetricUnavailable(f"RaTEScore: cannot import the ratescore package ({err}); {INSTALL_HINT}") from None
    from RaTEScore.utils import sentence_split

    scorer = RaTEScore(bert_model=str(ner_dir), eval_model=str(eval_dir), use_gpu=False)
    # The library pairs entity lists by position after dropping texts its splitter finds no sentence in,
    # so one empty text would shift every later pair: such pairs get the library's no-entity score 0.5
    # here and only the others are sent.
    keep = [i for i, (r, h) in enumerate(zip(references, hypotheses))
            if sentence_split([r])[0] and sentence_split([h])[0]]
    out = np.full(len(references), 0.5)
    if keep:
        out[keep] = scorer.compute_score([hypotheses[i] for i in keep], [references[i] for i in keep])
    return out


def compute_radmetrics(references: Sequence[str], hypotheses: Sequence[str], groups: Sequence[str],
                       weights: RadWeights) -> tuple[dict[str, float], dict[str, np.ndarray], dict[str, str]]:
    """The selected metric groups (keys of :data:`GROUPS`): (corpus scores, per-pair scores, unavailable
    metric -> reason). A group that cannot run is reported, never raised; the others still run."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # local weights only: never reach for the network
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    unknown = sorted(set(groups) - set(GROUPS))
    if unknown:
        raise ValueError(f"unknown metric group(s) {', '.join(unknown)}; choose from {', '.join(GROUPS)}")
    scores: dict[str, float] = {}
    per: dict[str, np.ndarray] = {}
    missing: dict[str, str] = {}
    need = set(groups) | ({"bertscore", "radgraph", "semscore"} if "radcliq" in groups else set())
    parts: dict[str, np.ndarray] = {}

    def attempt(group: str, fn) -> None:
        try:
            fn()
        except MetricUnavailable as err:
            for name in GROUPS[group]:
                missing[name] = str(err)
        except Exception as err:  # noqa: BLE001 - a library failure names the metric, the rest still run
            log.error("%s failed: %s", group, err)
            for name in GROUPS[group]:
                missing[name] = f"{group} failed: {type(err).__name__}: {err}"

    def bert() -> None:
        parts["bertscore"] = bertscore_per_pair(references, hypotheses, weights.hf_model(BERTSCORE_MODEL, "BERTScore"))

    def radgraph() -> None:
        parts["radgraph"], parts["radgraph_combined"] = radgraph_per_pair(references, hypotheses,
                                                                          weights.radgraph_cache())

    def sem() -> None:
        chex = weights.chexbert_labeler()
        parts["semscore"] = cosine_rows(chex.embed(hypotheses), chex.embed(references))

    def rate() -> None:
        parts["ratescore"] = ratescore_per_pair(references, hypotheses, weights.hf_model(RATE_NER_MODEL, "RaTEScore"),
                                                weights.hf_model(RATE_EVAL_MODEL, "RaTEScore"))

    for group, fn in (("bertscore", bert), ("radgraph", radgraph), ("semscore", sem), ("ratescore", rate)):
        if group in need:
            attempt(group, fn)
    if "bertscore" in groups and "bertscore" in parts:
        per["BERTScore"] = parts["bertscore"]
    if "radgraph" in groups and "radgraph" in parts:
        for j, name in enumerate(GROUPS["radgraph"]):
            per[name] = parts["radgraph"][:, j]
    if "semscore" in groups and "semscore" in parts:
        per["SemScore"] = parts["semscore"]
    if "ratescore" in groups and "ratescore" in parts:
        per["RaTEScore"] = parts["ratescore"]
    if "radcliq" in groups:
        lacking = [g for g in ("bertscore", "radgraph", "semscore") if g not in parts]
        if lacking:
            missing["1/RadCliQ-v1"] = "needs " + "; ".join(
                missing.get(GROUPS[g][0], g) for g in lacking)
        else:
            per["RadCliQ-v1"] = radcliq_v1(parts["radgraph_combined"], parts["bertscore"], parts["semscore"],
                                           bleu2_per_pair(references, hypotheses))
    for name, values in per.items():
        if name == "RadCliQ-v1":
            scores["1/RadCliQ-v1"] = float(1.0 / values.mean()) if len(values) else float("nan")
        else:
            scores[name] = float(values.mean()) if len(values) else float("nan")
    for g in set(GROUPS) - set(groups):
        for name in GROUPS[g]:
            missing.pop(name, None)
    return scores, per, missing
