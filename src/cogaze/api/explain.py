"""Where a radiologist would look on one image: gaze maps for a sentence, a report or no text."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from cogaze.api.loading import load_encoder
from cogaze.errors import ConfigError, DataError


def explain_image(encoder: Any, image_path: str | Path, out_dir: str | Path, text: str | None = None,
                  report: str | None = None, view: str | None = None, indication: str = "", history: str = "",
                  fixations: int = 10, seed: int = 0) -> dict[str, Any]:
    """Write gaze overlays (one per report sentence, or one for ``text``, or the text-free map), the
    predicted scanpath and ``explanation.json`` into ``out_dir``.

    ``encoder``: an encoder or a pretraining run folder. ``view``: None takes a DICOM's ViewPosition (as
    ``predict`` does), else UNKNOWN. Returns the explanation dict with ``files``: the paths written.
    """
    from cogaze.data.image_check import ImageLimits
    from cogaze.data.images import decode_image
    from cogaze.data.records import parse_view
    from cogaze.explain.predict import ground_report, predict_gaze, scanpath_from_prediction
    from cogaze.explain.write import JSON_NAME, write_explanation

    try:
        view = None if view is None else parse_view(view)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    if fixations < 1:
        raise ConfigError(f"fixations must be at least 1, got {fixations}")
    if isinstance(encoder, str | Path):
        encoder = load_encoder(encoder)
    decoded = decode_image(image_path)
    image = decoded.pixels
    if view is None:
        view, note = decoded.view()
        if note:
            logging.getLogger("cogaze").warning("%s: %s", image_path, note)
    ImageLimits().check(image.shape[1], image.shape[0], image_path)
    if report is not None:
        try:
            preds = ground_report(encoder, image, report, view=view, indication=indication, history=history)
        except ValueError as err:
            raise ConfigError(f"report: {err}") from None
        first = preds[0].prediction
        shown: Any = preds
    else:
        first = predict_gaze(encoder, image, text, indication=indication, history=history, view=view)
        shown = first
    try:
        path = scanpath_from_prediction(first, n_fixations=fixations, seed=seed)
    except ValueError as err:  # e.g. a predicted map without mass: no scanpath to draw from it
        raise DataError(f"no scanpath can be predicted for this image: {err}", image_path) from None
    payload = write_explanation(shown, image, out_dir, scanpath=path)
    out = Path(out_dir)
    names = payload.get("files") or [*(m["file"] for m in payload["maps"]),
                                     *([payload["scanpath_file"]] if payload.get("scanpath_file") else []), JSON_NAME]
    payload["files"] = [str(out / n) for n in names]
    return payload

