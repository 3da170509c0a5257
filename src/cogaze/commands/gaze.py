"""``cogaze gaze ...``: render gaze heatmaps of a dataset into the patch-map cache."""

from __future__ import annotations

from pathlib import Path

import click

from cogaze.logs import show_progress, verbosity_options


@click.group()
def gaze() -> None:
    """Eye gaze: render per-sentence gaze heatmaps into patch-grid targets."""


@gaze.command("build")
@verbosity_options
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=Path("gaze.safetensors"),
              show_default=True, help="Cache file to write (safetensors).")
@click.option("--grid", type=click.IntRange(min=1), default=37, show_default=True,
              help="Patch grid side (37 for Rad-DINO at 518 px / patch 14; 14 for tiny configs).")
@click.option("--image-size", type=click.IntRange(min=1), default=518, show_default=True,
              help="Image side S after resize-shortest-edge + centre crop (must match the encoder).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Heatmap option override, e.g. --set lead_s=0.5 --set screen.distance_mm=650 (repeatable).")
@click.option("--force", is_flag=True, help="Rebuild even when the inputs are unchanged.")
@click.option("--on-error", type=click.Choice(["raise", "skip"]), default="raise", show_default=True,
              help="Bad data rows (e.g. an implausible fixation): stop with an error, or skip and count them.")
def build(data_dir: Path, out: Path, grid: int, image_size: int, overrides: tuple[str, ...], force: bool,
          on_error: str) -> None:
    """Render every gaze reading of DATA_DIR (sentences + paragraph) into one patch-map cache."""
    from cogaze.config import load_config
    from cogaze.data.dataset import load_dataset
    from cogaze.data.geometry import ImageGeometry
    from cogaze.gaze.cache import build_gaze_cache
    from cogaze.gaze.heatmaps import HeatmapOptions

    options = load_config(HeatmapOptions, overrides=list(overrides))
    loaded = load_dataset(data_dir, on_error=on_error)  # type: ignore[arg-type]
    records = loaded.records
    result = build_gaze_cache(records, out, ImageGeometry(image_size), grid, options, force=force, progress=show_progress())
    c = result.counts
    state = "wrote" if result.rebuilt else "up to date:"
    click.echo(f"{state} {result.path} ({result.readings} readings, {result.rows} maps, grid {grid}x{grid}); "
               f"fixations kept {c.kept}/{c.total} (non-finite {c.non_finite}, bad duration {c.bad_duration}, "
               f"out of image {c.out_of_image}, outside shown image {c.outside_shown})")
    if on_error == "skip" and loaded.problems.n_skipped:  # under raise the first problem has stopped the load
        click.echo(f"{loaded.problems.n_skipped} bad item(s) skipped while loading (--on-error skip; listed above)")


@gaze.command("authors")
@verbosity_options
@click.argument("root", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=Path("gaze.safetensors"),
              show_default=True, help="Cache file to write (safetensors).")
@click.option("--grid", type=click.IntRange(min=1), default=37, show_default=True, help="Patch grid side.")
@click.option("--image-size", type=click.IntRange(min=1), default=518, show_default=True, help="Image side S (must match the encoder).")
@click.option("--index", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="JSON object folder name -> dicom_id (default: the folder name is the dicom_id).")
@click.option("--force", is_flag=True, help="Rebuild even when the inputs are unchanged.")
def authors(root: Path, out: Path, grid: int, image_size: int, index: Path | None, force: bool) -> None:
    """Cache the authors' pre-rendered JPEG heatmaps: one gaze item folder per subfolder of ROOT."""
    import json

    from cogaze.data.geometry import ImageGeometry
    from cogaze.errors import DataError
    from cogaze.gaze.authors import LOOKUP_FILE
    from cogaze.gaze.cache import build_authors_cache

    folders = sorted(p for p in root.iterdir() if (p / LOOKUP_FILE).is_file())
    if not folders:
        raise DataError(f"no gaze item folders (with {LOOKUP_FILE}) found", root)
    mapping = {p.name: p.name for p in folders}
    if index is not None:
        try:
            given = json.loads(index.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            raise DataError(f"cannot read index JSON: {err}", index) from None
        if not isinstance(given, dict):
            raise DataError("index must be a JSON object folder name -> dicom_id", index)
        mapping = {name: str(given[name]) for name in mapping if name in given}
    items = {dicom_id: root / name for name, dicom_id in mapping.items()}
    result = build_authors_cache(items, out, ImageGeometry(image_size), grid, force=force, progress=show_progress())
    state = "wrote" if result.rebuilt else "up to date:"
    click.echo(f"{state} {result.path} ({result.readings} gaze items, {result.rows} maps, grid {grid}x{grid})")
