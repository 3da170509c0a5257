"""``cogaze backbone train``: pretrain the small frozen vision backbone that phantom configs load."""

from __future__ import annotations

import click

from cogaze.logs import show_progress, verbosity_options


@click.group()
def backbone() -> None:
    """Vision backbone pretraining (the phantom's stand-in for Rad-DINO)."""


@backbone.command("train", context_settings={"ignore_unknown_options": True})
@verbosity_options
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Output folder (transformers format; load it with model.vision.source=OUT).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="YAML of cogaze.tasks.backbone.BackboneTrainConfig [default: the phantom-tiny ResNet].")
@click.option("--on-error", type=click.Choice(["raise", "skip"]), default="raise", show_default=True,
              help="Bad data rows and undecodable images: stop with an error, or skip and count them.")
@click.argument("overrides", nargs=-1)
def train(data_dir: str, out_dir: str, config_path: str | None, on_error: str, overrides: tuple[str, ...]) -> None:
    """Train on DATA_DIR's train split (labels), select on its val split. OVERRIDES: dotlist, e.g. epochs=4.

    Use a corpus other than the one CoGaze is pretrained and evaluated on (for the phantom: another
    seed), as Rad-DINO was trained on other data.
    """
    from cogaze.config import load_config
    from cogaze.data.dataset import load_dataset
    from cogaze.data.image_check import drop_broken_images
    from cogaze.data.records import RecordSet
    from cogaze.tasks.backbone import BackboneTrainConfig, train_backbone

    cfg = load_config(BackboneTrainConfig, config_path, overrides)
    loaded = load_dataset(data_dir, on_error=on_error)  # type: ignore[arg-type]
    records = loaded.records
    if on_error == "skip":  # leave undecodable images out (each logged, counted)
        records = RecordSet(drop_broken_images(list(records), loaded.problems, progress=show_progress()))
    if loaded.problems.n_skipped:
        click.echo(f"{loaded.problems.n_skipped} item(s) skipped (--on-error skip; logged above)")
    result = train_backbone(list(records.split("train")), list(records.split("val")), out_dir, cfg)  # per-epoch lines: the log
    click.echo(f"backbone -> {result.out_dir} (best epoch {result.best_epoch}, val mean AUROC "
               f"{result.best_val_auroc:.3f}, {result.n_train} train / {result.n_val} val images)")
