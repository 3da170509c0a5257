"""``cogaze ablate``: the paper's ablations (full CoGaze vs without gaze / context, single positive,
gaze as mask) pretrained over seeds and scored; a table of means with 95 % CIs (issue 9 item 3)."""

from __future__ import annotations

import click

from cogaze.logs import verbosity_options


@click.command(context_settings={"ignore_unknown_options": True})
@verbosity_options
@click.argument("data_dir", type=click.Path(file_okay=False))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Output folder: one run per variant and seed, ablations.json, ablations.csv.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="Pretraining YAML [default: the shipped configs/pretrain/phantom-tiny.yaml].")
@click.option("--tokenizer", "tokenizer_dir", type=click.Path(file_okay=False), default=None,
              help="Tokenizer folder [default: train one on DATA_DIR's train split into OUT/tokenizer].")
@click.option("--seeds", type=click.IntRange(min=1), default=3, show_default=True,
              help="Seeds per variant (trainer.seed = the config's seed + 0..N-1).")
@click.option("--epochs", type=click.IntRange(min=1), default=6, show_default=True, help="Pretraining epochs of every run.")
@click.option("--variant", "variants", multiple=True,
              help="Variant to run, by name or slug (repeatable) [default: all]; e.g. without-gaze.")
@click.option("--probe-epochs", type=click.IntRange(min=1), default=None, help="Linear-probe epochs of the scoring [default: 30].")
@click.argument("overrides", nargs=-1)
def ablate(data_dir: str, out_dir: str, config_path: str | None, tokenizer_dir: str | None, seeds: int,
           epochs: int, variants: tuple[str, ...], probe_epochs: int | None, overrides: tuple[str, ...]) -> None:
    """Pretrain each ablation variant on DATA_DIR over seeds; score gaze alignment (NSS, sAUC), retrieval
    P@1, zero-shot and linear-probe AUROC; print means with 95 % Student-t CIs over seeds.

    OVERRIDES are dotlist settings applied to every run, such as data.batch_size=8.
    """
    from cogaze.errors import ConfigError
    from cogaze.tasks.ablation import resolve_variants, run_ablations

    try:
        names = resolve_variants(variants)
    except ConfigError as err:  # a usage error naming the valid variants, before any training
        raise click.BadParameter(str(err), param_hint="--variant") from None
    result = run_ablations(data_dir, out_dir, config_path, tokenizer_dir, seeds=seeds, epochs=epochs,
                           variants=names, overrides=overrides, probe_epochs=probe_epochs)
    click.echo(result.table())
    if result.note:
        click.echo(f"note: {result.note}")
    click.echo(f"wrote {out_dir}/ablations.json and {out_dir}/ablations.csv")
