"""``cogaze train-report`` and ``cogaze generate``: report generation from a pretraining run (docs/reports.md).

Thin over :mod:`cogaze.api.reports`. Examples are the frontal images of a cogaze dataset folder (phantom or
MIMIC-CXR layout) with their findings section as the target; the encoder is frozen. ``generate`` writes
the CSV ``cogaze evaluate reports`` reads (dicom_id, reference_report, generated_report) and, with
``--baselines``, the most-common-report and nearest-neighbour baselines beside it. ``--task structured``:
one example per study of an SRRG annotation JSON (structured findings; context = history), scored with
``cogaze evaluate reports --structured``.
"""

from __future__ import annotations

from pathlib import Path

import click

from cogaze.commands.tasks import store_option
from cogaze.logs import verbosity_options

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


@click.command("train-report", context_settings={"ignore_unknown_options": True})
@verbosity_options
@store_option
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
def train_report(store: str | None, checkpoint: str, data_dir: str, config_path: str, run_dir: str,
                 init_from: str | None, task: str, srrg_path: str | None, chexpert_dir: str | None,
                 overrides: tuple[str, ...]) -> None:
    """Train a report generator on the train split, selecting the best epoch on val.

    OVERRIDES are ReportGenConfig settings such as train.epochs=2 decoder.num_beams=1. With
    --task structured use a structured config (configs/report/*-structured.yaml).
    """
    from cogaze import api
    from cogaze.tasks.results import format_table

    summary = api.train_report(checkpoint, data_dir, config_path, run_dir, overrides, store=store, task=task,
                               init_from=init_from, srrg_path=srrg_path, chexpert_dir=chexpert_dir)
    rows = [[h["epoch"], f"{h['train_loss']:.4f}", f"{h['val_score']:.4f}" if "val_score" in h else "-"]
            for h in summary["history"]]
    click.echo(format_table(["epoch", "train_loss", "val_score"], rows))
    unit = "studies" if task == "structured" else "images"
    click.echo(f"{summary['n_train']} train / {summary['n_val']} val {unit}, {summary['n_skipped_empty']} skipped "
               "(empty findings)")
    click.echo(f"wrote {Path(run_dir) / 'model.safetensors'} and {Path(run_dir) / 'train_summary.json'}")


@click.command("generate")
@verbosity_options
@store_option
@click.option("--report-run", required=True, type=click.Path(file_okay=False),
              help="Report-generation run folder (`cogaze train-report --run-dir`).")
@click.option("--checkpoint", required=True, type=click.Path(), help="The pretraining run it was trained on.")
@click.option("--data", "data_dir", required=True, type=click.Path(file_okay=False),
              help="The cogaze dataset folder (its train split is the similar-case / baseline bank).")
@click.option("--split", default="test", show_default=True, type=click.Choice(["train", "val", "test"]))
@click.option("--out", default="reports.csv", show_default=True, type=click.Path(dir_okay=False),
              help="Output CSV (dicom_id, reference_report, generated_report); a summary JSON goes beside it.")
@click.option("--num-beams", type=click.IntRange(min=1), default=None, help="Beam width [default: the run's decoder.num_beams].")
@click.option("--baselines", is_flag=True,
              help="Also write <out stem>_most_common.csv and <out stem>_nearest_neighbour.csv.")
@_task_options
def generate(store: str | None, report_run: str, checkpoint: str, data_dir: str, split: str, out: str,
             num_beams: int | None, baselines: bool, task: str, srrg_path: str | None, chexpert_dir: str | None) -> None:
    """Generate a report per frontal image of SPLIT and write the CSV `cogaze evaluate reports` reads."""
    from cogaze import api
    from cogaze.tasks.results import format_table

    summary = api.generate(report_run, checkpoint, data_dir, split, out, num_beams, baselines, store=store, task=task,
                           srrg_path=srrg_path, chexpert_dir=chexpert_dir)
    click.echo(format_table(["system", "csv"], [[k, v] for k, v in summary["files"].items()]))
    click.echo(f"{summary['n_reports']} reports ({summary['n_empty_generated']} empty); score with "
               f"`cogaze evaluate reports{' --structured' if task == 'structured' else ''} {out}`; wrote {summary['summary_file']}")
