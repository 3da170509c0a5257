"""One image-reading function for JPG/PNG (Pillow) and DICOM (pydicom): 2-D uint8 grayscale.

DICOM handling (spec 1.6, with its [REC] MONOCHROME1 fix): modality LUT (rescale slope/intercept),
then the VOI LUT sequence or the first window centre/width when present (pydicom's
``apply_voi_lut``; its output range is mapped to 0..255), else a min-max scaling of the stored
values to 0..255 (spec 1.6), then inversion for
MONOCHROME1 (where high values are dark). 12- to 16-bit data are thereby brought to 8 bits.

:func:`read_image_scaled` is the fast path for model input: a JPEG is decoded with libjpeg's DCT
scaling (1/2, 1/4 or 1/8 of its size, see :data:`DRAFT_OVERSAMPLE`) instead of at full size; the
exact bicubic resize then runs on far fewer pixels (``cogaze.data.pixels``).
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from cogaze.errors import DataError

DICOM_SUFFIXES = (".dcm", ".dicom")
MIN_IMAGE_SIDE = 16
"""Images with a shorter side below this many pixels are refused as model input (a 1x1 'image' is a broken
export, not an X-ray) and flagged by ``cogaze data validate``."""
DECODE_PIXEL_LIMIT = 89_478_485
"""Pillow's ``Image.MAX_IMAGE_PIXELS``; files above twice it are refused as decompression bombs."""


def _to_uint8(arr: np.ndarray) -> np.ndarray:
    """Min-max scale any numeric array to uint8 0..255 (a constant image becomes 0)."""
    arr = np.asarray(arr, dtype=np.float64)
    lo, hi = float(np.min(arr)), float(np.max(arr))
    if hi <= lo:
        return np.zeros(arr.shape, dtype=np.uint8)
    return np.round((arr - lo) * (255.0 / (hi - lo))).astype(np.uint8)


def _read_dicom(path: Path) -> np.ndarray:
    return _decode_dicom(path, path)[0]


def _decode_dicom(source: Path | BinaryIO, path: str | Path) -> tuple[np.ndarray, Any]:
    """(uint8 image, the pydicom dataset) of a DICOM file or stream; ``path`` names it in errors."""
    import pydicom
    from pydicom.errors import InvalidDicomError
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    try:
        ds = pydicom.dcmread(source)
    except (InvalidDicomError, OSError, EOFError, ValueError, KeyError, TypeError) as err:
        raise DataError(f"not a readable DICOM file: {err}", path) from None
    if "PixelData" not in ds:
        raise DataError("DICOM file has no pixel data", path)
    pixels = int(ds.get("Rows", 0) or 0) * int(ds.get("Columns", 0) or 0)
    if pixels > 2 * DECODE_PIXEL_LIMIT:  # the limit Pillow applies to JPG/PNG files
        raise DataError(f"image too large to decode safely: {ds.Columns}x{ds.Rows} = {pixels:,} pixels exceeds "
                        f"{2 * DECODE_PIXEL_LIMIT:,}", path)
    try:
        arr = ds.pixel_array
    except Exception as err:  # pydicom raises many types (missing decoder plugins, truncated data)
        raise DataError(f"cannot decode DICOM pixel data: {err}", path) from None
    if arr.ndim == 3 and getattr(ds, "SamplesPerPixel", 1) == 1:
        arr = arr[0]  # multi-frame: first frame
    if arr.ndim != 2:
        raise DataError(f"expected a single-channel 2-D image, got shape {arr.shape}", path)
    try:
        arr = apply_modality_lut(arr, ds)
        out_range = _voi_output_range(ds)
        if out_range is not None:
            arr = apply_voi_lut(arr, ds, index=0)
    except Exception as err:  # malformed LUT / window elements
        raise DataError(f"bad modality/VOI LUT elements: {err}", path) from None
    if out_range is None:
        out = _to_uint8(arr)
    else:  # the VOI output range maps to 0..255, so the window (not the image content) sets contrast
        lo, hi = out_range
        out = np.round(np.clip((np.asarray(arr, dtype=np.float64) - lo) / (hi - lo), 0, 1) * 255)
        out = out.astype(np.uint8)
    if str(getattr(ds, "PhotometricInterpretation", "MONOCHROME2")).strip() == "MONOCHROME1":
        out = 255 - out
    return out, ds


def _voi_output_range(ds) -> tuple[float, float] | None:
    """Value range pydicom's VOI transform maps into (PS3.3 C.11.2), or None without VOI data."""
    if "VOILUTSequence" in ds:
        bits = int(ds.VOILUTSequence[0].LUTDescriptor[2])
        return 0.0, float(2**bits - 1)
    if "WindowCenter" not in ds or "WindowWidth" not in ds:
        return None
    bits = int(ds.BitsStored)
    if ds.get("ModalityLUTSequence"):
        lo, hi = 0.0, float(2 ** int(ds.ModalityLUTSequence[0].LUTDescriptor[2]) - 1)
    elif int(ds.PixelRepresentation) == 0:
        lo, hi = 0.0, float(2**bits - 1)
    else:
        lo, hi = float(-(2 ** (bits - 1))), float(2 ** (bits - 1) - 1)
    if "RescaleSlope" in ds and "RescaleIntercept" in ds:
        slope, intercept = float(ds.RescaleSlope), float(ds.RescaleIntercept)
        lo, hi = lo * slope + intercept, hi * slope + intercept
    return lo, hi


def _pil_array(img) -> np.ndarray:  # noqa: ANN001 - an open PIL image
    img.load()
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        return _to_uint8(np.asarray(img))
    return np.asarray(img.convert("L"), dtype=np.uint8).copy()


def _pil_errors() -> tuple[type[BaseException], ...]:
    """What Pillow raises for files it cannot or will not decode (a decompression bomb included)."""
    from PIL import Image, UnidentifiedImageError

    return UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError


def _pil_error(err: BaseException, path: str | Path) -> DataError:
    from PIL import Image

    if isinstance(err, Image.DecompressionBombError):
        return DataError(f"image too large to decode safely: {err}", path)
    return DataError(f"corrupt or unreadable image: {err}", path)


def _read_pil(path: Path | BinaryIO, name: str | Path | None = None) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(path) as img:
            return _pil_array(img)
    except _pil_errors() as err:
        raise _pil_error(err, name if name is not None else path) from None  # type: ignore[arg-type]


DRAFT_OVERSAMPLE = 2
"""A DCT-scaled JPEG decode keeps at least this many times the resize target's pixels per side.

Measured on a 2544 x 3056 JPEG with hard edges (text, wires) resized to 518 px: decoding at the
smallest scale >= the target (factor 1) differs from a full decode by 0.9 grey levels on average and
29 at worst, and 2x (1/2 scale) by 0.25 and 7, at 24 instead of 19 ms; the bicubic antialiasing then
does most of the reduction. tests/test_pixels.py holds the tolerance.
"""


def read_image_scaled(path: str | Path, shortest_edge: int | None,
                      oversample: int = DRAFT_OVERSAMPLE) -> tuple[np.ndarray, tuple[int, int]]:
    """(uint8 (h, w) image, the file's full (width, height)): :func:`read_image`, except that a JPEG
    is decoded at the smallest DCT scale (1/2, 1/4, 1/8) whose size stays >= ``oversample`` times its
    resize with the shortest edge to ``shortest_edge``. Other formats, ``shortest_edge=None`` and images
    not larger than that decode at full size."""
    path = Path(path)
    if shortest_edge is None or path.suffix.lower() in DICOM_SUFFIXES or not path.is_file() \
            or _has_dicom_preamble(path):
        arr = read_image(path)
        return arr, (int(arr.shape[1]), int(arr.shape[0]))
    from PIL import Image

    try:
        with Image.open(path) as img:
            width, height = int(img.size[0]), int(img.size[1])
            if img.format == "JPEG" and min(width, height) > 0:
                scale = oversample * shortest_edge / min(width, height)
                img.draft(img.mode, (math.ceil(width * scale), math.ceil(height * scale)))
            return _pil_array(img), (width, height)
    except _pil_errors() as err:
        raise _pil_error(err, path) from None


def read_image(path: str | Path) -> np.ndarray:
    """Read a JPG/PNG/DICOM file as a 2-D uint8 grayscale array (H, W).

    Files with a ``.dcm``/``.dicom`` suffix, or starting with the DICOM preamble, go through
    pydicom; everything else through Pillow. Raises DataError naming the file when it is missing,
    truncated or corrupt.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError("image file not found", path)
    if path.suffix.lower() in DICOM_SUFFIXES or _has_dicom_preamble(path):
        return _read_dicom(path)
    return _read_pil(path)


def image_size(path: str | Path) -> tuple[int, int]:
    """(width, height) of an image without decoding its pixels where the format allows."""
    path = Path(path)
    if not path.is_file():
        raise DataError("image file not found", path)
    if path.suffix.lower() in DICOM_SUFFIXES or _has_dicom_preamble(path):
        import pydicom

        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
            return int(ds.Columns), int(ds.Rows)
        except Exception as err:  # any parse failure of the header
            raise DataError(f"not a readable DICOM file: {err}", path) from None
    from PIL import Image

    try:
        with Image.open(path) as img:
            return img.size
    except _pil_errors() as err:
        raise _pil_error(err, path) from None


def _has_dicom_preamble(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            head = handle.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:132] == b"DICM"


@dataclass(frozen=True)
class DecodedImage:
    """An image as :func:`decode_image` reads it: the uint8 (H, W) grey pixels and, for a DICOM file, its
    header's ViewPosition (None for PNG/JPG or when the header has none)."""

    pixels: np.ndarray
    header_view: str | None = None
    is_dicom: bool = False

    def view(self) -> tuple[str, str | None]:
        """The header's view as a known view position, else UNKNOWN, with a note when the header holds a
        value that is no known view (None otherwise)."""
        from cogaze.data.records import parse_view

        try:
            return parse_view(self.header_view), None
        except ValueError:
            return "UNKNOWN", f"DICOM ViewPosition {self.header_view!r} is no known view: UNKNOWN used"


def decode_image(source: str | Path | bytes, name: str | None = None) -> DecodedImage:
    """Read a JPG/PNG/DICOM file, or the raw bytes of one (an upload), like :func:`read_image`, and keep the
    DICOM ViewPosition. DICOM is recognised by a ``.dcm``/``.dicom`` suffix of ``name`` (or the path) or the
    DICOM preamble. DataError naming ``name`` (default: the path) when it cannot be read."""
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
        label = name or "<upload>"
        if not data:
            raise DataError("empty file", label)
        if Path(label).suffix.lower() in DICOM_SUFFIXES or data[128:132] == b"DICM":
            arr, ds = _decode_dicom(io.BytesIO(data), label)
            return DecodedImage(arr, _header_view(ds), True)
        return DecodedImage(_read_pil(io.BytesIO(data), label))
    path = Path(source)
    label = name or str(path)
    if not path.is_file():
        raise DataError("image file not found", label)
    if path.suffix.lower() in DICOM_SUFFIXES or _has_dicom_preamble(path):
        arr, ds = _decode_dicom(path, label)
        return DecodedImage(arr, _header_view(ds), True)
    return DecodedImage(_read_pil(path, label))


def _header_view(ds: Any) -> str | None:
    value = ds.get("ViewPosition", None)
    text = "" if value is None else str(value).strip()
    return text or None
