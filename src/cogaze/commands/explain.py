"""``cogaze explain``: where a radiologist would look on an image, for a sentence, a report or nothing."""

from __future__ import annotations

import json

import click


@click.command()
@click.option("--checkpoint", required=True, type=click.Path(), help="Run folder written by `cogaze pretrain`.")
@click.option("--image", "image_path", required=True, type=click.Path(dir_okay=False), help="JPG/PNG/DICOM image.")
@click.option("--text", default=None, help="A sentence or finding to ground (default: the text-free map).")
@click.option("--report", default=None, help="A whole report: one map per sentence (overrides --text).")
@click.option("--indication", default="", help="Clinical indication (recorded with the prediction).")
@click.option("--history", default="", help="Clinical history (recorded with the prediction).")
@click.option("--view", default=None, help="View position (PA, AP, LATERAL, ...) [default: a DICOM's ViewPosition, "
              "else UNKNOWN].")
@click.option("--fixations", type=click.IntRange(min=1), default=10, show_default=True, help="Length of the predicted scanpath.")
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=0, show_default=True, help="Seed of the scanpath sampler.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Output folder.")
def explain(checkpoint: str, image_path: str, text: str | None, report: str | None, indication: str, history: str,
            view: str | None, fixations: int, seed: int, out_dir: str) -> None:
    """Write gaze overlays (PNG), the predicted scanpath and explanation.json for one image."""
    from cogaze import api

    payload = api.explain_image(checkpoint, image_path, out_dir, text=text, report=report, view=view,
                                indication=indication, history=history, fixations=fixations, seed=seed)
    click.echo(json.dumps({"out": out_dir, "maps": len(payload["maps"]), "scanpath": len(payload["scanpath"] or []),
                           "files": payload["files"]}, indent=2))
