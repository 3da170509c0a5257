"""Load what a run folder holds: the pretrained encoder and a trained report generator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cogaze.errors import ConfigError


def load_encoder(checkpoint: str | Path, which: str = "best") -> Any:
    """The pretrained encoder of a ``cogaze pretrain`` run folder (best-by-val checkpoint by default).

    ConfigError for anything else: a missing path, a file, an empty folder, a report-generation run.
    The run's backbone, tokenizer and parent paths are resolved from the run folder, so a copied or moved
    run folder loads from any working directory.
    """
    import yaml

    from cogaze.tasks.pretrain.pretrained import load_pretrained

    path = Path(checkpoint)
    if not path.is_dir():
        raise ConfigError(f"checkpoint {path}: not a folder; pass the run folder written by `cogaze pretrain`")
    config = path / "config.yaml"
    if config.is_file():
        try:
            data = yaml.safe_load(config.read_text(encoding="utf-8"))
        except yaml.YAMLError as err:
            raise ConfigError(f"{config}: malformed YAML: {err}") from None
        if isinstance(data, dict) and "variant" in data and "model" not in data:
            raise ConfigError(f"checkpoint {path} is a report-generation run (written by `cogaze train-report`),"
                              " not a pretraining run; pass the run folder written by `cogaze pretrain`")
    return load_pretrained(path, which=which)


def load_report_model(report_run: str | Path, encoder: Any, train_items: list | None = None) -> Any:
    """The report generator of a ``cogaze train-report`` run folder, on ``encoder``.

    ``train_items`` (the training examples) give the similar-case bank the generator's nearest-neighbour
    baseline and retrieval use; without them the generator still decodes.
    """
    from cogaze.tasks.report_generation import load_report_generator

    run = Path(report_run)
    if not (run / "model.safetensors").is_file() or not (run / "config.yaml").is_file():
        raise ConfigError(f"report run {run}: no model.safetensors / config.yaml; pass the folder written by "
                          "`cogaze train-report --run-dir`")
    return load_report_generator(run, encoder, train_items or [])
