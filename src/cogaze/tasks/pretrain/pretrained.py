"""Load a pretraining run folder (``cogaze pretrain`` output) as a :class:`PretrainedCoGaze`."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from cogaze.config import load_config
from cogaze.errors import ConfigError
from cogaze.models.cogaze import CoGazeModel, resolve_text_vocab
from cogaze.models.pretrained import PretrainedCoGaze, image_geometry
from cogaze.models.tokenizer import load_tokenizer
from cogaze.tasks.pretrain.config import PretrainConfig
from cogaze.tasks.pretrain.sources import resolve_sources


def load_weights(model: torch.nn.Module, path: str | Path) -> None:
    """Load a safetensors checkpoint into ``model`` (the frozen backbone may be absent from it).

    Lives here rather than beside the training loop so that loading a run for inference does not import
    Lightning (seconds of start-up for `cogaze predict` and a server)."""
    from safetensors.torch import load_file

    state = load_file(str(path))
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.startswith("vision_backbone.")]
    if missing or unexpected:
        raise ConfigError(f"{path}: checkpoint does not fit the model (missing {missing[:5]}, unexpected {unexpected[:5]})")


def load_pretrained(run_dir: str | Path, which: str = "best") -> PretrainedCoGaze:
    """Load a pretraining run folder (``cogaze pretrain`` output) as a :class:`PretrainedCoGaze`.

    ``which`` is ``"best"`` (lowest validation loss; falls back to last) or ``"last"``.
    """
    run = Path(run_dir)
    config_path = run / "config.yaml"
    if not config_path.is_file():
        raise ConfigError(f"{run} is not a cogaze pretraining run (no config.yaml): pass the folder "
                          "written by `cogaze pretrain`")
    ckpt_dir = run / "checkpoints"
    pointer = ckpt_dir / f"{which}.json"
    if which not in ("best", "last"):
        raise ConfigError(f"which must be 'best' or 'last', got {which!r}")
    if not pointer.is_file():
        pointer = ckpt_dir / "last.json"
    if not pointer.is_file():
        raise ConfigError(f"{run}: no checkpoint found (checkpoints/{which}.json missing)")
    config = load_config(PretrainConfig, config_path)
    if (run / "tokenizer").is_dir():  # runs carry their tokenizer (the recorded path may have moved)
        config.model.tokenizer = str(run / "tokenizer")
    resolve_sources(config.model, run)
    tokenizer = load_tokenizer(config.model.tokenizer)
    resolve_text_vocab(config.model, tokenizer)
    model = CoGazeModel(config.model)
    load_weights(model, ckpt_dir / json.loads(pointer.read_text())["path"] / "model.safetensors")
    return PretrainedCoGaze(model, tokenizer, image_geometry(config.model), run)
