"""Model sources: a local folder or a Hugging Face hub id, resolved the same way.

A hub id is read from the local Hugging Face cache (``HF_HOME`` / ``HF_HUB_CACHE``) when the files are
there, offline with ``HF_HUB_OFFLINE=1``; online it may download them. :func:`model_file` finds one
file of a source without raising, :func:`weights_error` turns a failed weight load into one clear
message that names the file (a pickled ``pytorch_model.bin`` is refused, never executed).
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

from cogaze.errors import ConfigError

WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")


def looks_local(source: str) -> bool:
    """A path rather than a hub id: an existing folder, absolute, ``./`` / ``../`` / ``~``, or more than one ``/``."""
    return (Path(source).expanduser().is_dir() or source.startswith(("/", ".", "~")) or source.count("/") > 1
            or (os.sep != "/" and os.sep in source))


def model_file(source: str, filename: str) -> Path | None:
    """``filename`` of a local model folder or of a hub id (local cache first; None when absent)."""
    if looks_local(source):
        path = Path(source).expanduser() / filename
        return path if path.is_file() else None
    from transformers.utils import cached_file

    try:
        found = cached_file(source, filename, _raise_exceptions_for_missing_entries=False,
                            _raise_exceptions_for_connection_errors=False)
    except (OSError, ValueError):
        return None
    return Path(found) if found else None


def where(source: str) -> str:
    """Words for where a source was looked up (for error messages)."""
    if looks_local(source):
        return f"the folder {source}"
    from huggingface_hub import constants

    return f"the hub id {source} (Hugging Face cache {constants.HF_HUB_CACHE}" + (
        ", offline)" if constants.HF_HUB_OFFLINE else ")")


def _weights_file(source: str) -> str:
    found = [model_file(source, name) for name in WEIGHT_FILES]
    names = [str(p) for p in found if p is not None]
    return " / ".join(names) if names else f"the weights of {source}"


def weights_error(source: str, err: BaseException) -> ConfigError:
    """A clear error for weights that could not be read (pickle refused, damaged safetensors, missing files)."""
    file = _weights_file(source)
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    if isinstance(err, pickle.UnpicklingError) or "weights only load failed" in text.lower():
        return ConfigError(f"{file}: refused: the file holds pickled Python objects, not only tensors, and cogaze never "
                           "runs pickled code (torch.load weights_only=True). Use the model's model.safetensors, or "
                           "convert the file with a tool you trust")
    if type(err).__name__ == "SafetensorError":
        return ConfigError(f"{file}: not a readable safetensors file ({text}); it is damaged or incomplete: "
                           "download it again")
    if isinstance(err, OSError):
        return ConfigError(f"cannot load weights from {where(source)}: {text}")
    return ConfigError(f"{file}: cannot load the weights ({type(err).__name__}: {text})")
