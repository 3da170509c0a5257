"""Downstream tasks from a pretraining run: zero-shot, retrieval, supervised fine-tuning / probing."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cogaze.api.loading import load_encoder
from cogaze.api.sources import DataSource
from cogaze.errors import ConfigError


def _encoder(encoder_or_checkpoint: Any) -> Any:
    return load_encoder(encoder_or_checkpoint) if isinstance(encoder_or_checkpoint, str | Path) else encoder_or_checkpoint


def zeroshot(encoder: Any, source: DataSource, split: str = "test", prompts: str | None = None,
             classes: Sequence[str] | None = None, overrides: Sequence[str] = ()) -> Any:
    """Zero-shot classification with prompt ensembles; returns a ZeroShotResult (``.table()``, ``.write_json``).

    ``encoder``: an encoder or a pretraining run folder. ``prompts`` defaults to the shipped ``phantom`` set
    for a dataset folder and ``paper`` for a downstream dataset. On a dataset folder ``classes`` defaults to
    every prompted CheXbert class with both positives and negatives in the split.
    """
    from cogaze.config import load_config
    from cogaze.data.records import CHEXPERT_CLASSES
    from cogaze.tasks.zeroshot import ZeroShotConfig, load_prompts, run_zeroshot

    if source.dataset:
        from cogaze.data.downstream import get_dataset

        get_dataset(source.dataset).check_task("zeroshot")
    config = load_config(ZeroShotConfig, None, list(overrides))
    config.prompts = prompts or ("phantom" if source.data_dir else "paper")
    if source.data_dir and not any(o.startswith("negative_class=") for o in overrides):
        config.negative_class = "No Finding"  # the phantom / MIMIC label for a normal study
    prompt_lists = load_prompts(config.prompts)  # bad prompt files fail before the model loads
    encoder = _encoder(encoder)
    if source.dataset:
        items = source.classification(encoder, split)
    else:
        negative = config.negative_class.lower()
        prompted = {p.lower() for p in prompt_lists}
        wanted = list(classes or []) or [c for c in CHEXPERT_CLASSES if c.lower() in prompted and c.lower() != negative]
        if not wanted:
            raise ConfigError(f"no prompt class of {config.prompts} is a CheXbert observation; pass classes")
        items = source.classification(encoder, split, wanted)
        if not classes:  # AUROC needs both labels: leave out columns the split cannot score
            keep = [i for i in range(len(wanted)) if 0 < items.labels[:, i].sum() < len(items)]
            if not keep:
                raise ConfigError(f"no class of {wanted} has both positive and negative images in split {split}")
            items = source.classification(encoder, split, [wanted[i] for i in keep])
    return run_zeroshot(encoder, items, config, prompts=prompt_lists)


def retrieve(encoder: Any, data_dir: str | Path, split: str = "test", per_class: int = 200, seed: int = 0,
             classes: Sequence[str] | None = None, sample_file: str | Path | None = None,
             overrides: Sequence[str] = (), store: str | Path | None = None) -> Any:
    """Image -> report retrieval on a class-balanced sample of a dataset folder; returns a RetrievalResult."""
    from cogaze.config import check_ranges, load_config
    from cogaze.tasks.retrieval import RetrievalConfig, run_retrieval

    config = load_config(RetrievalConfig, None, list(overrides))
    config.per_class, config.seed = per_class, seed
    config.classes = list(classes or []) or config.classes
    config.sample_file = None if sample_file is None else str(sample_file)
    check_ranges(config, "retrieve")
    encoder = _encoder(encoder)
    items = DataSource(data_dir=data_dir, store=store).classification(encoder, split, config.classes)
    return run_retrieval(encoder, items, config)


def finetune(encoder: Any, source: DataSource, task: str, fractions: Sequence[int] = (1, 10, 100),
             seeds: int = 3, mode: str = "linear", classes: Sequence[str] | None = None,
             finding: str = "Pleural Effusion", overrides: Sequence[str] = ()) -> Any:
    """Supervised classification or segmentation at label fractions over seeds (model selection on val).

    ``mode``: ``linear`` (frozen encoder: linear probe / decoder only) or ``finetune`` (full fine-tuning).
    On a downstream dataset each fraction reads its own split file; on a dataset folder the train split is
    subsampled. Segmentation on a dataset split without masks is refused (it would score all-zero masks).
    """
    from cogaze.config import check_ranges, load_config
    from cogaze.tasks.classification import ClassificationConfig, run_classification
    from cogaze.tasks.segmentation import SegmentationConfig, run_segmentation

    if task not in ("classification", "segmentation"):
        raise ConfigError(f"task must be classification or segmentation, got {task!r}")
    if mode not in ("linear", "finetune"):
        raise ConfigError(f"mode must be linear or finetune, got {mode!r}")
    frac_list = [int(f) for f in fractions]
    if not frac_list or seeds < 1:
        raise ConfigError("give at least one fraction and seeds >= 1")
    if source.dataset:
        from cogaze.data.downstream import get_dataset

        spec = get_dataset(source.dataset)
        spec.check_task(task)
        offered = {f for s, f in spec.split_fractions if s == "train"}
        bad = [f for f in frac_list if f not in offered]
        if bad:
            raise ConfigError(f"{spec.name} has train split files at {sorted(offered)} %, not {bad}")
    if task == "segmentation" and not source.dataset:
        from cogaze.tasks.phantom_sets import resolve_class_names

        resolve_class_names([finding])  # an unknown finding fails before the model loads
    config: Any = load_config(ClassificationConfig if task == "classification" else SegmentationConfig,
                              None, list(overrides))
    config.fractions, config.seeds = frac_list, list(range(seeds))
    check_ranges(config, "finetune (--fractions / --seeds)")
    if task == "classification":
        config.mode = "linear_probe" if mode == "linear" else "finetune"
    else:
        config.finetune_encoder = mode == "finetune"
    encoder = _encoder(encoder)
    names = list(classes or []) or None
    if task == "classification":
        train: Any = ({f: source.classification(encoder, "train", names, f) for f in frac_list} if source.dataset
                      else source.classification(encoder, "train", names))
        val, test = source.classification(encoder, "val", names), source.classification(encoder, "test", names)
        return run_classification(encoder, train, val, test, config)
    train = ({f: source.segmentation(encoder, "train", finding, f) for f in frac_list} if source.dataset
             else source.segmentation(encoder, "train", finding))
    val, test = source.segmentation(encoder, "val", finding), source.segmentation(encoder, "test", finding)
    return run_segmentation(encoder, train, val, test, config)
