"""Ground-truth regions for phrase grounding: which part of an image a sentence or finding is about.

Three sources, one record type (:class:`GroundingRegion`, coordinates in original-image pixels):

* the phantom's ``phantom/sentences.csv`` (one row per dictated sentence and reading; columns
  ``dicom_id, sentence_index, sentence, finding_index, finding, mask_key, regions, x1, y1, x2, y2``)
  with the finding masks ``phantom/masks/<dicom_id>.npz`` (key ``mask_key``):
  :func:`load_phantom_grounding`; only sentences about a finding are kept by default;
* REFLACX ``main_data/<reading id>/anomaly_location_ellipses.csv`` (columns ``xmin, ymin, xmax, ymax,
  certainty`` and one true/false column per REFLACX label, e.g. ``Pleural abnormality``; the ellipse
  is inscribed in the box), with image sizes and dicom ids from ``metadata_phase_*.csv``:
  :func:`load_reflacx_ellipses` (ellipses with certainty >= ``min_certainty``, default 3 = "possibly");
* MS-CXR-style box CSVs (``dicom_id, category_name, label_text, x, y, w, h, image_width,
  image_height``): :func:`load_box_csv`.

:func:`region_mask` rasterises a region on any raster covering the original image frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cogaze.data.csvio import Row, read_table
from cogaze.errors import DataError

REFLACX_ELLIPSE_COLUMNS = ("xmin", "ymin", "xmax", "ymax", "certainty")
REFLACX_LABEL_COLUMNS = (
    "Abnormal mediastinal contour", "Acute fracture", "Atelectasis", "Consolidation",
    "Enlarged cardiac silhouette", "Enlarged hilum", "Groundglass opacity", "Hiatal hernia",
    "High lung volume / emphysema", "Interstitial lung disease", "Lung nodule or mass",
    "Pleural abnormality", "Pneumothorax", "Pulmonary edema", "Support devices", "Quality issue", "Other",
    "Fibrosis", "Airway wall thickening", "Emphysema", "Mass", "Nodule", "Pleural effusion",
    "Pleural thickening", "Wide mediastinum", "Lung opacity",
)
"""Label columns REFLACX's ellipse files may carry (phase 1-2 and phase 3 names)."""
BOX_CSV_COLUMNS = ("dicom_id", "category_name", "label_text", "x", "y", "w", "h", "image_width", "image_height")
_TRUE = {"true", "1", "1.0", "yes", "t"}
_FALSE = {"false", "0", "0.0", "no", "f", ""}


@dataclass(frozen=True)
class GroundingRegion:
    """A region of one image that a text is about (original-image pixels, half-open box)."""

    dicom_id: str
    text: str
    """The sentence or phrase (MS-CXR ``label_text``; REFLACX: the label name)."""
    label: str
    """Finding / category name."""
    box: tuple[float, float, float, float]
    """(x0, y0, x1, y1)."""
    image_size: tuple[int, int] | None
    """(width, height) of the original image, when the source records it."""
    shape: str = "box"
    """"box", "ellipse" (inscribed in ``box``) or "mask" (``mask`` holds the pixels)."""
    mask: np.ndarray | None = None
    """(H, W) boolean mask at the original resolution (phantom findings)."""
    key: str = ""
    """Identity of the region on its image (phantom: the mask key; others: a row id); two regions
    with different keys are different findings."""
    reading_id: str = ""
    sentence_index: int = -1


def _box(row: Row, x0: str, y0: str, x1: str, y1: str) -> tuple[float, float, float, float]:
    box = (row.float(x0), row.float(y0), row.float(x1), row.float(y1))
    if box[2] <= box[0] or box[3] <= box[1]:
        raise row.error(f"empty box {box}")
    return box


def load_phantom_grounding(data_dir: str | Path, with_masks: bool = True,
                           findings_only: bool = True) -> list[GroundingRegion]:
    """Regions of the phantom's dictated sentences (one per dicom_id and sentence index), in file order.

    ``findings_only``: keep only sentences about a finding (with a mask key); the others describe an
    anatomical region (e.g. "no pneumothorax": both upper zones) and are kept with shape "box" when False.
    """
    root = Path(data_dir)
    path = root / "phantom" / "sentences.csv"
    table = read_table(path, required=("dicom_id", "sentence_index", "sentence", "finding", "mask_key",
                                       "x1", "y1", "x2", "y2"))
    masks: dict[str, dict[str, np.ndarray]] = {}
    out: list[GroundingRegion] = []
    seen: set[tuple[str, int]] = set()
    for row in table:
        dicom, index = row.id("dicom_id"), int(row.float("sentence_index"))
        key = row.get("mask_key")
        if (dicom, index) in seen or (findings_only and not key) or row.get("x1") == "":
            continue
        seen.add((dicom, index))
        mask = None
        if key and with_masks:
            if dicom not in masks:
                npz = root / "phantom" / "masks" / f"{dicom}.npz"
                if not npz.is_file():
                    raise DataError(f"mask file {npz.name} for line {row.line} not found", npz)
                with np.load(npz) as z:
                    masks[dicom] = {k: z[k].astype(bool) for k in z.files}
            if key not in masks[dicom]:
                raise row.error(f"mask_key {key!r} not in masks/{dicom}.npz")
            mask = masks[dicom][key]
        size = (int(mask.shape[1]), int(mask.shape[0])) if mask is not None else None
        out.append(GroundingRegion(dicom, row.get("sentence"), row.get("finding") or row.get("regions"),
                                   _box(row, "x1", "y1", "x2", "y2"), size,
                                   "mask" if mask is not None and mask.any() else "box", mask,
                                   key or f"regions:{row.get('regions')}", row.get("reading_id"), index))
    return out


def _flag(row: Row, column: str) -> bool:
    text = row.get(column).lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise row.error(f"column {column!r}: {text!r} is not true/false")


def load_reflacx_ellipses(root: str | Path, min_certainty: int = 3) -> list[GroundingRegion]:
    """One region per (ellipse, label) of every REFLACX reading with an ``anomaly_location_ellipses.csv``.

    ``root`` is the REFLACX folder (with ``main_data/``) or ``main_data`` itself; readings whose
    eye-tracking data was discarded still carry valid ellipses and are kept.
    """
    base = Path(root)
    main = base / "main_data" if (base / "main_data").is_dir() else base
    metas = sorted(main.glob("metadata_phase_*.csv"))
    if not metas:
        raise DataError("no main_data/metadata_phase_*.csv found", base)
    out: list[GroundingRegion] = []
    for meta in metas:
        for row in read_table(meta, required=("id", "dicom_id", "image_size_x", "image_size_y")):
            rid, dicom = row.get("id"), row.id("dicom_id")
            size = (int(row.float("image_size_x")), int(row.float("image_size_y")))
            path = main / rid / "anomaly_location_ellipses.csv"
            if not path.is_file():
                continue
            table = read_table(path, required=REFLACX_ELLIPSE_COLUMNS, optional=REFLACX_LABEL_COLUMNS)
            labels = [c for c in table.columns if c not in REFLACX_ELLIPSE_COLUMNS and c.lower() != "id"]
            for k, e in enumerate(table):
                certainty = e.float("certainty")
                if not 1 <= certainty <= 5:
                    raise e.error(f"certainty {certainty:g} is not in 1-5")
                if certainty < min_certainty:
                    continue
                box = _box(e, "xmin", "ymin", "xmax", "ymax")
                for label in labels:
                    if _flag(e, label):
                        out.append(GroundingRegion(dicom, label, label, box, size, "ellipse",
                                                   key=f"{rid}:{k}", reading_id=rid))
    return out


def load_box_csv(path: str | Path) -> list[GroundingRegion]:
    """MS-CXR-style phrase boxes: one region per row (several rows with one label_text = several boxes)."""
    table = read_table(path, required=BOX_CSV_COLUMNS)
    out = []
    for row in table:
        x, y, w, h = (row.float(c) for c in ("x", "y", "w", "h"))
        if w <= 0 or h <= 0:
            raise row.error(f"box width/height must be positive, got w={w:g} h={h:g}")
        size = (row.float("image_width"), row.float("image_height"))
        if min(size) <= 0 or any(v != int(v) for v in size):
            raise row.error(f"bad image size {size[0]:g} x {size[1]:g}")
        text = row.get("label_text")
        if not text:
            raise row.error("column 'label_text' is blank")
        out.append(GroundingRegion(row.id("dicom_id"), text, row.get("category_name"), (x, y, x + w, y + h),
                                   (int(size[0]), int(size[1])), "box", key=f"{row.id('dicom_id')}:{text}"))
    return out


def region_mask(region: GroundingRegion, shape: tuple[int, int], image_size: tuple[int, int] | None = None) -> np.ndarray:
    """(rows, cols) boolean mask of ``region`` on a raster covering the whole original image frame.

    A raster cell is inside when its centre, mapped to original pixels, falls in the box / ellipse
    (for "mask" regions: the nearest original pixel is set). A region smaller than one cell marks the
    cell holding its centre, so no region is lost at coarse rasters.
    """
    size = image_size or region.image_size
    if size is None:
        raise ValueError(f"region {region.key or region.text!r} of {region.dicom_id} has no image size")
    w, h = size
    rows, cols = shape
    xc = (np.arange(cols) + 0.5) * w / cols
    yc = (np.arange(rows) + 0.5) * h / rows
    x0, y0, x1, y1 = region.box
    if region.shape == "mask" and region.mask is not None:
        m = np.asarray(region.mask, dtype=bool)
        iy = np.clip((yc * m.shape[0] / h).astype(int), 0, m.shape[0] - 1)
        ix = np.clip((xc * m.shape[1] / w).astype(int), 0, m.shape[1] - 1)
        out = m[np.ix_(iy, ix)]
    elif region.shape == "ellipse":
        cx, cy, rx, ry = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2, (y1 - y0) / 2
        out = ((xc[None, :] - cx) / rx) ** 2 + ((yc[:, None] - cy) / ry) ** 2 <= 1.0
    else:
        out = ((xc[None, :] >= x0) & (xc[None, :] < x1)) & ((yc[:, None] >= y0) & (yc[:, None] < y1))
    if not out.any():
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        r = min(rows - 1, max(0, int(math.floor(cy * rows / h))))
        c = min(cols - 1, max(0, int(math.floor(cx * cols / w))))
        out = np.zeros(shape, dtype=bool)
        out[r, c] = True
    return out
