"""Where a radiologist would look on one image: gaze maps for a sentence, a report or no text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cogaze.api.loading import load_encoder
from cogaze.errors import ConfigError


def explain_image(encoder: Any, image_path: str | Path, out_dir: str | Path, text: str | None = None,
                  report: str | None = None, view: str = "UNKNOWN", indication: str = "", history: str = "",
                  fixations: int = 10, seed: int = 0) -> dict[str, Any]:
    """Write gaze overlays (one per report sentence, or one for ``text``, or the text-free map), the
    predicted scanpath and ``explanation.json`` into ``out_dir``.

    ``encoder``: an encoder or a pretraining run folder. Returns the explanation dict with ``files``: the
    paths written.
    """
    from cogaze.data.images import read_image
    from cogaze.data.records import parse_view
    from cogaze.explain.predict import ground_report, predict_gaze, scanpath_from_prediction
    from cogaze.explain.write import JSON_NAME, write_explanation

    try:
        view = parse_view(view)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    if fixations < 1:
        raise ConfigError(f"fixations must be at least 1, got {fixations}")
    if isinstance(encoder, str | Path):
        encoder = load_encoder(encoder)
    image = read_image(image_path)
    if report is not None:
        try:
            preds = ground_report(encoder, image, report, view=view, indication=indication, history=history)
        except ValueError as err:
            raise ConfigError(f"report: {err}") from None
        first = preds[0].prediction
        path = scanpath_from_prediction(first, n_fixations=fixations, seed=seed)
        payload = write_explanation(preds, image, out_dir, scanpath=path)
    else:
        first = predict_gaze(encoder, image, text, indication=indication, history=history, view=view)
        path = scanpath_from_prediction(first, n_fixations=fixations, seed=seed)
        payload = write_explanation(first, image, out_dir, scanpath=path)
    out = Path(out_dir)
    names = payload.get("files") or [*(m["file"] for m in payload["maps"]),
                                     *([payload["scanpath_file"]] if payload.get("scanpath_file") else []), JSON_NAME]
    payload["files"] = [str(out / n) for n in names]
    return payload
