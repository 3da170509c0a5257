"""Phrase grounding of a pretrained encoder on a dataset: does each sentence's gaze map point at its region?

Ground truth from an MS-CXR-style box CSV, REFLACX ``anomaly_location_ellipses.csv`` files or the
phantom's sentence boxes; images and views from a cogaze dataset folder. The model is scored beside its
text-free map, the centre bias, a centre prior fitted on the training readings (when the dataset has
gaze) and the true gaze map (when the texts are dictated sentences). Metrics: docs/gaze_grounding.md.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cogaze.data.dataset import load_dataset
from cogaze.data.grounding import GroundingRegion, load_box_csv, load_phantom_grounding, load_reflacx_ellipses
from cogaze.data.images import image_size
from cogaze.data.records import ImageRecord
from cogaze.errors import ConfigError, DataError
from cogaze.explain.baselines import EVAL_SIDE, EncoderPredictor, GaussianPrior, eval_shape, fit_centre_prior
from cogaze.explain.evaluate_gaze import GazeTable
from cogaze.explain.evaluate_grounding import (
    TextFreePredictor,
    TrueGazePredictor,
    evaluate_grounding,
    grounding_table_rows,
    grounding_units,
)
from cogaze.gaze.metrics import centre_bias

log = logging.getLogger("cogaze")

ASPECT_TOLERANCE = 0.01
"""Largest relative difference between the width/height ratio a region file records and the image's."""


@dataclass(frozen=True)
class GroundingResult:
    """The grounding table of one run on one dataset, and what was (and was not) scored."""

    table: GazeTable
    source: str
    split: str
    sentences: int
    images: int
    regions_unmatched: int
    """Regions whose image is not among the evaluated records (other split, or not in the dataset)."""

    def rows(self) -> list[dict[str, str]]:
        """One row per predictor: "mean [95 % CI]" per metric and the number of sentences."""
        return grounding_table_rows(self.table)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: every predictor's metrics as mean, ci_low, ci_high, n."""
        return {"source": self.source, "split": self.split, "sentences": self.sentences, "images": self.images,
                "regions_unmatched": self.regions_unmatched,
                "table": {name: {k: {"mean": v.mean, "ci_low": v.lo, "ci_high": v.hi, "n": v.n} for k, v in row.items()}
                          for name, row in self.table.items()}}


def load_regions(data_dir: str | Path, boxes: str | Path | None = None, reflacx: str | Path | None = None,
                 min_certainty: int = 3) -> tuple[list[GroundingRegion], str]:
    """Ground-truth regions and a description of where they came from (one source; the phantom's
    sentence boxes when ``data_dir`` is a phantom and no other source is given)."""
    if boxes is not None and reflacx is not None:
        raise ConfigError("give one ground truth: a box CSV or a REFLACX folder, not both")
    if boxes is not None:
        return load_box_csv(boxes), f"box CSV {boxes}"
    if reflacx is not None:
        return load_reflacx_ellipses(reflacx, min_certainty), f"REFLACX ellipses under {reflacx} (certainty >= {min_certainty})"
    if (Path(data_dir) / "phantom" / "sentences.csv").is_file():
        return load_phantom_grounding(data_dir, with_masks=False), f"phantom sentence boxes in {data_dir}"
    raise ConfigError(f"{data_dir} is not a phantom: give the ground truth as an MS-CXR-style box CSV or a "
                      "REFLACX folder with anomaly_location_ellipses.csv files")


def _sized(regions: list[GroundingRegion], record: ImageRecord, where: str) -> list[GroundingRegion]:
    """Regions with the image's size where they carry none; a region drawn on an image of other
    proportions (a cropped or padded copy) is an error, a scaled copy is fine (coordinates are relative)."""
    if record.image_path is None:
        raise DataError(f"record {record.dicom_id} has no image file", where)
    w, h = image_size(record.image_path)
    out = []
    for g in regions:
        if g.image_size is None:
            out.append(dataclasses.replace(g, image_size=(w, h)))
            continue
        rw, rh = g.image_size
        if abs((rw / rh) / (w / h) - 1) > ASPECT_TOLERANCE:
            raise DataError(f"{g.dicom_id}: the regions were drawn on a {rw} x {rh} image, but "
                            f"{record.image_path} is {w} x {h} (other proportions: a cropped or padded copy?)", where)
        out.append(g)
    return out


@dataclass
class _FramePredictor:
    """A text-free prior drawn on each image's own evaluation raster (no gaze reading needed)."""

    density: Any
    sizes: dict[str, tuple[int, int]]
    eval_side: int = EVAL_SIDE

    def __call__(self, record: ImageRecord, text: str) -> np.ndarray:
        return self.density(eval_shape(self.sizes[record.dicom_id], self.eval_side))


def evaluate_run_grounding(encoder: Any, data_dir: str | Path, *, boxes: str | Path | None = None,
                           reflacx: str | Path | None = None, split: str = "test", min_certainty: int = 3,
                           eval_side: int = EVAL_SIDE, on_error: str = "raise",
                           records: Sequence[ImageRecord] | None = None) -> GroundingResult:
    """Score ``encoder``'s (:func:`cogaze.api.load_encoder`) sentence maps against the ground-truth regions of ``split`` ("all": every split).

    A text's region is the union of its boxes / ellipses on the image. Regions on images outside the
    split (or the dataset) are counted and logged, never scored; none left is an error.
    ``records``: the dataset's records when already loaded (else ``load_dataset(data_dir)``).
    """
    regions, source = load_regions(data_dir, boxes, reflacx, min_certainty)
    where = str(boxes or reflacx or data_dir)
    if not regions:
        raise DataError("no ground-truth region found", where)
    every = list(records) if records is not None else list(load_dataset(data_dir, on_error=on_error).records)  # type: ignore[arg-type]
    evaluated = {r.dicom_id: r for r in every if split == "all" or r.split == split}
    by_image: dict[str, list[GroundingRegion]] = {}
    for g in regions:
        by_image.setdefault(g.dicom_id, []).append(g)
    missing = {d: len(gs) for d, gs in by_image.items() if d not in evaluated}  # image -> regions not scored
    for d in missing:
        del by_image[d]
    unmatched = sum(missing.values())
    scope = "any split" if split == "all" else f"the {split} split"
    if not by_image:
        raise DataError(f"none of the {len(regions)} regions ({len(missing)} images) is on an image in {scope} "
                        f"of {data_dir} (first: {', '.join(sorted(missing)[:3])})", where)
    known = {r.dicom_id for r in every}
    absent = sorted(d for d in missing if d not in known)
    if absent:  # a different dataset, or images the loader skipped: worth a warning
        log.warning("%d regions are on %d images that %s does not hold; not scored (first: %s)",
                    sum(missing[d] for d in absent), len(absent), data_dir, ", ".join(absent[:3]))
    if len(missing) > len(absent):
        log.info("%d regions on %d images of other splits not scored (split 'all' scores every split)",
                 unmatched - sum(missing[d] for d in absent), len(missing) - len(absent))
    sized = [g for d, gs in by_image.items() for g in _sized(gs, evaluated[d], where)]
    recs = [evaluated[d] for d in by_image]
    units = grounding_units(recs, sized, eval_side)
    sizes = {g.dicom_id: g.image_size for g in sized if g.image_size is not None}
    model = EncoderPredictor(encoder, encoder.geometry, eval_side=eval_side)
    predictors: dict[str, Any] = {"CoGaze": model, "text-free map": TextFreePredictor(model),
                                  "centre bias": _FramePredictor(centre_bias, sizes, eval_side)}
    train = [r for r in every if r.split == "train" and r.has_gaze]
    if train:
        prior: GaussianPrior = fit_centre_prior(train, eval_side=eval_side)
        predictors["fitted prior"] = _FramePredictor(prior.density, sizes, eval_side)
    with_gaze = [r for r in recs if r.has_gaze]
    if with_gaze:
        truth = TrueGazePredictor(with_gaze, eval_side=eval_side)
        if any(truth(u.record, u.text).max() > 0 for u in units):  # the texts are dictated sentences
            predictors["true gaze (upper bound)"] = truth
    table = evaluate_grounding(units, predictors)
    return GroundingResult(table, source, split, len(units), len(recs), unmatched)
