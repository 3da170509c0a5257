"""Does a sentence's gaze map point at what the sentence is about? Phrase-grounding scores of gaze predictors.

A *grounding unit* is one (image, text, ground-truth region): a phantom sentence about a finding
(:func:`cogaze.data.grounding.load_phantom_grounding`), a REFLACX ellipse label or an MS-CXR phrase
box. Every predictor (``(record, text) -> map``, :mod:`cogaze.explain.baselines`) is scored per unit
on the evaluation raster (longer side ``eval_side``):

* ``pointing``: pointing game (peak inside the region); ``hit10``: share of the top 10 % area inside
  the region; ``cnr``: BioViL contrast-to-noise ratio; ``box_iou``: IoU of the thresholded map's box
  with the region's box (:mod:`cogaze.gaze.metrics.grounding`);
* text specificity: ``own_box`` = the map is higher inside the sentence's own region than inside
  another finding's non-overlapping region on the same image (units on images with two or more
  findings only); ``cc_text_free`` = correlation of the sentence map with the predictor's text-free
  map (``predictor(record, "")``; 1 = the text changes nothing); ``cc_sentences`` = mean correlation
  between the maps of the different texts of one image (one value per image).

Each metric is the mean over its units with a Student-t 95 % CI (:func:`mean_ci`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from cogaze.data.grounding import GroundingRegion, region_mask
from cogaze.data.records import ImageRecord
from cogaze.explain.baselines import EVAL_SIDE, Predictor, eval_shape
from cogaze.explain.evaluate_gaze import GazeTable, _fmt, _to_raster, gaze_units, mean_ci
from cogaze.gaze.heatmaps import HeatmapOptions
from cogaze.gaze.metrics import cc
from cogaze.gaze.metrics.grounding import box_iou, cnr, own_box_preference, pointing_game, top_k_hit_rate
from cogaze.logs import Progress

GROUNDING_LABELS: dict[str, str] = {
    "pointing": "pointing game", "hit10": "top-10% hit rate", "cnr": "CNR", "box_iou": "box IoU",
    "own_box": "own vs other box", "cc_text_free": "CC with text-free map", "cc_sentences": "CC between sentences",
}
"""Every grounding metric key and its column label (lower is better for the two CC columns)."""


@dataclass(frozen=True, eq=False)
class GroundingUnit:
    """One text on one image with its ground-truth region (and other findings' regions) on the raster."""

    record: ImageRecord
    text: str
    region: np.ndarray
    others: tuple[np.ndarray, ...]
    key: str


def _size(record: ImageRecord, region: GroundingRegion) -> tuple[int, int]:
    if region.image_size is not None:
        return region.image_size
    if record.gaze:
        return tuple(record.gaze[0].image_size)  # type: ignore[return-value]
    raise ValueError(f"no image size for {record.dicom_id}: the region and the record carry none")


def _disjoint(a: GroundingRegion, b: GroundingRegion) -> bool:
    return a.box[2] <= b.box[0] or b.box[2] <= a.box[0] or a.box[3] <= b.box[1] or b.box[3] <= a.box[1]


def grounding_units(records: Iterable[ImageRecord], regions: Iterable[GroundingRegion],
                    eval_side: int = EVAL_SIDE) -> list[GroundingUnit]:
    """Units for the regions whose dicom_id is among ``records`` (one per image and text).

    A text's region is the union of every region carrying that text on the image: an MS-CXR phrase
    with several boxes (e.g. bilateral effusions), a REFLACX label with several ellipses or several
    readers' ellipses. The other findings (for the own-vs-other score) are the regions of other texts
    and findings that overlap none of the text's own regions.
    """
    recs = {r.dicom_id: r for r in records}
    by_image: dict[str, list[GroundingRegion]] = {}
    for g in regions:
        if g.dicom_id in recs:
            by_image.setdefault(g.dicom_id, []).append(g)
    units = []
    for dicom, gs in by_image.items():
        rec = recs[dicom]
        by_text: dict[str, list[GroundingRegion]] = {}
        for g in gs:
            by_text.setdefault(g.text, []).append(g)
        for text, own in by_text.items():
            size = _size(rec, own[0])
            shape = eval_shape(size, eval_side)
            mask = np.zeros(shape, dtype=bool)
            for g in own:
                mask |= region_mask(g, shape, _size(rec, g))
            keys = {g.key for g in own}
            others = [o for o in gs if o.text != text and o.key not in keys and all(_disjoint(o, g) for g in own)]
            units.append(GroundingUnit(rec, text, mask,
                                       tuple(region_mask(o, shape, _size(rec, o)) for o in others), own[0].key))
    return units


@dataclass
class TrueGazePredictor:
    """The upper bound: the radiologist's own sentence map (paragraph map for the text-free call), from
    the records' readings; a text without a matching transcript sentence gets NaN scores (zero map)."""

    records: Sequence[ImageRecord]
    options: HeatmapOptions | None = None
    eval_side: int = EVAL_SIDE

    def __post_init__(self) -> None:
        self._maps: dict[tuple[str, str], np.ndarray] = {}
        for u in gaze_units(self.records, self.options, self.eval_side):
            key = (u.record.dicom_id, "" if u.level == "paragraph" else u.text)
            self._maps.setdefault(key, u.true_map)

    def __call__(self, record: ImageRecord, text: str) -> np.ndarray:
        m = self._maps.get((record.dicom_id, text or ""))
        if m is None:
            size = tuple(record.gaze[0].image_size) if record.gaze else (1, 1)
            return np.zeros(eval_shape(size, self.eval_side))  # type: ignore[arg-type]
        return m


@dataclass
class TextFreePredictor:
    """Any predictor called without its text (the map a model draws before reading the sentence)."""

    predictor: Predictor

    def __call__(self, record: ImageRecord, text: str) -> np.ndarray:
        return self.predictor(record, "")


def _score(pred: np.ndarray, u: GroundingUnit) -> dict[str, float]:
    if pred.max() <= 0:  # no map (e.g. no true gaze for this text): undefined, not a miss
        return dict.fromkeys(("pointing", "hit10", "cnr", "box_iou", "own_box"), math.nan)
    own = [own_box_preference(pred, u.region, o) for o in u.others]
    own = [v for v in own if math.isfinite(v)]
    return {"pointing": pointing_game(pred, u.region), "hit10": top_k_hit_rate(pred, u.region, 0.1),
            "cnr": cnr(pred, u.region), "box_iou": box_iou(pred, u.region),
            "own_box": float(np.mean(own)) if own else math.nan}


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    if a.std() == 0 or b.std() == 0:
        return 1.0 if np.allclose(a, b) or (a.std() == 0 and b.std() == 0) else math.nan
    return cc(a, b)


def evaluate_grounding(units: Sequence[GroundingUnit], predictors: Mapping[str, Predictor]) -> GazeTable:
    """name -> metric (:data:`GROUNDING_LABELS`) -> mean [95 % CI] over units (images for ``cc_sentences``)."""
    if not units:
        raise ValueError("no grounding unit to evaluate (no region on an evaluated image)")
    table: GazeTable = {}
    progress = Progress(len(predictors) * len(units), "grounding evaluation map", every_s=10.0)
    for p_index, (name, predictor) in enumerate(predictors.items()):
        scores: dict[str, list[float]] = {k: [] for k in GROUNDING_LABELS}
        per_image: dict[str, list[np.ndarray]] = {}
        free: dict[str, np.ndarray] = {}
        for u_index, u in enumerate(units):
            progress.step(p_index * len(units) + u_index, name)
            shape = u.region.shape
            pred = _to_raster(predictor(u.record, u.text), shape, name)
            for k, v in _score(pred, u).items():
                scores[k].append(v)
            d = u.record.dicom_id
            if d not in free:
                free[d] = _to_raster(predictor(u.record, ""), shape, name)
            scores["cc_text_free"].append(_corr(pred, free[d]) if pred.max() > 0 else math.nan)
            if pred.max() > 0:
                per_image.setdefault(d, []).append(pred)
        for maps in per_image.values():
            if len(maps) > 1:
                c = [_corr(maps[i], maps[j]) for i in range(len(maps)) for j in range(i + 1, len(maps))]
                scores["cc_sentences"].append(float(np.nanmean(c)))
        table[name] = {k: mean_ci(v) for k, v in scores.items()}
    if time.perf_counter() - progress.start > 10:  # long runs end with a line; quick ones stay silent
        progress.step(len(predictors) * len(units), f"{len(predictors)} predictor(s) scored")
    return table


def grounding_table_rows(table: GazeTable, decimals: int = 3) -> list[dict[str, str]]:
    """Rows for a page table: one per predictor, "mean [95 % CI]" per grounding metric, and n."""
    rows = []
    for name, row in table.items():
        out = {"predictor": name}
        for key, label in GROUNDING_LABELS.items():
            out[label] = _fmt(row[key], decimals) if key in row else "n/a"
        out["sentences"] = str(row["pointing"].n)
        rows.append(out)
    return rows
