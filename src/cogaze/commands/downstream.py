"""``cogaze data downstream NAME``: load a downstream dataset's split files and print their counts."""

from __future__ import annotations

import json
from pathlib import Path

import click


def dataset_names() -> tuple[str, ...]:
    """The registered downstream datasets (the choices of every --dataset option)."""
    from cogaze.data.downstream import dataset_names as names

    return names()


def table_options(f):
    """--data-entry / --label-table / --box-table: a downstream dataset's side tables."""
    f = click.option("--box-table", type=click.Path(dir_okay=False, path_type=Path), default=None,
                     help="TBX11K data.csv with TB boxes (segmentation masks).")(f)
    f = click.option("--label-table", multiple=True,
                     help="SIIM label table (id, file name, RLE or -1): one CSV, or SOURCE=CSV per source split "
                          "(train=..., test=...).")(f)
    f = click.option("--data-entry", type=click.Path(dir_okay=False, path_type=Path), default=None,
                     help="NIH Data_Entry_2017 CSV (rebuilds the full train list from train.txt).")(f)
    return f


def side_tables(data_entry: Path | None, label_table: tuple[str, ...], box_table: Path | None):
    """The parsed side-table options."""
    from cogaze.data.downstream import SideTables

    return SideTables(data_entry=data_entry, label_table=_label_tables(label_table), box_table=box_table)


def _label_tables(values: tuple[str, ...]) -> str | dict[str, str] | None:
    """``--label-table CSV`` or ``--label-table SOURCE=CSV`` (repeatable) -> loader argument."""
    if not values:
        return None
    if len(values) == 1 and "=" not in values[0]:
        return values[0]
    tables: dict[str, str] = {}
    for value in values:
        source, sep, path = value.partition("=")
        if not sep or not source or not path:
            raise click.BadParameter(f"{value!r}: give one CSV, or SOURCE=CSV for each source split", param_hint="--label-table")
        tables[source.strip()] = path.strip()
    return tables


def _row(summary: dict[str, object]) -> list[str]:
    positives = summary["positives"]
    assert isinstance(positives, dict)
    if summary["task"] == "binary":
        pos = str(sum(positives.values()))
    else:
        pos = str(int(str(summary["rows"])) - int(str(summary["no_positive_label"])))
    views = summary["views"]
    categories = summary.get("categories", {})
    assert isinstance(views, dict) and isinstance(categories, dict)
    return [
        str(summary["split"]),
        f"{summary['fraction']}%",
        str(summary["rows"]),
        pos,
        str(summary["no_positive_label"]),
        " ".join(f"{k}={v}" for k, v in sorted(views.items())) or "-",
        " ".join(f"{k}={v}" for k, v in sorted(categories.items())) or "-",
        str(summary["skipped"]),
    ]


@click.command("downstream")
@click.argument("name", type=click.Choice(dataset_names(), case_sensitive=False))
@click.option("--split-dir", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Folder of the dataset's split files (BenchX / CheXWorld layout, docs/datasets.md).")
@click.option("--image-root", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Image folder: every listed image must exist under it. Without it, counts come from the split files alone.")
@table_options
@click.option("--split", "only_split", type=click.Choice(["train", "val", "test"]), default=None,
              help="Only this split (default: all).")
@click.option("--fraction", type=click.Choice(["1", "10", "100"]), default=None,
              help="Only this label fraction of train (percent).")
@click.option("--on-error", type=click.Choice(["raise", "skip"]), default="raise", show_default=True,
              help="Stop at the first bad line / missing image, or skip and count it.")
@click.option("--json", "as_json", is_flag=True, help="Print the summaries as JSON.")
def downstream(
    name: str,
    split_dir: Path,
    image_root: Path | None,
    data_entry: Path | None,
    label_table: tuple[str, ...],
    box_table: Path | None,
    only_split: str | None,
    fraction: str | None,
    on_error: str,
    as_json: bool,
) -> None:
    """Print row, label, view and category counts of downstream dataset NAME, per split and fraction."""
    from cogaze.data.downstream import get_dataset

    spec = get_dataset(name)
    tables = side_tables(data_entry, label_table, box_table)
    wanted = [
        (s, f)
        for s, f in spec.split_fractions
        if (only_split is None or s == only_split) and (fraction is None or f == int(fraction))
    ]
    if not wanted:
        raise click.BadParameter(f"{spec.name} has no split {only_split} at {fraction}%", param_hint="--split/--fraction")
    summaries, notes = [], []
    for split, frac in wanted:
        explicit = only_split is not None and fraction is not None
        if (spec.name == "nih" and split == "train" and frac == 100 and data_entry is None
                and not (split_dir / "train.csv").is_file() and not explicit):
            notes.append("train 100%: train.csv is absent; pass --data-entry to rebuild it from train.txt")
            continue
        loaded = spec.load(split_dir, split, frac, image_root=image_root, tables=tables,
                           check_images=image_root is not None, on_error=on_error)
        summaries.append(loaded.summary())
    if as_json:
        click.echo(json.dumps(summaries, indent=2))
        return
    header = ["split", "frac", "rows", "positive", "negative", "views", "categories", "skipped"]
    rows = [header] + [_row(s) for s in summaries]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    if summaries:
        first = summaries[0]
        classes = ", ".join(first["positives"])  # type: ignore[arg-type]
        click.echo(f"{spec.name}: {first['task']} ({classes}); split files in {split_dir}")
    for row in rows:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    for note in notes:
        click.echo(f"note: {note}")
