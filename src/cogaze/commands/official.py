"""``cogaze import-official``: the authors' released checkpoints as cogaze run folders."""

from __future__ import annotations

import json

import click

from cogaze.logs import verbosity_options


def _common(f):  # noqa: ANN001, ANN202 - click decorator stack
    f = click.option("--allow-unmapped", is_flag=True,
                     help="Import even when the checkpoint has keys cogaze does not know (they are listed and "
                          "recorded in import.json); missing or mis-shaped tensors are always refused.")(f)
    f = click.option("--view-dict", type=click.Path(dir_okay=False, exists=True), default=None,
                     help="The authors' view dictionary (JSON view name -> embedding row) to map the view rows by "
                          "name [default: rows taken in cogaze's order, with a warning].")(f)
    f = click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
                     help="Pretraining config the model is built from [default: the shipped mimic-paper.yaml].")(f)
    f = click.option("--out", required=True, type=click.Path(file_okay=False), help="New output folder.")(f)
    return verbosity_options(f)


@click.group("import-official")
def import_official() -> None:
    """Turn the authors' released CoGaze checkpoints into cogaze run folders (docs/checkpoints.md)."""


@import_official.command("pretrain", context_settings={"ignore_unknown_options": True})
@click.argument("checkpoint", type=click.Path(dir_okay=False))
@_common
@click.argument("overrides", nargs=-1)
def pretrain(checkpoint: str, out: str, config_path: str | None, view_dict: str | None, allow_unmapped: bool,
             overrides: tuple[str, ...]) -> None:
    """The pretraining checkpoint (mimic_pretrain_best_model.pt) -> a run folder for --checkpoint.

    OVERRIDES are dotlist settings of the config, e.g. model.vision.source=DIR model.tokenizer=DIR.
    """
    from cogaze import api

    summary = api.import_official("pretrain", checkpoint, out, config=config_path, overrides=overrides,
                                  view_dict=view_dict, allow_unmapped=allow_unmapped)
    click.echo(json.dumps(summary, indent=2))
    click.echo(f"use it with --checkpoint {out} (explain, zeroshot, retrieve, finetune, train-report)")


@import_official.command("report", context_settings={"ignore_unknown_options": True})
@click.argument("checkpoint", type=click.Path(dir_okay=False))
@click.option("--pretrain", "pretrain_checkpoint", required=True, type=click.Path(dir_okay=False),
              help="The released pretraining checkpoint: the report model's disease heads and temperatures.")
@click.option("--report-config", type=click.Path(dir_okay=False), default=None,
              help="Report config the decoder is built from [default: the shipped mimic-distilgpt2.yaml].")
@click.option("--report-set", "report_overrides", multiple=True, metavar="KEY=VALUE",
              help="Dotlist override of the report config (repeatable), e.g. decoder.num_beams=3.")
@_common
@click.argument("overrides", nargs=-1)
def report(checkpoint: str, pretrain_checkpoint: str, report_config: str | None, report_overrides: tuple[str, ...],
           out: str, config_path: str | None, view_dict: str | None, allow_unmapped: bool,
           overrides: tuple[str, ...]) -> None:
    """The DistilGPT2 report checkpoint -> OUT/encoder (its fine-tuned encoder) and OUT/report (its decoder).

    OVERRIDES are dotlist settings of the pretraining config, as for `import-official pretrain`.
    """
    from cogaze import api

    summary = api.import_official("report", checkpoint, out, pretrain_checkpoint=pretrain_checkpoint,
                                  config=config_path, overrides=overrides, report_config=report_config,
                                  report_overrides=report_overrides, view_dict=view_dict,
                                  allow_unmapped=allow_unmapped)
    click.echo(json.dumps(summary, indent=2))
    click.echo(f"generate with: cogaze generate --checkpoint {summary['encoder']} --report-run {summary['report']} "
               "--data DATA_DIR")
