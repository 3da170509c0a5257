"""Phrase-grounding metrics: does a sentence's map point at the region the sentence is about?

Arguments: ``saliency`` = a predicted map (H, W), any non-negative or real scale (only its ranking
and, for :func:`cnr`, its values matter); ``region`` = a boolean (H, W) mask of the ground-truth
region (a finding's box, ellipse or segmentation mask on the same raster).

* :func:`pointing_game`: 1 if the map's maximum lies inside the region (Zhang et al., "Top-down
  neural attention by excitation backprop", 2016); ties at the maximum count as a hit in proportion
  to how many of the tied cells are inside (a flat map scores the region's area fraction);
* :func:`top_k_hit_rate`: fraction of the ``fraction`` x area most salient cells that lie inside the
  region (a precision of the top-k % area);
* :func:`cnr`: contrast-to-noise ratio as in BioViL's phrase grounding (Boecking et al., 2022):
  ``|mean_in - mean_out| / sqrt(var_in + var_out)`` (population variances);
* :func:`box_iou`: IoU of the bounding box of the thresholded map (cells >= ``threshold`` x max,
  the connected component holding the maximum) with the region's bounding box;
* :func:`own_box_preference`: 1 if the map's mean inside the sentence's own region exceeds its mean
  inside another finding's region on the same image, 0 if below, 0.5 on a tie (text specificity).

Hand-written: no maintained library ships these phrase-grounding scores for arbitrary maps.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage


def _check(saliency: np.ndarray, region: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(saliency, dtype=np.float64)
    r = np.asarray(region, dtype=bool)
    if s.ndim != 2 or s.shape != r.shape:
        raise ValueError(f"map {s.shape} and region {r.shape} must be 2-D arrays of one shape")
    if not np.all(np.isfinite(s)):
        raise ValueError("the map holds NaN or infinite values")
    if not r.any():
        raise ValueError("the ground-truth region is empty")
    return s, r


def pointing_game(saliency: np.ndarray, region: np.ndarray) -> float:
    """1.0 if the maximum of ``saliency`` is inside ``region`` else 0.0 (ties: the inside fraction)."""
    s, r = _check(saliency, region)
    top = s == s.max()
    return float(r[top].mean())


def top_k_hit_rate(saliency: np.ndarray, region: np.ndarray, fraction: float = 0.1) -> float:
    """Fraction of the k = max(1, round(fraction * cells)) most salient cells inside ``region``.

    Ties at the k-th value are broken by position (row-major, first cells first), as a stable sort.
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    s, r = _check(saliency, region)
    k = max(1, int(round(fraction * s.size)))
    order = np.argsort(-s.reshape(-1), kind="stable")[:k]
    return float(r.reshape(-1)[order].mean())


def cnr(saliency: np.ndarray, region: np.ndarray) -> float:
    """BioViL contrast-to-noise ratio |mu_in - mu_out| / sqrt(var_in + var_out); NaN when the region
    covers the whole map (no outside) and 0 for a constant map."""
    s, r = _check(saliency, region)
    if r.all():
        return math.nan
    inside, outside = s[r], s[~r]
    den = math.sqrt(float(inside.var() + outside.var()))
    diff = abs(float(inside.mean() - outside.mean()))
    if den == 0:
        return 0.0 if diff == 0 else math.inf
    return diff / den


def bounding_box(mask: np.ndarray) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) half-open bounding box of the True cells of a 2-D mask."""
    ys, xs = np.nonzero(np.asarray(mask, dtype=bool))
    if xs.size == 0:
        raise ValueError("empty mask has no bounding box")
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def iou_of_boxes(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """IoU of two half-open (x0, y0, x1, y1) boxes."""
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def peak_component(saliency: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Boolean mask: the 4-connected component of cells >= ``threshold`` x max that holds the maximum
    (the first maximum in row-major order); a map whose max is <= 0 gives the whole raster."""
    s = np.asarray(saliency, dtype=np.float64)
    peak = float(s.max())
    if peak <= 0:
        return np.ones(s.shape, dtype=bool)
    labels, _ = ndimage.label(s >= threshold * peak)
    return labels == labels.reshape(-1)[int(np.argmax(s))]


def box_iou(saliency: np.ndarray, region: np.ndarray, threshold: float = 0.5) -> float:
    """IoU of the bounding box of :func:`peak_component` with the bounding box of ``region``."""
    s, r = _check(saliency, region)
    return iou_of_boxes(bounding_box(peak_component(s, threshold)), bounding_box(r))


def own_box_preference(saliency: np.ndarray, own: np.ndarray, other: np.ndarray) -> float:
    """1.0 if the mean of the map inside ``own`` exceeds its mean inside ``other``, 0.0 if below, 0.5 if equal.

    Cells in both regions are left out of both means (only the non-overlapping parts decide); NaN
    when either region has no cell of its own.
    """
    s, own_r = _check(saliency, own)
    other_r = np.asarray(other, dtype=bool)
    if other_r.shape != s.shape:
        raise ValueError(f"map {s.shape} and other region {other_r.shape} differ in shape")
    a, b = own_r & ~other_r, other_r & ~own_r
    if not a.any() or not b.any():
        return math.nan
    ma, mb = float(s[a].mean()), float(s[b].mean())
    return 1.0 if ma > mb else 0.0 if ma < mb else 0.5
