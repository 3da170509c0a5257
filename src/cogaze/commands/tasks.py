"""``cogaze zeroshot | retrieve | finetune``: downstream tasks from a pretraining run (docs/tasks.md).

Thin over :mod:`cogaze.api`: parse the options, call the API, write the results JSON and print its table.
Images come from a cogaze dataset folder (``--data``, e.g. the phantom) or a registered downstream dataset
in its original layout (``--dataset`` with its split files, image folder and side tables).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from cogaze.commands.downstream import dataset_names, side_tables, table_options
from cogaze.errors import ConfigError
from cogaze.logs import verbosity_options


def store_option(f):
    """--store: a prepared image store of the --data folder."""
    return click.option("--store", type=click.Path(file_okay=False), default=None,
                        help="Prepared image store of the --data folder (`cogaze data prepare`): read images "
                             "from it instead of decoding the files.")(f)


def data_options(f):
    """--checkpoint, --data / --dataset / --split-dir / --image-root / --store and the side tables."""
    f = table_options(f)
    f = store_option(f)
    f = click.option("--image-root", type=click.Path(file_okay=False), default=None,
                     help="Image folder of the downstream dataset (with --dataset).")(f)
    f = click.option("--split-dir", type=click.Path(file_okay=False), default=None,
                     help="Split-file folder of the downstream dataset (with --dataset).")(f)
    f = click.option("--dataset", type=click.Choice(dataset_names(), case_sensitive=False), default=None,
                     help="A downstream dataset in its original layout instead of --data.")(f)
    f = click.option("--data", "data_dir", type=click.Path(file_okay=False), default=None,
                     help="A cogaze dataset folder (phantom or MIMIC-CXR layout, docs/formats.md).")(f)
    f = click.option("--checkpoint", required=True, type=click.Path(),
                     help="Pretraining run folder (`cogaze pretrain --run-dir`).")(f)
    return f


def make_source(kw: dict[str, Any]) -> Any:
    """The API's DataSource from the parsed data options (removed from ``kw``)."""
    from cogaze.api import DataSource

    tables = side_tables(kw.pop("data_entry"), kw.pop("label_table"), kw.pop("box_table"))
    return DataSource(data_dir=kw.pop("data_dir"), dataset=kw.pop("dataset"), split_dir=kw.pop("split_dir"),
                      image_root=kw.pop("image_root"), tables=tables, store=kw.pop("store"))


def split_list(value: str | None) -> list[str]:
    """``"a,b , c"`` -> ``["a", "b", "c"]`` (empty for None)."""
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def finish(result: Any, out: str) -> None:
    """Write the result JSON, print the table and where it went."""
    path = result.write_json(out)
    click.echo(result.table())
    click.echo(f"wrote {path}")


@click.command(context_settings={"ignore_unknown_options": True})
@verbosity_options
@data_options
@click.option("--prompts", default=None,
              help="Prompt YAML (class -> prompts), or the shipped 'paper' / 'phantom' "
                   "[default: phantom with --data, paper with --dataset].")
@click.option("--classes", default=None,
              help="Comma-separated label columns to score (--data; default: every prompted CheXbert "
                   "class with positives and negatives in the split).")
@click.option("--split", default="test", show_default=True, type=click.Choice(["train", "val", "test"]))
@click.option("--out", default="zeroshot.json", show_default=True, type=click.Path(dir_okay=False),
              help="Results JSON.")
@click.argument("overrides", nargs=-1)
def zeroshot(checkpoint: str, prompts: str | None, classes: str | None, split: str, out: str,
             overrides: tuple[str, ...], **kw: Any) -> None:
    """Zero-shot classification with prompt ensembles: AUROC / F1 per class vs the negative class.

    OVERRIDES are ZeroShotConfig settings such as negative_class=normal logit_scale=10.
    """
    from cogaze import api

    source = make_source(kw)
    finish(api.zeroshot(checkpoint, source, split, prompts, split_list(classes) or None, overrides), out)


@click.command(context_settings={"ignore_unknown_options": True})
@verbosity_options
@click.option("--checkpoint", required=True, type=click.Path(), help="Pretraining run folder.")
@click.option("--data", "data_dir", required=True, type=click.Path(file_okay=False),
              help="A cogaze dataset folder (phantom or MIMIC-CXR layout): images with reports.")
@store_option
@click.option("--per-class", type=click.IntRange(min=1), default=200, show_default=True, help="Images sampled per class.")
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=0, show_default=True, help="Seed of the per-class draw.")
@click.option("--classes", default=None, help="Comma-separated classes [default: the MIMIC-5x200 five].")
@click.option("--split", default="test", show_default=True, type=click.Choice(["train", "val", "test"]))
@click.option("--sample", "sample_file", default=None, type=click.Path(dir_okay=False),
              help="Reuse the sample file of an earlier run instead of drawing one.")
@click.option("--out", default="retrieval.json", show_default=True, type=click.Path(dir_okay=False),
              help="Results JSON; the sampled ids go to <out stem>_sample.json beside it.")
@click.argument("overrides", nargs=-1)
def retrieve(checkpoint: str, data_dir: str, store: str | None, per_class: int, seed: int, classes: str | None, split: str,
             sample_file: str | None, out: str, overrides: tuple[str, ...]) -> None:
    """Image -> report retrieval on a class-balanced sample: P@K and R@K (hit rate).

    OVERRIDES are RetrievalConfig settings such as ks=[1,5] batch_size=8.
    """
    from cogaze import api
    from cogaze.tasks.retrieval import write_sample

    if per_class < 1:
        raise ConfigError(f"--per-class must be at least 1, got {per_class}")
    result = api.retrieve(checkpoint, data_dir, split, per_class, seed, split_list(classes) or None,
                          sample_file, overrides, store=store)
    sample_path = Path(out).with_name(f"{Path(out).stem}_sample.json")
    write_sample(result.sample, sample_path, None if sample_file else seed)
    finish(result, out)
    click.echo(f"wrote {sample_path} ({len(result.sample)} sampled ids)")


@click.command(context_settings={"ignore_unknown_options": True})
@verbosity_options
@click.option("--task", required=True, type=click.Choice(["classification", "segmentation"]))
@data_options
@click.option("--finding", default="Pleural Effusion", show_default=True,
              help="Segmentation on --data: the phantom finding whose masks are the target.")
@click.option("--classes", default=None, help="Classification on --data: comma-separated label columns "
              "[default: the 14 CheXbert classes].")
@click.option("--mode", type=click.Choice(["linear", "finetune"]), default="linear", show_default=True,
              help="Frozen encoder (linear probe / decoder only) or full fine-tuning.")
@click.option("--fractions", default="1,10,100", show_default=True, help="Label fractions in percent.")
@click.option("--seeds", type=click.IntRange(min=1), default=3, show_default=True, help="Number of seeds (0..N-1).")
@click.option("--out", default=None, type=click.Path(dir_okay=False), help="Results JSON [default: TASK.json].")
@click.argument("overrides", nargs=-1)
def finetune(task: str, checkpoint: str, finding: str, classes: str | None, mode: str, fractions: str, seeds: int,
             out: str | None, overrides: tuple[str, ...], **kw: Any) -> None:
    """Supervised classification or segmentation at label fractions over seeds (mean ± std on test,
    model selection on val).

    OVERRIDES are ClassificationConfig / SegmentationConfig settings such as epochs=5 lr=1e-4.
    """
    from cogaze import api

    try:
        frac_list = [int(f) for f in split_list(fractions)]
    except ValueError:
        raise ConfigError(f"--fractions {fractions!r}: give comma-separated integers such as 1,10,100") from None
    source = make_source(kw)
    result = api.finetune(checkpoint, source, task, frac_list, seeds, mode, split_list(classes) or None,
                          finding, overrides)
    finish(result, out or f"{task}.json")
