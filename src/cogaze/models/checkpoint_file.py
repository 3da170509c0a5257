"""Read a checkpoint file into a flat ``{name: tensor}`` dict without ever running pickled code.

``.safetensors`` files are read with safetensors; anything else with ``torch.load(weights_only=True)``,
which refuses pickled classes and functions. A ``{"state_dict": ...}`` wrapper (the reference code's
checkpoints, Lightning's) is unwrapped. Every failure is a :class:`~cogaze.errors.DataError` naming the
file: a pickle payload, a damaged or truncated file, a file that holds no tensors.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import torch
from torch import Tensor

from cogaze.errors import DataError

PICKLE_REFUSED = ("refused: the file holds pickled Python objects (classes or functions), not only tensors, and "
                  "cogaze never runs pickled code (torch.load weights_only=True). Load it only if you trust it, "
                  "re-save its state_dict as plain tensors, and try again")


def read_state_dict(path: str | Path) -> dict[str, Tensor]:
    """The flat state dict of a checkpoint (``.safetensors``, or a torch file read with ``weights_only``)."""
    path = Path(path)
    if not path.is_file():
        raise DataError("checkpoint not found", path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except Exception as err:  # noqa: BLE001 - SafetensorError and friends: one clear message
            raise DataError(f"not a readable safetensors file ({_first_line(err)}): damaged or incomplete", path) from None
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if "weights only load failed" in str(err).lower():
            raise DataError(PICKLE_REFUSED, path) from None
        raise DataError(f"not a torch checkpoint ({_first_line(err)})", path) from None
    except Exception as err:  # noqa: BLE001 - truncated zip, wrong format: one clear message
        raise DataError(f"cannot read checkpoint, damaged or not a torch file ({type(err).__name__}: "
                        f"{_first_line(err)})", path) from None
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise DataError(f"holds a {type(obj).__name__}, not a state dict (expected {{'state_dict': {{name: tensor}}}})",
                        path)
    bad = sorted(str(k) for k, v in obj.items() if not isinstance(k, str) or not isinstance(v, Tensor))
    if bad:
        raise DataError(f"not a state dict of tensors: {len(bad)} entries are no tensors ({', '.join(bad[:5])})", path)
    if not obj:
        raise DataError("the state dict is empty (no weights)", path)
    return obj


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
