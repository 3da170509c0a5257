"""PNG encoding for report pages: matplotlib figures and image arrays to PNG bytes and data URIs.

Figures are rendered with the Agg canvas (no display, no pyplot global state), so this works on a
headless machine and never leaks figures.
"""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
"""The eight bytes every PNG file starts with."""


def new_figure(width: float = 6.4, height: float = 4.0, dpi: int = 110) -> Figure:
    """A matplotlib Figure bound to the Agg canvas (independent of pyplot and its backend)."""
    fig = Figure(figsize=(width, height), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def figure_png(fig: Figure, dpi: int | None = None) -> bytes:
    """Render ``fig`` to PNG bytes with the Agg canvas."""
    if not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi or fig.dpi, facecolor="white")
    return buf.getvalue()


def as_uint8_image(array: Any) -> np.ndarray:
    """An image array as uint8, shape (H, W) or (H, W, 3|4).

    uint8 input is kept; float input must lie in [0, 1] and is scaled to 0..255; bool becomes 0/255.
    Raises ValueError on other shapes, non-finite values or floats outside [0, 1].
    """
    arr = np.asarray(array)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)):
        raise ValueError(f"image array must have shape (H, W), (H, W, 3) or (H, W, 4), got {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"image array is empty: shape {arr.shape}")
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == bool:
        return arr.astype(np.uint8) * 255
    if np.issubdtype(arr.dtype, np.integer):
        if arr.min() < 0 or arr.max() > 255:
            raise ValueError(f"integer image values must lie in 0..255, got {arr.min()}..{arr.max()}")
        return arr.astype(np.uint8)
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError("image array contains NaN or infinite values")
    if arr.min() < 0.0 or arr.max() > 1.0:
        raise ValueError(f"float image values must lie in [0, 1], got {arr.min():.3g}..{arr.max():.3g}")
    return np.round(arr * 255.0).astype(np.uint8)


def array_png(array: Any, max_side: int | None = None) -> bytes:
    """Encode an image array (see :func:`as_uint8_image`) as PNG bytes, first shrunk (aspect kept,
    Lanczos) so that its longer side is at most ``max_side`` pixels when given."""
    img = Image.fromarray(as_uint8_image(array))
    if max_side is not None and max(img.size) > max_side:
        scale = max_side / max(img.size)
        img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=False)
    return buf.getvalue()


def to_png(obj: Figure | bytes | np.ndarray, max_side: int | None = None) -> bytes:
    """PNG bytes of a matplotlib Figure, an image array (shrunk to ``max_side`` when given), or PNG
    bytes (checked and passed through)."""
    if isinstance(obj, Figure):
        return figure_png(obj)
    if isinstance(obj, (bytes, bytearray, memoryview)):
        data = bytes(obj)
        if not data.startswith(PNG_SIGNATURE):
            raise ValueError("bytes given as a figure are not a PNG (bad signature)")
        return data
    if isinstance(obj, np.ndarray):
        return array_png(obj, max_side)
    raise TypeError(f"expected a matplotlib Figure, PNG bytes or an image array, got {type(obj).__name__}")


def png_data_uri(png: bytes) -> str:
    """A ``data:image/png;base64,...`` URI embedding ``png`` (keeps the page self-contained)."""
    if not png.startswith(PNG_SIGNATURE):
        raise ValueError("not PNG data (bad signature)")
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def format_png_img(png: bytes, alt: str, css_class: str | None = None) -> str:
    """An ``<img>`` element embedding ``png`` as a data URI, with its pixel size and escaped alt text."""
    from html import escape

    width = int.from_bytes(png[16:20], "big")  # IHDR: width then height, big-endian, after signature
    height = int.from_bytes(png[20:24], "big")
    cls = f' class="{escape(css_class)}"' if css_class else ""
    return (f'<img{cls} src="{png_data_uri(png)}" alt="{escape(alt)}" width="{width}" height="{height}">')
