"""``cogaze zeroshot | retrieve | finetune``: downstream tasks from a pretraining run (spec 5.4-5.7).

Thin over :mod:`cogaze.tasks`: load the encoder, build the items (a cogaze dataset folder such as
the phantom, or a downstream dataset in its original layout), run the task with its config
(dotlist overrides), write the results JSON and print its table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from cogaze.errors import ConfigError
from cogaze.logs import verbosity_options

DOWNSTREAM = ("nih", "siim", "rsna", "tbx11k", "shenzhen")


def load_encoder(checkpoint: str | Path) -> Any:
    """The pretrained encoder of a ``cogaze pretrain`` run folder; ConfigError for anything else
    (a missing path, a file, an empty folder, a report-generation run)."""
    import yaml

    from cogaze.models.pretrained import load_pretrained

    path = Path(checkpoint)
    if not path.is_dir():
        raise ConfigError(f"--checkpoint {path}: not a folder; pass the run folder written by `cogaze pretrain`")
    config = path / "config.yaml"
    if config.is_file():
        try:
            data = yaml.safe_load(config.read_text(encoding="utf-8"))
        except yaml.YAMLError as err:
            raise ConfigError(f"{config}: malformed YAML: {err}") from None
        if isinstance(data, dict) and "variant" in data and "model" not in data:
            raise ConfigError(f"--checkpoint {path} is a report-generation run (written by `cogaze train-report`),"
                              " not a pretraining run; pass the run folder written by `cogaze pretrain`")
    return load_pretrained(path)


def store_option(f):
    """--store: a prepared image store of the --data folder."""
    return click.option("--store", type=click.Path(file_okay=False), default=None,
                        help="Prepared image store of the --data folder (`cogaze data prepare`): read images "
                             "from it instead of decoding the files.")(f)


def open_store(store: str | None, data_dir: str | None) -> Any:
    """The ImageStore at ``store`` (None without one); --store needs --data."""
    if not store:
        return None
    if not data_dir:
        raise ConfigError("--store holds the images of a cogaze dataset folder: use it with --data")
    from cogaze.data.store import ImageStore

    return ImageStore(store)


def data_options(f):
    """--data / --dataset / --split-dir / --image-root / --store: where the images come from."""
    f = store_option(f)
    f = click.option("--image-root", type=click.Path(file_okay=False), default=None,
                     help="Image folder of the downstream dataset (with --dataset).")(f)
    f = click.option("--split-dir", type=click.Path(file_okay=False), default=None,
                     help="Split-file folder of the downstream dataset (with --dataset).")(f)
    f = click.option("--dataset", type=click.Choice(DOWNSTREAM, case_sensitive=False), default=None,
                     help="A downstream dataset in its original layout instead of --data.")(f)
    f = click.option("--data", "data_dir", type=click.Path(file_okay=False), default=None,
                     help="A cogaze dataset folder (phantom or MIMIC-CXR layout, docs/formats.md).")(f)
    f = click.option("--checkpoint", required=True, type=click.Path(),
                     help="Pretraining run folder (`cogaze pretrain --run-dir`).")(f)
    return f


def check_source(data_dir: str | None, dataset: str | None, split_dir: str | None, image_root: str | None) -> None:
    """Exactly one of --data and --dataset (the latter with --split-dir and --image-root)."""
    if bool(data_dir) == bool(dataset):
        raise ConfigError("give either --data DIR (a cogaze dataset folder) or --dataset NAME --split-dir ... "
                          "--image-root ...")
    if dataset and not (split_dir and image_root):
        raise ConfigError(f"--dataset {dataset} needs --split-dir and --image-root")


class Source:
    """Items of one data source, with the encoder's geometry."""

    def __init__(self, encoder: Any, data_dir: str | None, dataset: str | None, split_dir: str | None,
                 image_root: str | None, store: str | None = None) -> None:
        check_source(data_dir, dataset, split_dir, image_root)
        self.encoder, self.data_dir, self.dataset = encoder, data_dir, dataset
        self.split_dir, self.image_root = split_dir, image_root
        self.store = open_store(store, data_dir)
        self._records = None

    @property
    def records(self):
        if self._records is None:
            from cogaze.data.dataset import load_dataset

            self._records = load_dataset(self.data_dir).records
        return self._records

    def _downstream(self, split: str, fraction: int = 100, with_masks: bool = False):
        from cogaze.data.downstream import load_downstream
        from cogaze.tasks.items import ImageItems

        loaded = load_downstream(self.dataset, self.split_dir, split, fraction,  # type: ignore[arg-type]
                                 image_root=self.image_root)
        return ImageItems.from_geometry(loaded, self.encoder.geometry, with_masks=with_masks)

    def classification(self, split: str, classes: list[str] | None = None, fraction: int = 100):
        """Classification items of ``split`` (all label columns, or ``classes`` of a dataset folder)."""
        if self.dataset:
            return self._downstream(split, fraction)
        from cogaze.tasks.phantom_sets import classification_items

        return classification_items(self.records, self.encoder.geometry, split, classes, self.store)

    def segmentation(self, split: str, finding: str, fraction: int = 100):
        """Segmentation items of ``split`` (phantom: masks of ``finding``)."""
        if self.dataset:
            return self._downstream(split, fraction, with_masks=True)
        from cogaze.tasks.phantom_sets import segmentation_items

        return segmentation_items(self.data_dir, self.records, self.encoder.geometry, split, finding,  # type: ignore[arg-type]
                                  self.store)


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
def zeroshot(checkpoint: str, data_dir: str | None, dataset: str | None, split_dir: str | None,
             image_root: str | None, store: str | None, prompts: str | None, classes: str | None, split: str, out: str,
             overrides: tuple[str, ...]) -> None:
    """Zero-shot classification with prompt ensembles: AUROC / F1 per class vs the negative class.

    OVERRIDES are ZeroShotConfig settings such as negative_class=normal logit_scale=10.
    """
    from cogaze.config import load_config
    from cogaze.data.records import CHEXPERT_CLASSES
    from cogaze.tasks.zeroshot import ZeroShotConfig, load_prompts, run_zeroshot

    check_source(data_dir, dataset, split_dir, image_root)
    config = load_config(ZeroShotConfig, None, overrides)
    config.prompts = prompts or ("phantom" if data_dir else "paper")
    if data_dir and not any(o.startswith("negative_class=") for o in overrides):
        config.negative_class = "No Finding"  # the phantom / MIMIC label for a normal study
    prompt_lists = load_prompts(config.prompts)  # bad prompt files fail before the model loads
    encoder = load_encoder(checkpoint)
    source = Source(encoder, data_dir, dataset, split_dir, image_root, store)
    if dataset:
        items = source.classification(split)
    else:
        negative = config.negative_class.lower()
        wanted = split_list(classes) or [c for c in CHEXPERT_CLASSES
                                         if c.lower() in {p.lower() for p in prompt_lists} and c.lower() != negative]
        if not wanted:
            raise ConfigError(f"no prompt class of {config.prompts} is a CheXbert observation; pass --classes")
        items = source.classification(split, wanted)
        if not classes:  # AUROC needs both labels: leave out columns the split cannot score
            keep = [i for i in range(len(wanted)) if 0 < items.labels[:, i].sum() < len(items)]
            if not keep:
                raise ConfigError(f"no class of {wanted} has both positive and negative images in split {split}")
            items = source.classification(split, [wanted[i] for i in keep])
    finish(run_zeroshot(encoder, items, config, prompts=prompt_lists), out)


@click.command(context_settings={"ignore_unknown_options": True})
@verbosity_options
@click.option("--checkpoint", required=True, type=click.Path(), help="Pretraining run folder.")
@click.option("--data", "data_dir", required=True, type=click.Path(file_okay=False),
              help="A cogaze dataset folder (phantom or MIMIC-CXR layout): images with reports.")
@store_option
@click.option("--per-class", type=int, default=200, show_default=True, help="Images sampled per class.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the per-class draw.")
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
    from cogaze.config import load_config
    from cogaze.tasks.retrieval import RetrievalConfig, run_retrieval, write_sample

    config = load_config(RetrievalConfig, None, overrides)
    config.per_class, config.seed = per_class, seed
    config.classes = split_list(classes) or config.classes
    config.sample_file = sample_file
    encoder = load_encoder(checkpoint)
    items = Source(encoder, data_dir, None, None, None, store).classification(split, config.classes)
    result = run_retrieval(encoder, items, config)
    sample_path = Path(out).with_name(f"{Path(out).stem}_sample.json")
    write_sample(result.sample, sample_path, None if sample_file else seed)
    finish(result, out)
    click.echo(f"wrote {sample_path} ({len(result.sample)} sampled ids)")


@click.command(context_settings={"ignore_unknown_options": True})
@verbosity_options
@click.option("--task", required=True, type=click.Choice(["classification", "segmentation"]))
@data_options
@click.option("--finding", default="Pleural Effusion", show_default=True,
              help="Segmentation: the phantom finding whose masks are the target.")
@click.option("--classes", default=None, help="Classification on --data: comma-separated label columns "
              "[default: the 14 CheXbert classes].")
@click.option("--mode", type=click.Choice(["linear", "finetune"]), default="linear", show_default=True,
              help="Frozen encoder (linear probe / decoder only) or full fine-tuning.")
@click.option("--fractions", default="1,10,100", show_default=True, help="Label fractions in percent.")
@click.option("--seeds", type=int, default=3, show_default=True, help="Number of seeds (0..N-1).")
@click.option("--out", default=None, type=click.Path(dir_okay=False), help="Results JSON [default: TASK.json].")
@click.argument("overrides", nargs=-1)
def finetune(task: str, checkpoint: str, data_dir: str | None, dataset: str | None, split_dir: str | None,
             image_root: str | None, store: str | None, finding: str, classes: str | None, mode: str, fractions: str, seeds: int,
             out: str | None, overrides: tuple[str, ...]) -> None:
    """Supervised classification or segmentation at label fractions over seeds (mean ± std on test,
    model selection on val).

    OVERRIDES are ClassificationConfig / SegmentationConfig settings such as epochs=5 lr=1e-4.
    """
    from cogaze.config import load_config
    from cogaze.tasks.classification import ClassificationConfig, run_classification
    from cogaze.tasks.segmentation import SegmentationConfig, run_segmentation

    check_source(data_dir, dataset, split_dir, image_root)
    try:
        frac_list = [int(f) for f in split_list(fractions)]
    except ValueError:
        raise ConfigError(f"--fractions {fractions!r}: give comma-separated integers such as 1,10,100") from None
    if not frac_list or seeds < 1:
        raise ConfigError("give at least one fraction and --seeds >= 1")
    if task == "segmentation":
        from cogaze.tasks.phantom_sets import resolve_class_names

        resolve_class_names([finding])  # an unknown finding fails before the model loads
    config: Any = load_config(ClassificationConfig if task == "classification" else SegmentationConfig,
                              None, overrides)
    config.fractions, config.seeds = frac_list, list(range(seeds))
    if task == "classification":
        config.mode = "linear_probe" if mode == "linear" else "finetune"
    else:
        config.finetune_encoder = mode == "finetune"
    encoder = load_encoder(checkpoint)
    source = Source(encoder, data_dir, dataset, split_dir, image_root, store)
    if task == "classification":
        names = split_list(classes) or None
        train: Any = ({f: source.classification("train", names, f) for f in frac_list} if dataset
                      else source.classification("train", names))
        val, test = source.classification("val", names), source.classification("test", names)
        result: Any = run_classification(encoder, train, val, test, config)
    else:
        train = ({f: source.segmentation("train", finding, f) for f in frac_list} if dataset
                 else source.segmentation("train", finding))
        val, test = source.segmentation("val", finding), source.segmentation("test", finding)
        result = run_segmentation(encoder, train, val, test, config)
    finish(result, out or f"{task}.json")
