"""Write an explanation to a folder: heatmap overlays (PNG), a scanpath drawing and a JSON summary.

Files (all written atomically: temp file in the folder, then ``os.replace``):

* ``map_00.png``, ``map_01.png``, ...: one overlay per prediction (``cogaze.html.overlay``) with its
  sentence (or "text-free map") as a caption below the image, the image scaled so that its longer side
  is between ``min_side`` and ``max_side`` pixels (small images are enlarged to stay legible);
* ``scanpath.png`` when a scanpath is given;
* ``explanation.json``: ``image_size``, ``view``, ``temperature``, and per map its ``text``,
  ``findings``, ``peak`` (x, y original pixels), ``crop_box``, ``grid`` (a ``summary_side`` square
  of probabilities over the original image frame, rows top to bottom, sum 1), ``file``; the
  ``scanpath`` as a list of ``[x, y, duration_s]``; ``files``: every file written, JSON included.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from cogaze.explain.predict import GazePrediction, GroundedSentence
from cogaze.explain.scanpath import Fixation
from cogaze.html.overlay import captioned, draw_scanpath, heatmap_overlay
from cogaze.io import atomic_write_bytes

JSON_NAME = "explanation.json"


def _atomic_bytes(path: Path, data: bytes) -> None:
    atomic_write_bytes(path, data)


def _png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def _display(image: np.ndarray, max_side: int | None, min_side: int | None) -> np.ndarray:
    """``image`` scaled so its longer side lies in [min_side, max_side] (unchanged when it already does)."""
    h, w = image.shape[:2]
    longest = max(h, w)
    if max_side is not None and longest > max_side:
        s = max_side / longest
    elif min_side is not None and longest < min_side:
        s = min_side / longest
    else:
        return image
    size = (max(1, round(w * s)), max(1, round(h * s)))
    resample = Image.Resampling.BILINEAR if s < 1 else Image.Resampling.BICUBIC
    return np.asarray(Image.fromarray(image).resize(size, resample))


def _caption(p: GazePrediction) -> str:
    if p.text is not None:
        return p.text
    return "Text-free map (where a radiologist looks first, no sentence given)"


def _as_predictions(items: Any) -> list[GazePrediction]:
    if isinstance(items, (GazePrediction, GroundedSentence)):
        items = [items]
    out = []
    for item in items:
        if isinstance(item, GroundedSentence):
            item = item.prediction
        if not isinstance(item, GazePrediction):
            raise TypeError(f"expected GazePrediction or GroundedSentence, got {type(item).__name__}")
        out.append(item)
    if not out:
        raise ValueError("nothing to write: no predictions")
    return out


def write_explanation(predictions: GazePrediction | GroundedSentence | Sequence[GazePrediction | GroundedSentence],
                      image: np.ndarray, out_dir: str | Path, scanpath: Sequence[Fixation] | None = None,
                      max_side: int | None = 1024, summary_side: int = 8, min_side: int | None = 512,
                      extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write overlays, the scanpath picture and ``explanation.json`` to ``out_dir``; returns the JSON dict.

    ``image`` is the original uint8 image the predictions were made on (its size must match theirs).
    ``extra``: more keys for ``explanation.json`` (e.g. the report and disease probabilities of a prediction).
    """
    preds = _as_predictions(predictions)
    img = np.asarray(image)
    if img.dtype != np.uint8 or img.ndim not in (2, 3):
        raise ValueError(f"image must be a uint8 (H, W) or (H, W, 3) array, got {img.dtype} {img.shape}")
    size = (int(img.shape[1]), int(img.shape[0]))
    for p in preds:
        if tuple(p.image_size) != size:
            raise ValueError(f"prediction made on a {p.image_size} image, got a {size} image")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    small = _display(img, max_side, min_side)
    sh, sw = small.shape[:2]
    maps = []
    files: list[str] = []
    for i, p in enumerate(preds):
        name = f"map_{i:02d}.png"
        _atomic_bytes(out / name, _png(captioned(heatmap_overlay(small, p.render((sw, sh))), _caption(p))))
        files.append(name)
        maps.append({
            "text": p.text, "prompts": None if p.text is not None else list(p.prompts),
            "findings": dict(p.findings), "peak": [round(v, 2) for v in p.peak],
            "crop_box": [round(v, 2) for v in p.crop_box],
            "grid": np.round(p.summary_grid(summary_side), 5).tolist(), "file": name,
        })
    payload: dict[str, Any] = {
        "format": "cogaze-explanation-1", "image_size": list(size), "view": preds[0].view,
        "indication": preds[0].indication, "history": preds[0].history,
        "temperature": preds[0].temperature, "patch_grid": preds[0].grid, "maps": maps, "scanpath": None,
    }
    if scanpath is not None:
        fix = [[float(x), float(y), float(d)] for x, y, d in scanpath]
        sx, sy = sw / size[0], sh / size[1]
        picture = draw_scanpath(heatmap_overlay(small, preds[0].render((sw, sh))),
                                [(x * sx, y * sy, d) for x, y, d in fix])
        _atomic_bytes(out / "scanpath.png", _png(captioned(picture, f"Predicted scanpath ({len(fix)} fixations, "
                                                                    "numbered in reading order)")))
        files.append("scanpath.png")
        payload["scanpath"] = [[round(x, 2), round(y, 2), round(d, 4)] for x, y, d in fix]
        payload["scanpath_file"] = "scanpath.png"
    payload["files"] = [*files, JSON_NAME]
    clash = sorted(set(extra or {}) & set(payload))
    if clash:
        raise ValueError(f"extra keys {clash} would overwrite the explanation's own")
    payload.update(extra or {})
    _atomic_bytes(out / JSON_NAME, json.dumps(payload, indent=1).encode("utf-8"))
    return payload
