"""Upload checks run before a request reaches the model: size, type, pixel count (decompression bombs).

Everything is read from memory and from the file's header; no pixel is decoded here except that PNG
chunk checksums are verified (cheap, and a corrupt PNG never occupies the model). Full decoding (and
its errors: truncated JPEG data, broken DICOM pixel data) happens in :func:`cogaze.api.predict`, whose
non-"ok" status the app turns into a 422.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import PurePath

DICOM_SUFFIXES = (".dcm", ".dicom")
ACCEPTED = "DICOM, PNG or JPEG"


class UploadError(Exception):
    """A request the server refuses: HTTP ``status``, a machine-readable ``code`` and a message."""

    def __init__(self, status: int, code: str, detail: str):
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class CheckedUpload:
    """An upload that passed the checks: its bytes, display name, format and header size."""

    data: bytes
    name: str
    kind: str  # "dicom", "png" or "jpeg"
    width: int
    height: int
    frames: int = 1


def display_name(filename: str | None) -> str:
    """The base name of an uploaded file name (any folders dropped, at most 200 characters)."""
    base = PurePath((filename or "").replace("\\", "/")).name.strip()
    return (base or "upload")[:200]


def check_upload(data: bytes, filename: str | None, max_bytes: int, max_pixels: int) -> CheckedUpload:
    """Accept ``data`` as a DICOM, PNG or JPEG image within the limits, or raise :class:`UploadError`:
    400 empty, 413 over ``max_bytes`` or ``max_pixels``, 415 not one of the accepted image types,
    422 recognised but its header or PNG data are broken."""
    name = display_name(filename)
    if not data:
        raise UploadError(400, "empty_file", f"{name}: the uploaded file is empty")
    if len(data) > max_bytes:
        raise UploadError(413, "file_too_large", f"{name}: {len(data) / 2**20:.1f} MB is over the server's limit "
                          f"of {max_bytes / 2**20:.0f} MB (--max-upload-mb)")
    if data[128:132] == b"DICM" or PurePath(name).suffix.lower() in DICOM_SUFFIXES:
        checked = _check_dicom(data, name)
    else:
        checked = _check_pil(data, name, max_pixels)
    pixels = checked.width * checked.height * checked.frames
    if pixels > max_pixels:
        raise UploadError(413, "too_many_pixels", f"{name}: {checked.width} x {checked.height}"
                          f"{f' x {checked.frames} frames' if checked.frames > 1 else ''} = {pixels / 1e6:.1f} "
                          f"megapixels is over the server's limit of {max_pixels / 1e6:.0f} (--max-megapixels)")
    return checked


def _check_dicom(data: bytes, name: str) -> CheckedUpload:
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
    except (InvalidDicomError, OSError, EOFError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise UploadError(422, "undecodable", f"{name}: not a readable DICOM file ({err})") from None
    try:
        rows, cols = int(ds.Rows), int(ds.Columns)
        frames = int(ds.get("NumberOfFrames", 1) or 1) * int(ds.get("SamplesPerPixel", 1) or 1)
    except (AttributeError, TypeError, ValueError):
        raise UploadError(422, "undecodable", f"{name}: DICOM file without a valid image size (Rows/Columns); "
                          "is it an image?") from None
    if rows <= 0 or cols <= 0 or frames <= 0:
        raise UploadError(422, "undecodable", f"{name}: DICOM image size {cols} x {rows} x {frames} is empty")
    return CheckedUpload(data, name, "dicom", cols, rows, frames)


def _check_pil(data: bytes, name: str, max_pixels: int) -> CheckedUpload:
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limit decides
            img = Image.open(io.BytesIO(data))
            fmt, (width, height) = img.format, img.size
            if fmt == "PNG" and width * height <= max_pixels:
                Image.open(io.BytesIO(data)).verify()  # chunk CRCs and structure, no decoding
    except Image.DecompressionBombError as err:  # PIL's own hard limit, above ours by default
        raise UploadError(413, "too_many_pixels", f"{name}: {err}") from None
    except UnidentifiedImageError:
        raise UploadError(415, "not_an_image", f"{name}: not an image; send {ACCEPTED}") from None
    except (OSError, SyntaxError, ValueError, EOFError) as err:
        raise UploadError(422, "undecodable", f"{name}: corrupt or truncated image ({err})") from None
    if fmt not in ("PNG", "JPEG"):
        raise UploadError(415, "unsupported_image_type", f"{name}: {fmt} images are not accepted; send {ACCEPTED}")
    return CheckedUpload(data, name, fmt.lower(), width, height)
