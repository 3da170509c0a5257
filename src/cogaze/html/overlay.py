"""Gaze pictures: heatmap overlays on an X-ray, true-vs-predicted panels, scanpath drawings.

All functions take a grayscale uint8 (H, W) image (or RGB (H, W, 3)) and return RGB uint8 arrays,
ready for :meth:`cogaze.html.page.ReportPage.add_image_grid` or ``PIL.Image.fromarray(...).save``.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.colors import LinearSegmentedColormap
from PIL import Image, ImageDraw, ImageFont

from cogaze.data.geometry import unflatten_square

# A jet-like map without jet's dark ends: blue -> cyan -> green -> yellow -> red. Every colour on it
# has (max channel - min channel) = 1, so the colourfulness of an overlaid pixel is exactly
# alpha * 255, proportional to the heatmap intensity: the hottest location is the most coloured one.
GAZE_CMAP = LinearSegmentedColormap.from_list(
    "cogaze_gaze", [(0, 0, 1), (0, 1, 1), (0, 1, 0), (1, 1, 0), (1, 0, 0)], N=256
)


def _rgb(image: Any) -> np.ndarray:
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        raise ValueError(f"image must be uint8, got {arr.dtype}")
    if arr.ndim == 2:
        return np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim == 3 and arr.shape[2] == 3:
        return arr.copy()
    raise ValueError(f"image must have shape (H, W) or (H, W, 3), got {arr.shape}")


def resize_heatmap(heatmap: Any, height: int, width: int) -> np.ndarray:
    """``heatmap`` (any 2-D size, or a flat square patch grid) resized bilinearly to (height, width),
    negatives clipped to 0. Raises ValueError on NaN/inf or a shape that is not 2-D."""
    h = unflatten_square(np.asarray(heatmap, dtype=np.float32), "heatmap")
    if h.ndim != 2 or h.size == 0:
        raise ValueError(f"heatmap must be 2-D, got shape {h.shape}")
    if not np.all(np.isfinite(h)):
        raise ValueError("heatmap contains NaN or infinite values")
    resized = Image.fromarray(h, mode="F").resize((width, height), Image.Resampling.BILINEAR)
    return np.clip(np.asarray(resized, dtype=np.float32), 0.0, None)


def heatmap_overlay(image: Any, heatmap: Any, alpha_max: float = 0.65) -> np.ndarray:
    """Colour ``heatmap`` (resized to the image) over ``image``; alpha = alpha_max * intensity / max.

    An all-zero heatmap leaves the image uncoloured (returned as RGB).
    """
    if not 0.0 <= alpha_max <= 1.0:
        raise ValueError(f"alpha_max must lie in [0, 1], got {alpha_max}")
    base = _rgb(image)
    h = resize_heatmap(heatmap, base.shape[0], base.shape[1])
    peak = float(h.max())
    if peak <= 0.0:
        return base
    level = h / peak
    colour = GAZE_CMAP(level)[:, :, :3] * 255.0
    alpha = (alpha_max * level)[:, :, None]
    out = (1.0 - alpha) * base.astype(np.float32) + alpha * colour
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow < 10.1 or no FreeType: fixed bitmap font
        return ImageFont.load_default()


def _caption_strip(text: str, width: int, size: int) -> Image.Image:
    font = _font(size)
    chars = max(10, int(width / (0.55 * size)))
    lines = textwrap.wrap(text, chars) or [""]
    line_h = int(size * 1.35)
    strip = Image.new("RGB", (width, line_h * len(lines) + size), "white")
    draw = ImageDraw.Draw(strip)
    for i, line in enumerate(lines):
        draw.text((size // 2, size // 2 + i * line_h), line, fill=(20, 24, 32), font=font)
    return strip


def captioned(image: Any, caption: str) -> np.ndarray:
    """``image`` (uint8 RGB/grey) with ``caption`` wrapped in a white strip below it (never over the image)."""
    base = Image.fromarray(_rgb(image))
    size = max(14, min(28, base.width // 32))
    strip = _caption_strip(caption, base.width, size)
    full = Image.new("RGB", (base.width, base.height + strip.height), "white")
    full.paste(base, (0, 0))
    full.paste(strip, (0, base.height))
    return np.asarray(full)


def gaze_panel(image: Any, true_map: Any, pred_map: Any, sentence: str = "",
               labels: Sequence[str] = ("true gaze", "predicted"), alpha_max: float = 0.65) -> np.ndarray:
    """Side-by-side overlays (true | predicted), each labelled in a strip above it (never over the
    image), with ``sentence`` wrapped as a caption below."""
    left = heatmap_overlay(image, true_map, alpha_max)
    right = heatmap_overlay(image, pred_map, alpha_max)
    h, w = left.shape[:2]
    gap = max(4, w // 50)
    size = max(11, min(22, w // 18))
    head = int(size * 1.8)
    canvas = Image.new("RGB", (2 * w + gap, head + h), "white")
    canvas.paste(Image.fromarray(left), (0, head))
    canvas.paste(Image.fromarray(right), (w + gap, head))
    draw = ImageDraw.Draw(canvas)
    font = _font(size)
    for x0, label in ((0, labels[0]), (w + gap, labels[1])):
        draw.text((x0 + w // 2, head // 2), label, fill=(20, 24, 32), font=font, anchor="mm")
    if not sentence:
        return np.asarray(canvas)
    strip = _caption_strip(sentence, canvas.width, size)
    full = Image.new("RGB", (canvas.width, canvas.height + strip.height), "white")
    full.paste(canvas, (0, 0))
    full.paste(strip, (0, canvas.height))
    return np.asarray(full)


def draw_scanpath(image: Any, fixations: Sequence[tuple[float, float, float]], min_radius: float | None = None,
                  max_radius: float | None = None, colour: tuple[int, int, int] = (255, 196, 0),
                  numbered: bool = True) -> np.ndarray:
    """Draw fixations ``(x, y, duration)`` (image pixels, seconds) in order: lines joining them and a
    numbered circle at each, its radius growing with the duration (linearly between min and max)."""
    base = Image.fromarray(_rgb(image))
    w, h = base.size
    fix = np.asarray(list(fixations), dtype=float).reshape(-1, 3)
    if not np.all(np.isfinite(fix)):
        raise ValueError("fixations contain NaN or infinite values")
    if np.any(fix[:, 2] < 0):
        raise ValueError("fixation durations must be non-negative")
    if len(fix) == 0:
        return np.asarray(base)
    short = min(w, h)
    r_min = min_radius if min_radius is not None else max(3.0, short / 60)
    r_max = max_radius if max_radius is not None else max(r_min + 1.0, short / 18)
    d = fix[:, 2]
    span = float(d.max() - d.min())
    radii = r_min + (r_max - r_min) * ((d - d.min()) / span if span > 0 else np.full_like(d, 0.5))
    overlay = Image.new("RGBA", base.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    line_w = max(2, int(round(short / 110)))
    pts = [(float(x), float(y)) for x, y, _ in fix]
    if len(pts) > 1:  # a dark halo under the path keeps it visible on bright and dark regions
        draw.line(pts, fill=(0, 0, 0, 150), width=line_w + 2, joint="curve")
        draw.line(pts, fill=colour + (235,), width=line_w, joint="curve")
    font = _font(int(max(10, r_min * 1.8)))
    for i, ((x, y), r) in enumerate(zip(pts, radii), start=1):
        draw.ellipse((x - r - 1, y - r - 1, x + r + 1, y + r + 1), outline=(0, 0, 0, 190), width=1)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=colour + (140,), outline=colour + (255,), width=line_w)
        if numbered:
            draw.text((x, y), str(i), fill=(0, 0, 0, 255), font=font, anchor="mm",
                      stroke_width=2, stroke_fill=(255, 255, 255, 255))
    return np.asarray(Image.alpha_composite(base.convert("RGBA"), overlay).convert("RGB"))
