"""Score gaze predictors against held-out radiologist readings with the gaze metrics.

Units and ground truth (all on an *evaluation raster*: the original image frame shrunk so its longer
side is ``eval_side`` = 128 cells, aspect kept, :func:`cogaze.explain.baselines.eval_shape`):

* a **paragraph unit** per reading: the true map is the reading's paragraph heatmap
  (:mod:`cogaze.gaze.heatmaps`, its recipe ``options``, pushed to the raster by area averaging);
  the fixations are the kept ones (:func:`cogaze.gaze.filtering.filter_fixations`), in time order;
  the predictor gets the full transcript paragraph;
* a **sentence unit** per transcript sentence with at least one fixation in its window; the
  predictor gets the sentence.

Metrics (``cogaze.gaze.metrics``) per unit: NSS and IG on the fixations (IG in bits over the
``ig_baseline`` map, default the centre bias), CC and KLD against the true map, sAUC with negatives
= fixations of the *other* images (relative positions mapped onto this raster); per paragraph unit
also MultiMatch of a scanpath sampled from the predicted map (greedy, inhibition of return, as many
fixations as the reading has, at most ``max_scanpath``) against the real fixation sequence.
``centroid_icc``: ICC(2,1) of predicted vs true centroids of per-finding maps (per reading and
CheXbert finding mentioned positive/uncertain in its transcript sentences: the sum of those
sentences' maps), with a percentile bootstrap CI over the pairs. Every other metric is the mean over
units with a Student-t 95 % CI (mean ± t * sd / sqrt(n)); units where a metric is undefined (e.g.
MultiMatch with < 3 fixations) are left out of that metric's n.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cogaze.data.geometry import pool_matrix
from cogaze.data.records import ImageRecord
from cogaze.explain.baselines import EVAL_SIDE, CentreBiasPredictor, Predictor, UniformPredictor, eval_shape
from cogaze.explain.predict import mentioned_findings
from cogaze.explain.scanpath import sample_scanpath
from cogaze.gaze.filtering import filter_fixations
from cogaze.gaze.heatmaps import HeatmapOptions, fixation_kernels, normalize_max, sentence_selection
from cogaze.gaze.metrics import (
    auc_shuffled,
    cc,
    centre_bias,
    fixation_map,
    icc_2_1,
    information_gain,
    kld,
    map_centroid,
    multimatch,
    nss,
)
from cogaze.gaze.targets import reading_texts
from cogaze.logs import Progress
from cogaze.metrics.stats import format_mean_ci
from cogaze.metrics.stats import mean_ci as stats_mean_ci

log = logging.getLogger(__name__)

METRIC_LABELS: dict[str, str] = {
    "nss": "NSS", "cc": "CC", "kld": "KLD", "sauc": "sAUC", "ig": "IG (bits)", "multimatch": "MultiMatch",
    "mm_vector": "MM vector", "mm_direction": "MM direction", "mm_length": "MM length",
    "mm_position": "MM position", "mm_duration": "MM duration",
    "sentence_nss": "NSS (sentence)", "sentence_cc": "CC (sentence)", "sentence_kld": "KLD (sentence)",
    "sentence_sauc": "sAUC (sentence)", "sentence_ig": "IG (sentence)", "centroid_icc": "centroid ICC",
}
"""Every metric key of the table and its column label."""

DEFAULT_ROW_METRICS = ("nss", "sauc", "cc", "kld", "ig", "multimatch", "sentence_nss", "sentence_sauc",
                       "centroid_icc")
LOWER_IS_BETTER = frozenset({"kld", "sentence_kld"})
ACCEPTED_STATES = ("positive", "uncertain")


@dataclass(frozen=True)
class MetricSummary:
    """Mean with a 95 % CI over ``n`` finite values (``values``: per unit, NaN where undefined)."""

    mean: float
    lo: float
    hi: float
    n: int
    values: tuple[float, ...] = field(default=(), repr=False, compare=False)


GazeTable = dict[str, dict[str, MetricSummary]]
"""predictor name -> metric key -> summary."""


def mean_ci(values: Sequence[float], level: float = 0.95) -> MetricSummary:
    """Mean of the finite values and its Student-t CI (NaN bounds for n < 2, NaN mean for n = 0)."""
    arr = np.asarray(values, dtype=np.float64)
    ok = arr[np.isfinite(arr)]
    if ok.size == 0:
        return MetricSummary(math.nan, math.nan, math.nan, 0, tuple(arr.tolist()))
    mean, half = stats_mean_ci(ok, level)
    return MetricSummary(mean, mean - half, mean + half, int(ok.size), tuple(arr.tolist()))


@dataclass(frozen=True, eq=False)
class GazeUnit:
    """One scored map: a reading's paragraph or one of its sentences, on the evaluation raster."""

    record: ImageRecord
    reading_id: str
    level: str  # "paragraph" | "sentence"
    text: str
    true_map: np.ndarray  # (rows, cols), max 1
    fixations: np.ndarray  # (n, 3) x, y (raster cells), duration s; time order
    findings: tuple[str, ...] = ()


def _operator(image_size: tuple[int, int], eval_side: int) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = eval_shape(image_size, eval_side)
    return pool_matrix(image_size[1], rows), pool_matrix(image_size[0], cols)


def gaze_units(records: Iterable[ImageRecord], options: HeatmapOptions | None = None,
               eval_side: int = EVAL_SIDE) -> list[GazeUnit]:
    """The paragraph and sentence units of every gaze reading of ``records`` (see the module doc)."""
    opts = options or HeatmapOptions()
    units: list[GazeUnit] = []
    empty = 0
    for rec in records:
        for reading in rec.gaze:
            w, h = reading.image_size
            rows, cols = eval_shape(reading.image_size, eval_side)
            kernels = fixation_kernels(reading, opts, _operator(reading.image_size, eval_side))
            if len(kernels) == 0:
                empty += 1
                continue
            fx, _ = filter_fixations(reading.fixations, reading.image_size, opts.margin_deg)
            pts = np.column_stack([fx.x * cols / w, fx.y * rows / h, fx.duration])
            order = np.argsort(fx.start, kind="stable")
            select = sentence_selection(kernels, reading, opts)
            maps = normalize_max(kernels.render(np.vstack([select, np.ones((1, len(kernels)), bool)])))
            texts = reading_texts(reading)
            units.append(GazeUnit(rec, reading.reading_id, "paragraph", texts[-1], maps[-1], pts[order]))
            for k, sentence in enumerate(reading.sentences):
                if not select[k].any():
                    continue
                found = tuple(c for c, s in mentioned_findings(sentence.text).items() if s in ACCEPTED_STATES)
                keep = order[select[k][order]]
                units.append(GazeUnit(rec, reading.reading_id, "sentence", sentence.text, maps[k], pts[keep], found))
    if empty:
        log.warning("gaze evaluation: skipped %d reading(s) with no fixation left after filtering", empty)
    return units


def _to_raster(m: Any, shape: tuple[int, int], name: str) -> np.ndarray:
    arr = np.asarray(m, dtype=np.float64)
    if arr.ndim != 2 or arr.size == 0:
        raise ValueError(f"predictor {name!r} returned a map of shape {arr.shape}, expected 2-D")
    if not np.all(np.isfinite(arr)) or arr.min() < 0:
        raise ValueError(f"predictor {name!r} returned NaN, infinite or negative values")
    if arr.shape != shape:
        arr = pool_matrix(arr.shape[0], shape[0]) @ arr @ pool_matrix(arr.shape[1], shape[1]).T
    return arr


def _other_fixations(units: Sequence[GazeUnit]) -> dict[str, np.ndarray]:
    """dicom_id -> (n, 2) relative positions of the fixations of every *other* image's readings."""
    rel: dict[str, list[np.ndarray]] = {}
    for u in units:
        if u.level == "paragraph":
            rows, cols = u.true_map.shape
            rel.setdefault(u.record.dicom_id, []).append(u.fixations[:, :2] / [cols, rows])
    out = {}
    for d in rel:
        others = [p for e, ps in rel.items() if e != d for p in ps]
        out[d] = np.vstack(others) if others else np.zeros((0, 2))
    return out


def _unit_scores(u: GazeUnit, pred: np.ndarray, base: np.ndarray | None, other: np.ndarray,
                 sauc_splits: int, max_scanpath: int, ior_frac: float, seed: int) -> dict[str, float]:
    rows, cols = pred.shape
    fix = fixation_map(u.fixations[:, 0], u.fixations[:, 1], (rows, cols))
    nan = math.nan
    out = {"nss": nss(pred, fix) if fix.any() else nan, "cc": cc(pred, u.true_map), "kld": kld(pred, u.true_map),
           "ig": information_gain(pred, fix, base) if fix.any() else nan, "sauc": nan}
    if len(other) and fix.any():
        neg = fixation_map(other[:, 0] * cols, other[:, 1] * rows, (rows, cols))
        out["sauc"] = auc_shuffled(pred, fix, neg, n_splits=sauc_splits, seed=seed) if neg.any() else nan
    if u.level == "paragraph":
        mm = [nan] * 5
        if len(u.fixations) >= 3 and pred.max() > 0:
            n = min(len(u.fixations), max_scanpath)
            path = np.asarray(sample_scanpath(pred, n, ior_frac * min(rows, cols), seed=seed))
            mm = list(multimatch(path, u.fixations, (cols, rows)).as_tuple())
        out.update(zip(("mm_vector", "mm_direction", "mm_length", "mm_position", "mm_duration"), mm))
        out["multimatch"] = float(np.mean(mm))
        return out
    return {f"sentence_{k}": v for k, v in out.items()}


def _finding_pairs(units: Sequence[GazeUnit], preds: Sequence[np.ndarray]) -> list[tuple[float, ...]]:
    """(pred x, pred y, true x, true y) relative centroids per (reading, finding)."""
    groups: dict[tuple[str, str, str], list[int]] = {}
    for i, u in enumerate(units):
        for f in u.findings:
            groups.setdefault((u.record.dicom_id, u.reading_id, f), []).append(i)
    pairs: list[tuple[float, ...]] = []
    for idx in groups.values():
        true = np.sum([units[i].true_map for i in idx], axis=0)
        kept = [preds[i] / preds[i].sum() for i in idx if preds[i].sum() > 0]
        if not kept:
            continue
        pred = np.sum(kept, axis=0)
        if pred.max() <= 0 or true.max() <= 0:
            continue
        rows, cols = true.shape
        (px, py), (tx, ty) = map_centroid(pred), map_centroid(true)
        pairs.append((px / cols, py / rows, tx / cols, ty / rows))
    return pairs


def _icc_of_pairs(pairs: np.ndarray) -> float:
    return icc_2_1(np.vstack([pairs[:, [0, 2]], pairs[:, [1, 3]]]))


def centroid_icc_ci(pairs: Sequence[tuple[float, ...]], n_boot: int = 1000, seed: int = 0,
                    level: float = 0.95) -> MetricSummary:
    """ICC(2,1) of (pred x, pred y, true x, true y) centroid pairs (x and y rows stacked, as
    :func:`cogaze.gaze.metrics.centroid_icc`) with a percentile bootstrap CI over pairs (n >= 3)."""
    arr = np.asarray(pairs, dtype=np.float64).reshape(-1, 4)
    if len(arr) < 3:
        return MetricSummary(math.nan, math.nan, math.nan, len(arr))
    point = _icc_of_pairs(arr)
    rng = np.random.default_rng(seed)
    boots = np.array([_icc_of_pairs(arr[rng.integers(0, len(arr), len(arr))]) for _ in range(n_boot)])
    boots = boots[np.isfinite(boots)]
    if boots.size == 0:
        return MetricSummary(point, math.nan, math.nan, len(arr))
    lo, hi = np.quantile(boots, [(1 - level) / 2, (1 + level) / 2])
    return MetricSummary(point, float(lo), float(hi), len(arr))


def evaluate_gaze(records: Iterable[ImageRecord], predictors: Mapping[str, Predictor], *,
                  baselines: bool = True, options: HeatmapOptions | None = None, eval_side: int = EVAL_SIDE,
                  ig_baseline: Predictor | None = None, sauc_splits: int = 100, max_scanpath: int = 50,
                  ior_radius_frac: float = 0.1, icc_boot: int = 1000, seed: int = 0) -> GazeTable:
    """Score each predictor (and, with ``baselines``, "centre bias" and "uniform") on the gaze
    readings of ``records`` (held-out ones: the caller picks them). Returns name -> metric -> summary.
    Raises ValueError when the records have no usable reading."""
    units = gaze_units(records, options, eval_side)
    if not units:
        raise ValueError("no gaze reading with a kept fixation to evaluate on")
    named = dict(predictors)
    if baselines:
        named.setdefault("centre bias", CentreBiasPredictor(eval_side=eval_side))
        named.setdefault("uniform", UniformPredictor(eval_side=eval_side))
    others = _other_fixations(units)
    table: GazeTable = {}
    progress = Progress(len(named) * len(units), "gaze evaluation map", every_s=10.0)
    for p_index, (name, predictor) in enumerate(named.items()):
        scores: dict[str, list[float]] = {}
        preds = []
        for u_index, u in enumerate(units):
            progress.step(p_index * len(units) + u_index, f"{name}")
            shape = u.true_map.shape
            pred = _to_raster(predictor(u.record, u.text), shape, name)
            base = None if ig_baseline is None else _to_raster(ig_baseline(u.record, u.text), shape, "ig_baseline")
            if base is None:
                base = centre_bias(shape)
            preds.append(pred)
            got = _unit_scores(u, pred, base, others[u.record.dicom_id], sauc_splits, max_scanpath,
                               ior_radius_frac, seed)
            for key in METRIC_LABELS:
                if key != "centroid_icc":
                    scores.setdefault(key, []).append(got.get(key, math.nan))
        row = {k: mean_ci(v) for k, v in scores.items()}
        row["centroid_icc"] = centroid_icc_ci(_finding_pairs(units, preds), icc_boot, seed)
        table[name] = row
    if time.perf_counter() - progress.start > 10:  # long runs end with a line; quick ones stay silent
        progress.step(len(named) * len(units), f"{len(named)} predictor(s) scored")
    return table


def _fmt(s: MetricSummary, decimals: int) -> str:
    return format_mean_ci(s.mean, s.lo, s.hi, decimals)


def gaze_table_rows(table: GazeTable, metrics: Sequence[str] = DEFAULT_ROW_METRICS,
                    decimals: int = 3) -> list[dict[str, str]]:
    """Rows for :meth:`cogaze.html.page.ReportPage.add_table`: one per predictor, "mean [95 % CI]"
    per metric column (labels from :data:`METRIC_LABELS`), plus the number of paragraph units."""
    rows = []
    for name, row in table.items():
        out = {"predictor": name}
        for key in metrics:
            if key not in METRIC_LABELS:
                raise ValueError(f"unknown gaze metric {key!r}; choose from {sorted(METRIC_LABELS)}")
            out[METRIC_LABELS[key]] = _fmt(row[key], decimals) if key in row else "n/a"
        out["readings"] = str(row["cc"].n) if "cc" in row else "0"
        rows.append(out)
    return rows
