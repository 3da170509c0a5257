"""Downstream task metrics (spec 5.4-5.7, 6.4): AUROC, F1, accuracy, Dice, retrieval P@K / R@K.

Policies are explicit arguments: F1 thresholds probabilities at ``threshold`` (default 0.5, ">=");
AUROC of a class with only one label value is undefined (NaN) and left out of the macro mean; Dice of
an image whose truth mask is empty is ``empty_score`` (spec 5.5 / BenchX: 1 if the prediction is empty
too, else 0) or the image is skipped with ``empty="skip"``.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score


def auroc(labels: np.ndarray, scores: np.ndarray) -> dict[str, Any]:
    """Per-class AUROC (list, NaN where undefined) and their macro mean over defined classes."""
    y, s = np.asarray(labels), np.asarray(scores, dtype=np.float64)
    if y.ndim == 1:
        y, s = y[:, None], s[:, None]
    per = []
    for c in range(y.shape[1]):
        per.append(float("nan") if len(np.unique(y[:, c])) < 2 else float(roc_auc_score(y[:, c], s[:, c])))
    defined = [v for v in per if not np.isnan(v)]
    return {"per_class": per, "macro": float(np.mean(defined)) if defined else float("nan")}


def f1_at_threshold(labels: np.ndarray, probs: np.ndarray, threshold: float = 0.5,
                    average: Literal["binary", "micro", "macro"] = "binary") -> float:
    """F1 of ``probs >= threshold`` against 0/1 ``labels`` (zero_division=0)."""
    pred = (np.asarray(probs) >= threshold).astype(int)
    return float(f1_score(np.asarray(labels).astype(int), pred, average=average, zero_division=0))


def accuracy(labels: np.ndarray, probs: np.ndarray, threshold: float = 0.5) -> float:
    """Accuracy of ``probs >= threshold`` (element-wise over all entries for multi-label input)."""
    pred = (np.asarray(probs) >= threshold).astype(int).ravel()
    return float(accuracy_score(np.asarray(labels).astype(int).ravel(), pred))


def _binary_masks(pred: np.ndarray, truth: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    p, t = np.asarray(pred), np.asarray(truth)
    if p.shape != t.shape or p.ndim < 2:
        raise ValueError(f"masks must be (n, H, W) of equal shape; got {p.shape} and {t.shape}")
    if p.ndim == 2:
        p, t = p[None], t[None]
    return p >= threshold, t >= 0.5


def dice_micro(pred: np.ndarray, truth: np.ndarray, threshold: float = 0.5) -> float:
    """Dice over all pixels of all images pooled: 2|P∩T| / (|P|+|T|); 1.0 if both are empty."""
    p, t = _binary_masks(pred, truth, threshold)
    denom = p.sum() + t.sum()
    return 1.0 if denom == 0 else float(2 * np.logical_and(p, t).sum() / denom)


def dice_per_image(pred: np.ndarray, truth: np.ndarray, threshold: float = 0.5,
                   empty: Literal["score", "skip"] = "score") -> float:
    """Mean per-image Dice (spec 5.5). Empty truth: 1 if the prediction is empty else 0 (``"score"``),
    or the image is left out (``"skip"``; NaN if every image is empty)."""
    p, t = _binary_masks(pred, truth, threshold)
    scores = []
    for pi, ti in zip(p, t):
        if not ti.any():
            if empty == "skip":
                continue
            scores.append(0.0 if pi.any() else 1.0)
        else:
            scores.append(2 * np.logical_and(pi, ti).sum() / (pi.sum() + ti.sum()))
    return float(np.mean(scores)) if scores else float("nan")


def retrieval_at_k(similarity: np.ndarray, query_labels: np.ndarray, gallery_labels: np.ndarray,
                   ks: tuple[int, ...] = (1, 5, 10)) -> dict[str, float]:
    """P@K (mean fraction of relevant items in the top K) and R@K as hit rate (fraction of queries with
    at least one relevant item in the top K; spec 5.7). Relevant = same label. Ties: stable order."""
    sim = np.asarray(similarity, dtype=np.float64)
    q, g = np.asarray(query_labels), np.asarray(gallery_labels)
    order = np.argsort(-sim, axis=1, kind="stable")
    relevant = g[order] == q[:, None]
    out: dict[str, float] = {}
    for k in ks:
        top = relevant[:, :k]
        out[f"P@{k}"] = float(top.mean(axis=1).mean())
        out[f"R@{k}"] = float(top.any(axis=1).mean())
    return out
