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
from cogaze.tasks.checkpoints import verify_checkpoint
from cogaze.tasks.pretrain.config import PretrainConfig
from cogaze.tasks.pretrain.sources import resolve_sources


def load_weights(model: torch.nn.Module, path: str | Path) -> None:
    """Load a safetensors checkpoint into ``model`` (the frozen backbone may be absent from it).

    Lives here rather than beside the training loop so that loading a run for inference does not import
    Lightning (seconds of start-up for `cogaze predict` and a server)."""
    from safetensors.torch import load_file

    try:
        state = load_file(str(path))
    except Exception as err:  # noqa: BLE001 - safetensors' own error types: report them with the file
        raise ConfigError(f"{path}: not a readable safetensors file ({type(err).__name__}: {err})") from None
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
    if which not in ("best", "last"):
        raise ConfigError(f"which must be 'best' or 'last', got {which!r}")
    folder = _pointed(ckpt_dir, which)
    # The checksums written with the checkpoint (none in checkpoints older than them): a damaged file is
    # an error naming it, never weights that load with flipped bits.
    verify_checkpoint(folder, names=("model.safetensors",))
    config = load_config(PretrainConfig, config_path)
    if (run / "tokenizer").is_dir():  # runs carry their tokenizer (the recorded path may have moved)
        config.model.tokenizer = str(run / "tokenizer")
    resolve_sources(config.model, run)
    tokenizer = load_tokenizer(config.model.tokenizer)
    resolve_text_vocab(config.model, tokenizer)
    model = CoGazeModel(config.model)
    load_weights(model, folder / "model.safetensors")
    return PretrainedCoGaze(model, tokenizer, image_geometry(config.model), run)


def _pointed(ckpt_dir: Path, which: str) -> Path:
    """The checkpoint folder ``which``.json names (``best`` falls back to ``last``), read without a traceback."""
    for name in (which, "last"):
        pointer = ckpt_dir / f"{name}.json"
        if pointer.is_file():
            try:
                return ckpt_dir / str(json.loads(pointer.read_text(encoding="utf-8"))["path"])
            except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as err:
                raise ConfigError(f"{pointer}: unreadable checkpoint pointer ({type(err).__name__}: {err}); "
                                  "`cogaze pretrain --resume` rebuilds it") from None
    raise ConfigError(f"{ckpt_dir.parent}: no checkpoint found (checkpoints/{which}.json missing)")
