"""``cogaze data ...``: generate the phantom, validate and summarise dataset folders."""

from __future__ import annotations

import click


@click.group()
def data() -> None:
    """Datasets: generate the phantom, validate and summarise dataset folders."""


def _load(directory, on_error, impression_only="use"):
    from cogaze.data.dataset import load_dataset

    return load_dataset(directory, on_error=on_error, impression_only=impression_only)


@data.command("validate")
@click.argument("directory", type=click.Path(file_okay=False, path_type=str))
@click.option("--on-error", type=click.Choice(["raise", "skip"]), default="skip", show_default=True,
              help="skip: read on, then list every problem; raise: stop at the first one.")
@click.option("--impression-only", type=click.Choice(["use", "skip"]), default="use", show_default=True,
              help="Studies with an IMPRESSION but no FINDINGS: use the impression as report text, or skip them.")
def validate(directory: str, on_error: str, impression_only: str) -> None:
    """Read dataset folder DIRECTORY with the loaders; print counts and every problem (exit 1 on errors)."""
    from cogaze.data.summary import format_summary

    loaded = _load(directory, on_error, impression_only)
    click.echo(f"dataset {directory}: " + ", ".join(f"{k}={v}" for k, v in loaded.sources.items()))
    click.echo(format_summary(loaded.records))
    problems = loaded.problems
    click.echo(f"\nwarnings: {len(problems.warnings)}")
    for message in problems.warnings:
        click.echo(f"  warning: {message}")
    click.echo(f"errors (items skipped): {problems.n_skipped}")
    for error in problems.skipped:
        click.echo(f"  error: {error}")
    if problems.n_skipped:
        from cogaze.errors import CogazeError

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
