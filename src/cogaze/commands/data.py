"""``cogaze data ...``: generate the phantom, validate and summarise dataset folders."""

from __future__ import annotations

import click

from cogaze.logs import show_progress, verbosity_options

MIN_IMAGE_SIDE = 16  # = cogaze.data.image_check.MIN_IMAGE_SIDE (not imported: the CLI starts without numpy)
MAX_IMAGE_PIXELS = 89_478_485  # = cogaze.data.image_check.MAX_IMAGE_PIXELS (Pillow's limit)


@click.group()
def data() -> None:
    """Datasets: generate the phantom, validate, summarise and prepare (image store) dataset folders."""


def _load(directory, on_error, impression_only="use"):
    from cogaze.data.dataset import load_dataset

    return load_dataset(directory, on_error=on_error, impression_only=impression_only)


@data.command("validate")
@verbosity_options
@click.argument("directory", type=click.Path(file_okay=False, path_type=str))
@click.option("--on-error", type=click.Choice(["raise", "skip"]), default="skip", show_default=True,
              help="skip: read on, then list every problem; raise: stop at the first one.")
@click.option("--impression-only", type=click.Choice(["use", "skip"]), default="use", show_default=True,
              help="Studies with an IMPRESSION but no FINDINGS: use the impression as report text, or skip them.")
@click.option("--fast", is_flag=True,
              help="Open image headers only (size, format) instead of decoding every image: quicker, but a file "
                   "truncated after its header passes.")
@click.option("--workers", type=click.IntRange(min=0), default=0, show_default=True,
              help="Processes checking images (0 = one per CPU core).")
@click.option("--min-size", type=click.IntRange(min=1), default=MIN_IMAGE_SIDE, show_default=True,
              help="Images whose shorter side is below this many pixels are errors.")
@click.option("--max-pixels", type=click.IntRange(min=1), default=MAX_IMAGE_PIXELS, show_default=True,
              help="Images with more pixels than this are errors (default: Pillow's decompression-bomb limit).")
def validate(directory: str, on_error: str, impression_only: str, fast: bool, workers: int, min_size: int,
             max_pixels: int) -> None:
    """Read dataset folder DIRECTORY with the loaders and check every image; print counts and every problem
    (exit 1 on errors)."""
    from cogaze.data.image_check import ImageLimits
    from cogaze.data.summary import format_summary
    from cogaze.data.validate import validate_dataset
    from cogaze.errors import CogazeError

    result = validate_dataset(directory, on_error, impression_only, decode=not fast,  # type: ignore[arg-type]
                              limits=ImageLimits(min_size, max_pixels), workers=workers, progress=show_progress())
    loaded = result.loaded
    click.echo(f"dataset {directory}: " + ", ".join(f"{k}={v}" for k, v in loaded.sources.items()))
    click.echo(format_summary(loaded.records))
    how = "decoded" if result.decoded else "header read (--fast)"
    click.echo(f"\nimages checked: {result.images_checked} ({how})")
    problems = loaded.problems
    click.echo(f"warnings: {len(problems.warnings)}")
    for message in problems.warnings:
        click.echo(f"  warning: {message}")
    click.echo(f"errors (items skipped): {problems.n_skipped}")
    for error in problems.skipped:
        click.echo(f"  error: {error}")
    if problems.n_skipped:
        raise CogazeError(f"{directory}: {problems.n_skipped} data error(s) found (listed above)")
    click.echo("OK")


@data.command("summary")
@click.argument("directory", type=click.Path(file_okay=False, path_type=str))
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="Also write the summary as JSON to this file.")
@click.option("--on-error", type=click.Choice(["raise", "skip"]), default="raise", show_default=True,
              help="raise: stop at the first data problem; skip: leave bad items out (counted).")
def summary(directory: str, json_out: str | None, on_error: str) -> None:
    """Print counts per split, view and label of dataset folder DIRECTORY."""
    import json
    from pathlib import Path

    from cogaze.data.summary import format_summary

    loaded = _load(directory, on_error)
    click.echo(format_summary(loaded.records))
    if loaded.problems.n_skipped or loaded.problems.warnings:
        click.echo(f"({loaded.problems.n_skipped} item(s) skipped, {len(loaded.problems.warnings)} warning(s); "
                   "see `cogaze data validate`)")
    if json_out:
        out = loaded.records.summary() | {"skipped": loaded.problems.n_skipped}
        Path(json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(json_out).write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
        click.echo(f"summary written to {json_out}")


@data.command("prepare")
@verbosity_options
@click.argument("directory", type=click.Path(file_okay=False, path_type=str))
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=str), help="Store folder.")
@click.option("--size", type=click.IntRange(min=1), default=518, show_default=True,
              help="Shortest edge of the stored images: the model's input size (Rad-DINO: 518).")
@click.option("--workers", type=click.IntRange(min=0), default=0, show_default=True,
              help="Decoding processes (0 = one per CPU core).")
@click.option("--shard-images", type=click.IntRange(min=1), default=1024, show_default=True, help="Images per shard file.")
@click.option("--exact-decode", is_flag=True,
              help="Decode JPEGs at full size (default: DCT-scaled decode, within the tolerance of docs/scaling.md).")
@click.option("--on-error", type=click.Choice(["raise", "skip"]), default="raise", show_default=True,
              help="Bad dataset rows and undecodable images: stop with an error, or skip and count them.")
def prepare(directory: str, out: str, size: int, workers: int, shard_images: int, exact_decode: bool,
            on_error: str) -> None:
    """Decode every image of dataset folder DIRECTORY once into a memory-mapped store at --out.

    Training (data.store=STORE), the downstream tasks and report generation (--store STORE) then read
    resized uint8 images from it instead of decoding the files. Safe to interrupt: running the same
    command again keeps the finished shards.
    """
    from cogaze.data.store import ImageStore
    from cogaze.data.store_build import prepare_store

    loaded = _load(directory, on_error)
    seen: dict[str, object] = {}
    for rec in loaded.records:
        if rec.image_path is not None:
            seen.setdefault(rec.dicom_id, rec.image_path)
    result = prepare_store(list(seen.items()), out, size=size, fast=not exact_decode, workers=workers,  # type: ignore[arg-type]
                           shard_images=shard_images, root=directory, progress=show_progress(),
                           on_error=on_error)  # type: ignore[arg-type]
    click.echo(ImageStore(out).describe())
    click.echo(f"{result.shards - result.reused_shards} shard(s) written, {result.reused_shards} kept from an "
               "earlier run")
    n_skipped = loaded.problems.n_skipped + len(result.skipped)
    if n_skipped:
        click.echo(f"{n_skipped} item(s) skipped (--on-error skip): {loaded.problems.n_skipped} while loading, "
                   f"{len(result.skipped)} image(s) that cannot be decoded")


@data.command("verify-store")
@click.argument("store", type=click.Path(file_okay=False, path_type=str))
def verify_store(store: str) -> None:
    """Re-hash every shard of image store STORE against its index (exit 1 on a mismatch)."""
    from cogaze.data.store import ImageStore
    from cogaze.errors import DataError

    st = ImageStore(store)
    bad = st.verify()
    click.echo(st.describe())
    if bad:
        raise DataError(f"{len(bad)} shard(s) do not match their checksum: {', '.join(bad)}; re-run "
                        "`cogaze data prepare` to rewrite them", store)
    click.echo("OK: every shard matches its sha256")
