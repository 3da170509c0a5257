"""Downstream sets from a cogaze dataset folder (the phantom, or MIMIC-CXR for classification).

- :func:`classification_items`: the frontal images of one split with their binarised CheXbert labels
  (all 14 or a chosen subset), reports and context, through the encoder's image geometry.
- :func:`segmentation_items`: the frontal images of one split with the mask of one finding: the union
  of that finding's ``finding_XX`` arrays in ``phantom/masks/<dicom_id>.npz`` (which arrays belong to
  which finding is listed in ``phantom/boxes.csv``), taken through the SAME geometry as the image
  (``ImageGeometry.transform_mask``). Images without that finding get an empty mask.

So every downstream task runs offline on the phantom (``cogaze data phantom``).
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from cogaze.data.geometry import ImageGeometry
from cogaze.data.pixels import ModelImages
from cogaze.data.records import CHEXPERT_CLASSES, ImageRecord, RecordSet
from cogaze.data.store import ImageStore
from cogaze.errors import ConfigError, DataError
from cogaze.tasks.items import ImageItems

FRONTAL_VIEWS: tuple[str, ...] = ("PA", "AP")
"""Views kept for downstream sets (spec: frontal images only)."""


def _norm(name: str) -> str:
    return " ".join(name.replace("_", " ").lower().split())


def resolve_class_names(names: Sequence[str] | None) -> tuple[str, ...]:
    """CheXbert class names (case-insensitive) -> canonical spelling; all 14 when ``names`` is empty."""
    if not names:
        return tuple(CHEXPERT_CLASSES)
    by_norm = {_norm(c): c for c in CHEXPERT_CLASSES}
    unknown = [n for n in names if _norm(n) not in by_norm]
    if unknown:
        raise ConfigError(f"unknown finding(s) {unknown}; CheXbert observations are {list(CHEXPERT_CLASSES)}")
    return tuple(by_norm[_norm(n)] for n in names)


def frontal_split(records: RecordSet, split: str) -> list[ImageRecord]:
    """Frontal (PA/AP) records of ``split`` ('train', 'val' or 'test'); DataError when there are none."""
    chosen = [r for r in records.split(split) if r.view in FRONTAL_VIEWS]
    if not chosen:
        raise DataError(f"split {split!r} has no frontal (PA/AP) images")
    return chosen


def geometry_preprocess(geometry: ImageGeometry):
    """uint8 (H, W) image -> float (3, S, S) tensor with ``geometry``."""

    def preprocess(image: np.ndarray) -> Tensor:
        return torch.from_numpy(geometry.transform_image(image))

    return preprocess


def classification_items(records: RecordSet, geometry: ImageGeometry, split: str,
                         class_names: Sequence[str] | None = None, store: ImageStore | None = None) -> ImageItems:
    """Frontal images of ``split`` labelled with ``class_names`` (default: the 14 CheXbert classes), read
    from their files (DCT-scaled JPEG decode) or a prepared image ``store``."""
    names = resolve_class_names(class_names)
    return ImageItems.from_records(frontal_split(records, split), None, names, name=f"{split} ({len(names)} classes)",
                                   images=ModelImages(geometry, store))


def phantom_dir(data_dir: str | Path) -> Path:
    """``DATA_DIR/phantom`` (ground truth of a phantom folder); DataError when it is not one."""
    path = Path(data_dir) / "phantom"
    if not (path / "boxes.csv").is_file():
        raise DataError(f"{path / 'boxes.csv'} not found: segmentation needs a phantom dataset folder "
                        "(`cogaze data phantom OUT`)")
    return path


def finding_mask_keys(data_dir: str | Path) -> dict[str, dict[str, list[str]]]:
    """``{finding: {dicom_id: [mask keys]}}`` from ``phantom/boxes.csv``."""
    path = phantom_dir(data_dir) / "boxes.csv"
    out: dict[str, dict[str, list[str]]] = {}
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = {"dicom_id", "finding", "mask_key"} - set(reader.fieldnames or ())
        if missing:
            raise DataError(f"missing column(s) {sorted(missing)}", path)
        for line, row in enumerate(reader, start=2):
            if not row["dicom_id"] or not row["finding"] or not row["mask_key"]:
                raise DataError(f"line {line}: empty dicom_id, finding or mask_key", path)
            out.setdefault(row["finding"], {}).setdefault(row["dicom_id"], []).append(row["mask_key"])
    return out


def load_finding_mask(npz_path: Path, keys: Sequence[str], shape: tuple[int, int]) -> np.ndarray:
    """Union of the arrays ``keys`` in ``npz_path`` as a uint8 (H, W) mask (zeros when ``keys`` is empty)."""
    if not npz_path.is_file():
        raise DataError(f"mask file not found: {npz_path}")
    mask = np.zeros(shape, dtype=bool)
    try:
        with np.load(npz_path, allow_pickle=False) as archive:
            for key in keys:
                if key not in archive.files:
                    raise DataError(f"mask file has no array {key!r} (arrays: {archive.files})", npz_path)
                arr = np.asarray(archive[key]).astype(bool)
                if arr.shape != shape:
                    raise DataError(f"array {key!r} has shape {arr.shape}, the image is {shape}", npz_path)
                mask |= arr
    except (OSError, ValueError) as err:
        raise DataError(f"unreadable mask file ({err})", npz_path) from None
    return mask.astype(np.uint8)


def segmentation_items(data_dir: str | Path, records: RecordSet, geometry: ImageGeometry, split: str,
                       finding: str, store: ImageStore | None = None) -> ImageItems:
    """Frontal images of ``split`` with the (1, S, S) mask of ``finding`` (same geometry as the image).

    The single label column is 1 where the mask is non-empty. Every image's mask file must exist
    (DataError naming the first missing one).
    """
    (name,) = resolve_class_names([finding])
    masks_dir = phantom_dir(data_dir) / "masks"
    per_finding = finding_mask_keys(data_dir)
    keys = per_finding.get(name, {})
    chosen = frontal_split(records, split)
    for record in chosen:
        if not (masks_dir / f"{record.dicom_id}.npz").is_file():
            raise DataError(f"mask file not found: {masks_dir / (record.dicom_id + '.npz')}")
    images = ModelImages(geometry, store)

    def load(i: int) -> tuple[Tensor, Tensor | None]:
        record = chosen[i]
        image, lay = images.u8(record.dicom_id, record.image_path)
        mask = load_finding_mask(masks_dir / f"{record.dicom_id}.npz", keys.get(record.dicom_id, []),
                                 (lay.height, lay.width))
        return (torch.from_numpy(geometry.normalise(image)),
                torch.from_numpy(geometry.transform_mask(mask)).float()[None])

    labels = np.array([[int(record.dicom_id in keys)] for record in chosen], dtype=np.int64)
    return ImageItems(
        ids=[r.dicom_id for r in chosen], labels=labels, class_names=(name,), load=load,
        views=[r.view for r in chosen], contexts=[r.indication.strip() for r in chosen],
        histories=[r.history.strip() for r in chosen], name=f"{split} segmentation ({name})",
    )


__all__ = [
    "FRONTAL_VIEWS",
    "classification_items",
    "finding_mask_keys",
    "frontal_split",
    "load_finding_mask",
    "phantom_dir",
    "resolve_class_names",
    "segmentation_items",
]
