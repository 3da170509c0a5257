"""``cogaze pretrain``: pretrain CoGaze on a dataset folder from a YAML config with dotlist overrides."""

from __future__ import annotations

import json

import click

from cogaze.logs import verbosity_options


@click.command(context_settings={"ignore_unknown_options": True})
@verbosity_options
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="YAML config (configs/pretrain/*.yaml).")
@click.option("--data", "data_dir", type=click.Path(file_okay=False), help="Dataset folder (docs/formats.md).")
@click.option("--run-dir", type=click.Path(file_okay=False), default="runs/pretrain", show_default=True,
              help="Output folder: config, metrics.jsonl, checkpoints, summary.json.")
@click.option("--resume", "resume_dir", type=click.Path(file_okay=False), default=None,
              help="Continue this run folder from its last checkpoint (overrides still apply).")
@click.option("--gaze-cache", type=click.Path(dir_okay=False), default=None,
              help="Gaze cache file to use/build (default: RUN_DIR/gaze.safetensors).")
@click.option("--store", type=click.Path(file_okay=False), default=None,
              help="Prepared image store of the dataset (`cogaze data prepare`); same as data.store=STORE.")
@click.option("--on-error", type=click.Choice(["raise", "skip"]), default="raise", show_default=True,
              help="Bad data rows: stop with an error, or skip and count them.")
@click.argument("overrides", nargs=-1)
def pretrain(config_path: str | None, data_dir: str | None, run_dir: str, resume_dir: str | None,
             gaze_cache: str | None, store: str | None, on_error: str, overrides: tuple[str, ...]) -> None:
    """Pretrain CoGaze. OVERRIDES are dotlist settings such as trainer.max_epochs=3 model.loss.gaze=none."""
    from cogaze.config import load_config
    from cogaze.errors import ConfigError
    from cogaze.tasks.pretrain.config import PretrainConfig
    from cogaze.tasks.pretrain.pipeline import pretrain as run_pretrain
    from cogaze.tasks.pretrain.pipeline import resume_pretrain
    from cogaze.tasks.pretrain.run import is_launch_rank_zero

    if store:
        overrides = (*overrides, f"data.store={store}")
    if resume_dir:
        summary = resume_pretrain(resume_dir, overrides, on_error)  # type: ignore[arg-type]
    else:
        if not config_path:
            raise ConfigError("--config is required (e.g. configs/pretrain/phantom-tiny.yaml)")
        config = load_config(PretrainConfig, config_path, overrides)
        data = data_dir or config.data.root
        if not data:
            raise ConfigError("no dataset: pass --data DIR or set data.root")
        summary = run_pretrain(config, data, run_dir, gaze_cache, on_error)  # type: ignore[arg-type]
    if is_launch_rank_zero():  # DDP: the other ranks re-run this command; one summary is enough
        click.echo(json.dumps(summary, indent=2))
