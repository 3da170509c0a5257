"""``cogaze predict``: disease probabilities, a draft report, gaze maps and similar cases for your own images.

Thin over :func:`cogaze.api.predict_paths` (docs/predict.md).
"""

from __future__ import annotations

import json

import click

from cogaze.logs import show_progress, verbosity_options


@click.command("predict")
@verbosity_options
@click.argument("inputs", nargs=-1, required=True, type=click.Path())
@click.option("--checkpoint", required=True, type=click.Path(), help="Pretraining run folder (`cogaze pretrain`).")
@click.option("--report-model", type=click.Path(file_okay=False), default=None,
              help="Report-generation run folder (`cogaze train-report`); without it no draft report is written.")
@click.option("--index", type=click.Path(), default=None,
              help="Similar cases: a cogaze dataset folder (its --index-split images are encoded) or an index "
              "saved by an earlier run (OUT/similar_cases_index.json).")
@click.option("--index-split", "index_splits", multiple=True, default=("train",), show_default=True,
              help="Split(s) of the --index folder to search (repeat for several).")
@click.option("--indication-csv", type=click.Path(dir_okay=False), default=None,
              help="CSV with an 'image' column (name or file name) and 'indication', 'history' and/or 'view'.")
@click.option("--batch-size", type=int, default=16, show_default=True, help="Images per model batch.")
@click.option("--top-k", type=int, default=5, show_default=True, help="Similar cases per image.")
@click.option("--fixations", type=int, default=10, show_default=True, help="Length of the predicted scanpath.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the scanpath sampler.")
@click.option("--num-beams", type=int, default=None, help="Beam width of the report model [default: its config].")
@click.option("--device", default="cpu", show_default=True, help="torch device (cpu, cuda, cuda:1, ...).")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Output folder: predictions.csv, one folder per image, predict_summary.json.")
def predict(inputs: tuple[str, ...], checkpoint: str, report_model: str | None, index: str | None,
            index_splits: tuple[str, ...], indication_csv: str | None, batch_size: int, top_k: int, fixations: int,
            seed: int, num_beams: int | None, device: str, out_dir: str) -> None:
    """Predict on INPUT files or folders (searched recursively) of PNG / JPG / DICOM chest X-rays.

    Writes OUT/predictions.csv (one row per file: status "ok" or why it could not be read, view, draft
    report, the 14 disease probabilities, similar cases) and per image an explanation folder (one gaze map
    per report sentence, the text-free map, a scanpath). A file that cannot be read never stops the run.
    """
    from cogaze import api

    summary = api.predict_paths(list(inputs), checkpoint, out_dir, report_model=report_model, index=index,
                                indication_csv=indication_csv, batch_size=batch_size, top_k=top_k,
                                index_splits=index_splits, device=device, fixations=fixations, seed=seed,
                                num_beams=num_beams, progress=show_progress())
    click.echo(json.dumps({k: summary[k] for k in ("n_inputs", "n_ok", "not_processed", "csv", "seconds")},
                          indent=2))
