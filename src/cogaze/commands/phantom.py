"""``cogaze data phantom``: generate the procedural phantom dataset (and an optional preview grid)."""

from __future__ import annotations

import json

import click

from cogaze.logs import show_progress, verbosity_options


@click.command("phantom")
@verbosity_options
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Output dataset folder.")
@click.option("--n-patients", default=40, show_default=True, type=click.IntRange(min=1), help="Number of patients.")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(0, 2**32 - 1), help="Random seed (same seed = same bytes).")
@click.option("--image-size", default=256, show_default=True, type=click.IntRange(64, 1024), help="Image side (px).")
@click.option("--gaze-fraction", default=0.3, show_default=True, type=click.FloatRange(0, 1),
              help="Fraction of frontal images with a simulated reading (EGD + REFLACX).")
@click.option("--subtlety", default=0.5, show_default=True, type=click.FloatRange(0, 1),
              help="0 = conspicuous findings, 1 = barely visible.")
@click.option("--preview", type=click.Path(dir_okay=False), default=None,
              help="Also write a 4x4 grid PNG of images captioned with their findings.")
def phantom(out_dir: str, n_patients: int, seed: int, image_size: int, gaze_fraction: float, subtlety: float,
            preview: str | None) -> None:
    """Generate a phantom dataset in the MIMIC-CXR-JPG / EGD / REFLACX formats."""
    from cogaze.data.phantom import generate_phantom
    from cogaze.data.phantom.preview import write_preview

    summary = generate_phantom(out_dir, n_patients=n_patients, seed=seed, image_size=image_size,
                               gaze_fraction=gaze_fraction, subtlety=subtlety, progress=show_progress())
    info = summary.to_dict()
    click.echo(json.dumps({k: info[k] for k in ("out_dir", "n_patients", "n_studies", "n_images", "n_gaze_images",
                                                "n_reflacx_readings", "per_split")}, indent=1, sort_keys=True))
    if preview:
        click.echo(f"preview: {write_preview(out_dir, preview)}")
