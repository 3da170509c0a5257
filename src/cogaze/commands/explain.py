"""``cogaze explain``: where a radiologist would look on an image, for a sentence, a report or nothing."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.command()
@click.option("--checkpoint", required=True, type=click.Path(), help="Run folder written by `cogaze pretrain`.")
@click.option("--image", "image_path", required=True, type=click.Path(dir_okay=False), help="JPG/PNG/DICOM image.")
@click.option("--text", default=None, help="A sentence or finding to ground (default: the text-free map).")
@click.option("--report", default=None, help="A whole report: one map per sentence (overrides --text).")
@click.option("--indication", default="", help="Clinical indication (recorded with the prediction).")
@click.option("--history", default="", help="Clinical history (recorded with the prediction).")
@click.option("--view", default="UNKNOWN", show_default=True, help="View position (PA, AP, LATERAL, ...).")
@click.option("--fixations", type=int, default=10, show_default=True, help="Length of the predicted scanpath.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the scanpath sampler.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Output folder.")
def explain(checkpoint: str, image_path: str, text: str | None, report: str | None, indication: str, history: str,
            view: str, fixations: int, seed: int, out_dir: str) -> None:
    """Write gaze overlays (PNG), the predicted scanpath and explanation.json for one image."""
    from cogaze.commands.tasks import load_encoder
    from cogaze.data.images import read_image
    from cogaze.data.records import parse_view
    from cogaze.errors import ConfigError
    from cogaze.explain.predict import ground_report, predict_gaze, scanpath_from_prediction
    from cogaze.explain.write import write_explanation

    try:
        view = parse_view(view)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    encoder = load_encoder(checkpoint)
    image = read_image(image_path)
    if report is not None:
        try:
            preds = ground_report(encoder, image, report, view=view, indication=indication, history=history)
        except ValueError as err:
            raise ConfigError(f"--report: {err}") from None
        first = preds[0].prediction
    else:
        first = predict_gaze(encoder, image, text, indication=indication, history=history, view=view)
        preds = [first]
    path = scanpath_from_prediction(first, n_fixations=fixations, seed=seed)
    summary = write_explanation(preds, image, out_dir, scanpath=path)
    click.echo(json.dumps({"out": out_dir, "maps": len(preds), "scanpath": len(path),
                           "files": [str(Path(out_dir) / f) for f in summary["files"]]}, indent=2))
