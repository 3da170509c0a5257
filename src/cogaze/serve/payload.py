"""A :class:`cogaze.api.predict.Prediction` as the JSON the API returns: maps as PNG data URLs (grey,
peak = 255), overlays and the scanpath drawn with :mod:`cogaze.html.overlay` as JPEG data URLs, all at
the display size; coordinates stay in original-image pixels."""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from cogaze.html.images import array_png, png_data_uri
from cogaze.html.overlay import GAZE_CMAP, draw_scanpath, heatmap_overlay, resize_heatmap
from cogaze.serve.worker import BatchInfo


def jpeg_data_uri(rgb: np.ndarray, quality: int = 90) -> str:
    """A ``data:image/jpeg`` URI of a uint8 image (overlays: a tenth of the PNG's bytes and encode time)."""
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def display_image(image: np.ndarray, side: int) -> np.ndarray:
    """``image`` shrunk (aspect kept, Lanczos) so that its longer side is at most ``side``."""
    h, w = image.shape[:2]
    if max(h, w) <= side:
        return image
    scale = side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.LANCZOS))


def map_png_uri(heatmap: np.ndarray, height: int, width: int) -> str:
    """A heatmap resized to (height, width) and scaled so that its peak is 255, as a grey PNG data URI."""
    h = resize_heatmap(heatmap, height, width)
    peak = float(h.max())
    grey = np.zeros(h.shape, np.uint8) if peak <= 0 else np.round(h * (255.0 / peak)).astype(np.uint8)
    return png_data_uri(array_png(grey))


def legend_stops(n: int = 11) -> list[str]:
    """Colours of the overlay colour map (low -> high) as CSS hex strings, for the page's legend."""
    rgba = GAZE_CMAP(np.linspace(0.0, 1.0, n))
    return ["#" + "".join(f"{round(float(c) * 255):02x}" for c in row[:3]) for row in rgba]


def _number(value: Any, digits: int = 4) -> float | None:
    x = float(value)
    return round(x, digits) if math.isfinite(x) else None


def _map_entry(heatmap: np.ndarray | None, base: np.ndarray) -> dict[str, str] | None:
    if heatmap is None:
        return None
    h, w = base.shape[:2]
    return {"map": map_png_uri(heatmap, h, w), "overlay": jpeg_data_uri(heatmap_overlay(base, heatmap))}


@lru_cache(maxsize=512)
def thumbnail_uri(path: str, side: int = 192) -> str | None:
    """A similar case's image as a small PNG data URI (None when it cannot be read)."""
    from cogaze.data.images import read_image
    from cogaze.errors import CogazeError

    if not path or not Path(path).is_file():
        return None
    try:
        return png_data_uri(array_png(read_image(path), max_side=side))
    except (CogazeError, OSError, ValueError):
        return None


def prediction_json(pred: Any, batch: BatchInfo | None = None, display_side: int = 512,
                    thumbnail: Callable[[str], str | None] = thumbnail_uri) -> dict[str, Any]:
    """The API's JSON for one successful prediction (``pred.status == "ok"``)."""
    out: dict[str, Any] = {"name": pred.name, "status": pred.status, "view": pred.view, "report": pred.report,
                           "notes": list(getattr(pred, "notes", []) or [])}
    image = pred.image
    base = display_image(image, display_side) if image is not None else None
    if image is not None and base is not None:
        out.update(width=int(image.shape[1]), height=int(image.shape[0]),
                   image=png_data_uri(array_png(base)))
    sentences = []
    for s in pred.sentences:
        entry: dict[str, Any] = {"text": s.text, "findings": list(s.findings),
                                 "finding_states": dict(getattr(s, "finding_states", {}) or {}),
                                 "peak": [_number(s.peak[0], 1), _number(s.peak[1], 1)]}
        if base is not None:
            entry.update(_map_entry(s.map, base) or {})
        sentences.append(entry)
    out["sentences"] = sentences
    out["text_free"] = _map_entry(pred.text_free_map, base) if base is not None else None
    out["scanpath"] = [[_number(x, 1), _number(y, 1), _number(d, 3)] for x, y, d in pred.scanpath]
    if base is not None and image is not None and pred.scanpath:
        scale = base.shape[1] / image.shape[1]
        scaled = [(x * scale, y * scale, d) for x, y, d in pred.scanpath]
        out["scanpath_image"] = jpeg_data_uri(draw_scanpath(base, scaled))
    out["diseases"] = {k: _number(v) for k, v in pred.diseases.items()}
    out["similar_cases"] = [{"id": str(c.get("id", "")), "score": _number(c.get("score", float("nan"))),
                             "report": str(c.get("report", "")), "subject": None if c.get("subject") is None else str(c["subject"]),
                             "image": thumbnail(str(c["image"])) if c.get("image") else None}
                            for c in pred.similar_cases]
    timings = {k: _number(v) for k, v in pred.timings.items()}
    if batch is not None:
        timings.update(queue=_number(batch.queue_s), batch_size=batch.batch_size, model=_number(batch.model_s))
    out["timings"] = timings
    return out
