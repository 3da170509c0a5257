"""Report generation from a pretraining run: examples, training, generation with baselines, evaluation."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cogaze.api.loading import load_encoder, load_report_model
from cogaze.api.sources import open_store
from cogaze.io import atomic_write_json


def report_items(encoder: Any, data_dir: str | Path, split: str, store: Any = None) -> list:
    """ReportItems of the frontal images of ``split`` of a dataset folder (pixels through the encoder's
    geometry, from the files or a prepared image ``store``; the findings section is the target)."""
    from cogaze.data.dataset import load_dataset
    from cogaze.data.pixels import ModelImages
    from cogaze.tasks.phantom_sets import frontal_split
    from cogaze.tasks.report_generation import ReportItem

    records = frontal_split(load_dataset(data_dir).records, split)
    images = ModelImages(encoder.geometry, store)
    return [ReportItem(r.dicom_id, r.subject_id, r.findings.strip(), r.view, r.indication.strip(),
                       r.history.strip(), pixel_values=images.pixels(r.dicom_id, r.image_path))
            for r in records if r.image_path is not None or store is not None]


def task_items(encoder: Any, data_dir: str | Path, split: str, task: str = "findings",
               srrg_path: str | Path | None = None, chexpert_dir: str | Path | None = None, store: Any = None) -> list:
    """The examples of ``split``: ``findings`` = the frontal images of a dataset folder (:func:`report_items`);
    ``structured`` = one image per study of an SRRG-Findings annotation JSON (structured findings,
    context = history; default ``DATA/srrg/srrg_findings.json``)."""
    if task == "findings":
        return report_items(encoder, data_dir, split, store)
    if task != "structured":
        from cogaze.errors import ConfigError

        raise ConfigError(f"task must be findings or structured, got {task!r}")
    import torch

    from cogaze.tasks.report_generation.structured import srrg_annotation_path, srrg_report_items

    geometry = encoder.geometry
    return srrg_report_items(srrg_annotation_path(data_dir, srrg_path), split,
                             lambda a: torch.from_numpy(geometry.transform_image(a)), data_dir, chexpert_dir)


def train_report(checkpoint: str | Path, data_dir: str | Path, config_path: str | Path, run_dir: str | Path,
                 overrides: Sequence[str] = (), store: str | Path | None = None, task: str = "findings",
                 init_from: str | Path | None = None, srrg_path: str | Path | None = None,
                 chexpert_dir: str | Path | None = None) -> dict[str, Any]:
    """Train a report generator on the train split (best epoch on val) into ``run_dir``; returns the summary
    written to ``run_dir/train_summary.json`` (with ``history``). ``task="structured"`` needs a structured
    config (``*-structured.yaml``); ``init_from`` starts from a free-text report run (as the paper does)."""
    from cogaze.config import load_config
    from cogaze.errors import ConfigError, Problems
    from cogaze.tasks.report_generation import ReportGenConfig, train_report_generator

    extra = [f"init_from={init_from}"] if init_from else []
    config = load_config(ReportGenConfig, config_path, [*overrides, *extra])
    if config.task != task:
        raise ConfigError(f"task {task} but the config says task: {config.task} (use a "
                          f"{'*-structured.yaml' if task == 'structured' else 'free-text'} config or override task=...)")
    encoder = load_encoder(checkpoint)
    images = open_store(store, data_dir)
    train = task_items(encoder, data_dir, "train", task, srrg_path, chexpert_dir, images)
    val = task_items(encoder, data_dir, "val", task, srrg_path, chexpert_dir, images)
    tokenizer = encoder.tokenizer if config.variant == "decoder" else None
    result = train_report_generator(config, encoder, train, val, run_dir, tokenizer=tokenizer,
                                    problems=Problems("skip"))
    summary = {"task": task, "checkpoint": str(Path(checkpoint).resolve()), "data": str(Path(data_dir).resolve()),
               "init_from": config.init_from or None, "n_train": len(train), "n_val": len(val), "n_skipped_empty": result.n_skipped_empty,
               "best_score": result.best_score, "history": result.history}
    atomic_write_json(Path(run_dir) / "train_summary.json", summary)
    return summary


def generate(report_run: str | Path, checkpoint: str | Path, data_dir: str | Path, split: str = "test",
             out: str | Path = "reports.csv", num_beams: int | None = None, baselines: bool = False,
             store: str | Path | None = None, task: str = "findings", srrg_path: str | Path | None = None,
             chexpert_dir: str | Path | None = None) -> dict[str, Any]:
    """Generate a report per frontal image (structured: per study) of ``split`` into ``out`` (dicom_id, reference_report,
    generated_report); with ``baselines`` also the most-common and nearest-neighbour CSVs beside it.
    Returns the summary written to ``<out stem>.json``."""
    from cogaze.config import load_config
    from cogaze.errors import ConfigError
    from cogaze.tasks.report_generation import ReportGenConfig, generate_reports, precompute_features
    from cogaze.tasks.report_generation.baselines import most_common_report, nearest_neighbour_reports
    from cogaze.tasks.report_generation.output import write_reports_csv

    run_config = Path(report_run) / "config.yaml"
    if run_config.is_file() and (trained := load_config(ReportGenConfig, run_config).task) != task:
        raise ConfigError(f"task {task} but {report_run} was trained with task: {trained}")
    encoder = load_encoder(checkpoint)
    images = open_store(store, data_dir)
    train = task_items(encoder, data_dir, "train", task, srrg_path, chexpert_dir, images)
    items = task_items(encoder, data_dir, split, task, srrg_path, chexpert_dir, images)
    generator = load_report_model(report_run, encoder, train)
    hyps = generate_reports(generator, encoder, items, out, num_beams=num_beams)
    files = {"model": str(out)}
    ids = [it.dicom_id for it in items]
    refs = [generator.reference(it.target) for it in items]
    if baselines:
        stem = Path(out).with_suffix("")
        common = most_common_report(generator.train_targets)
        files["most_common"] = str(write_reports_csv(f"{stem}_most_common.csv", ids, refs, [common] * len(items)))
        bank = precompute_features(encoder, items)
        nn = nearest_neighbour_reports(bank.pooled, [it.subject_id for it in items], generator.train_bank.pooled,
                                       generator.train_subjects, generator.train_targets)
        files["nearest_neighbour"] = str(write_reports_csv(f"{stem}_nearest_neighbour.csv", ids, refs, nn))
    empty = sum(not h.strip() for h in hyps)
    summary = {"task": task, "report_run": str(Path(report_run).resolve()), "checkpoint": str(Path(checkpoint).resolve()),
               "split": split, "n_reports": len(hyps), "n_empty_generated": empty, "num_beams": num_beams,
               "files": files}
    summary["summary_file"] = str(atomic_write_json(Path(out).with_suffix(".json"), summary))
    return summary
