"""``cogaze train-report`` and ``cogaze generate``: report generation from a pretraining run (spec 5.1-5.3).

Thin over :mod:`cogaze.tasks.report_generation`. Examples are the frontal images of a cogaze dataset
folder (phantom or MIMIC-CXR layout) with their findings section as the target; the encoder is frozen.
``generate`` writes the CSV ``cogaze evaluate reports`` reads (dicom_id, reference_report,
generated_report) and, with ``--baselines``, the most-common-report and nearest-neighbour baselines
beside it, so every system is scored the same way. ``--task structured``: one example per study of an
SRRG annotation JSON (structured findings; context = history), scored with ``--structured``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from cogaze.commands.tasks import load_encoder
from cogaze.errors import ConfigError

TASK = click.Choice(["findings", "structured"])


def _task_options(f):
    f = click.option("--chexpert-dir", type=click.Path(file_okay=False), default=None,
                     help="CheXpert-Plus image root (structured task; ids without 'mimic').")(f)
    f = click.option("--srrg", "srrg_path", type=click.Path(dir_okay=False), default=None,
                     help="SRRG annotation JSON (structured task) [default: DATA/srrg/srrg_findings.json].")(f)
    f = click.option("--task", type=TASK, default="findings", show_default=True,
                     help="findings: free-text Findings of the frontal images of DATA; structured: SRRG-Findings "
                     "(one image per study, images under DATA = the MIMIC-CXR-JPG root).")(f)
    return f


def task_items(encoder: Any, data_dir: str, split: str, task: str, srrg_path: str | None,
               chexpert_dir: str | None) -> list:
    """The examples of ``split`` for ``task`` (see :func:`report_items` / the structured module)."""
    if task == "findings":
        return report_items(encoder, data_dir, split)
    import torch

    from cogaze.tasks.report_generation.structured import srrg_annotation_path, srrg_report_items

    geometry = encoder.geometry
    return srrg_report_items(srrg_annotation_path(data_dir, srrg_path), split,
                             lambda a: torch.from_numpy(geometry.transform_image(a)), data_dir, chexpert_dir)


def report_items(encoder: Any, data_dir: str, split: str) -> list:
    """ReportItems of the frontal images of ``split`` (pixels through the encoder's geometry)."""
    import torch

    from cogaze.data.dataset import load_dataset
    from cogaze.data.images import read_image
    from cogaze.tasks.phantom_sets import frontal_split
    from cogaze.tasks.report_generation import ReportItem

    records = frontal_split(load_dataset(data_dir).records, split)
    geometry = encoder.geometry
    return [ReportItem(r.dicom_id, r.subject_id, r.findings.strip(), r.view, r.indication.strip(),
                       r.history.strip(), pixel_values=torch.from_numpy(geometry.transform_image(read_image(r.image_path))))
            for r in records if r.image_path is not None]


@click.command("train-report", context_settings={"ignore_unknown_options": True})
@click.option("--checkpoint", required=True, type=click.Path(), help="Pretraining run folder (frozen encoder).")
@click.option("--data", "data_dir", required=True, type=click.Path(file_okay=False),
              help="A cogaze dataset folder (phantom or MIMIC-CXR layout).")
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False),
              help="Report-generation YAML (configs/report/*.yaml).")
@click.option("--run-dir", required=True, type=click.Path(file_okay=False),
              help="Output folder: config.yaml, tokenizer/, model.safetensors, train_summary.json.")
@click.option("--init-from", type=click.Path(file_okay=False), default=None,
              help="Report run whose weights initialise this one (structured: the free-text run, as the paper).")
@_task_options
@click.argument("overrides", nargs=-1)
def train_report(checkpoint: str, data_dir: str, config_path: str, run_dir: str, init_from: str | None, task: str,
                 srrg_path: str | None, chexpert_dir: str | None, overrides: tuple[str, ...]) -> None:
    """Train a report generator on the train split, selecting the best epoch on val.

    OVERRIDES are ReportGenConfig settings such as train.epochs=2 decoder.num_beams=1. With
    --task structured use a structured config (configs/report/*-structured.yaml).
    """
    from cogaze.config import load_config
    from cogaze.errors import Problems
    from cogaze.tasks.report_generation import ReportGenConfig, train_report_generator
    from cogaze.tasks.results import format_table, write_json_atomic

    extra = [f"init_from={init_from}"] if init_from else []
    config = load_config(ReportGenConfig, config_path, [*overrides, *extra])
    if config.task != task:
        raise ConfigError(f"--task {task} but the config says task: {config.task} (use a "
                          f"{'*-structured.yaml' if task == 'structured' else 'free-text'} config or override task=...)")
    encoder = load_encoder(checkpoint)
    train = task_items(encoder, data_dir, "train", task, srrg_path, chexpert_dir)
    val = task_items(encoder, data_dir, "val", task, srrg_path, chexpert_dir)
    problems = Problems("skip")
    tokenizer = encoder.tokenizer if config.variant == "decoder" else None
    result = train_report_generator(config, encoder, train, val, run_dir, tokenizer=tokenizer, problems=problems)
    summary = {"task": task, "checkpoint": str(Path(checkpoint).resolve()), "data": str(Path(data_dir).resolve()),
               "init_from": config.init_from or None,
               "n_train": len(train), "n_val": len(val), "n_skipped_empty": result.n_skipped_empty,
               "best_score": result.best_score, "history": result.history}
    path = write_json_atomic(summary, Path(run_dir) / "train_summary.json")
    rows = [[h["epoch"], f"{h['train_loss']:.4f}", f"{h['val_score']:.4f}" if "val_score" in h else "-"]
            for h in result.history]
    click.echo(format_table(["epoch", "train_loss", "val_score"], rows))
    unit = "studies" if task == "structured" else "images"
    click.echo(f"{len(train)} train / {len(val)} val {unit}, {result.n_skipped_empty} skipped (empty findings)")
    click.echo(f"wrote {Path(run_dir) / 'model.safetensors'} and {path}")


@click.command("generate")
@click.option("--report-run", required=True, type=click.Path(file_okay=False),
              help="Report-generation run folder (`cogaze train-report --run-dir`).")
@click.option("--checkpoint", required=True, type=click.Path(), help="The pretraining run it was trained on.")
@click.option("--data", "data_dir", required=True, type=click.Path(file_okay=False),
              help="The cogaze dataset folder (its train split is the similar-case / baseline bank).")
@click.option("--split", default="test", show_default=True, type=click.Choice(["train", "val", "test"]))
@click.option("--out", default="reports.csv", show_default=True, type=click.Path(dir_okay=False),
              help="Output CSV (dicom_id, reference_report, generated_report); a summary JSON goes beside it.")
@click.option("--num-beams", type=int, default=None, help="Beam width [default: the run's decoder.num_beams].")
@click.option("--baselines", is_flag=True,
              help="Also write <out stem>_most_common.csv and <out stem>_nearest_neighbour.csv.")
@_task_options
def generate(report_run: str, checkpoint: str, data_dir: str, split: str, out: str, num_beams: int | None,
             baselines: bool, task: str, srrg_path: str | None, chexpert_dir: str | None) -> None:
    """Generate a report per frontal image (structured: per study) of SPLIT and write the CSV
    `cogaze evaluate reports` reads (structured reports keep their line breaks; score with --structured)."""
    from cogaze.config import load_config
    from cogaze.tasks.report_generation import (
        ReportGenConfig,
        generate_reports,
        load_report_generator,
        precompute_features,
    )
    from cogaze.tasks.report_generation.baselines import most_common_report, nearest_neighbour_reports
    from cogaze.tasks.report_generation.output import write_reports_csv
    from cogaze.tasks.results import format_table, write_json_atomic

    run = Path(report_run)
    if not (run / "model.safetensors").is_file() or not (run / "config.yaml").is_file():
        raise ConfigError(f"--report-run {run}: no model.safetensors / config.yaml; pass the folder written by "
                          "`cogaze train-report --run-dir`")
    trained = load_config(ReportGenConfig, run / "config.yaml").task
    if trained != task:
        raise ConfigError(f"--task {task} but {run} was trained with task: {trained}")
    encoder = load_encoder(checkpoint)
    train = task_items(encoder, data_dir, "train", task, srrg_path, chexpert_dir)
    items = task_items(encoder, data_dir, split, task, srrg_path, chexpert_dir)
    generator = load_report_generator(run, encoder, train)
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
    summary = {"task": task, "report_run": str(run.resolve()), "checkpoint": str(Path(checkpoint).resolve()), "split": split,
               "n_reports": len(hyps), "n_empty_generated": empty, "num_beams": num_beams, "files": files}
    json_path = write_json_atomic(summary, Path(out).with_suffix(".json"))
    click.echo(format_table(["system", "csv"], [[k, v] for k, v in files.items()]))
    flag = " --structured" if task == "structured" else ""
    click.echo(f"{len(hyps)} reports ({empty} empty); score with `cogaze evaluate reports{flag} {out}`; "
               f"wrote {json_path}")
