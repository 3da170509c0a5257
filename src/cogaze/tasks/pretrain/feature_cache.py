"""Frozen-encoder feature cache: encode every image once, train from a memory-mapped fp16 store.

A frozen vision backbone (spec 2.1) gives the same tokens for an image at every epoch, so
``model.vision.cache_features=true`` runs it once per image and stores its ``last_hidden_state``
(1+P, Dv) rows, the exact input of :meth:`CoGazeModel.forward` (``batch["vision_features"]``).

Layout (a folder, e.g. ``RUN_DIR/vision_features/``):

* ``features-<fp16>.npy`` - one (N, 1+P, Dv) float16 (or float32) array, read with ``np.load(mmap_mode="r")``;
* ``index.json`` - format tag, fingerprint, dtype, shape, the array's file name and the dicom_ids in row order.

The fingerprint hashes the backbone's resolved config and weights, the image geometry, the dtype and
every image's id, path, size and mtime, so a cache is reused only for the same encoder and the same
images and rebuilt otherwise. Both files are written atomically (temp file + ``os.replace``); the array
file carries the fingerprint in its name, so a crash can never pair an index with another build's array.
numpy's ``.npy`` format is used because it memory-maps without copying and never unpickles
(``allow_pickle=False``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from cogaze.checksums import Fingerprint
from cogaze.data.geometry import ImageGeometry
from cogaze.data.pixels import ModelImages
from cogaze.data.records import ImageRecord
from cogaze.errors import DataError
from cogaze.io import atomic_write_text
from cogaze.models.backbones import vision_tokens

FORMAT = "cogaze-feature-cache/1"
INDEX = "index.json"
DTYPES = {"float16": np.float16, "float32": np.float32}


@dataclass(frozen=True)
class FeatureBuildResult:
    """What :func:`build_feature_cache` did."""

    path: Path
    rebuilt: bool
    images: int
    shape: tuple[int, ...]


def _unique_records(records: Sequence[ImageRecord]) -> list[ImageRecord]:
    seen: dict[str, ImageRecord] = {}
    for rec in records:
        if rec.image_path is None:
            raise DataError(f"record {rec.dicom_id} has no image path")
        seen.setdefault(rec.dicom_id, rec)
    return list(seen.values())


def weights_digest(backbone: nn.Module) -> str:
    """sha256 over the backbone's state dict (names, shapes, bytes)."""
    h = Fingerprint()
    for name, tensor in sorted(backbone.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        h.add_bytes(f"{name}:{tuple(t.shape)}:{t.dtype}".encode())
        h.add_bytes(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")  # 0-d: BN counters
    return h.hexdigest()


def _decode_tag(images: ModelImages) -> dict[str, Any]:
    if images.store is not None:
        return {"store": str(images.store.folder.resolve()), "size": images.store.size, **images.store.decode}
    return {"fast": images.fast}


def feature_fingerprint(records: Sequence[ImageRecord], backbone: nn.Module, geometry: ImageGeometry,
                        dtype: str, images: ModelImages | None = None) -> str:
    """The fingerprint a cache must carry to be reused (see the module docstring)."""
    config = getattr(backbone, "config", None)
    cfg = config.to_dict() if config is not None else {}
    images = images or ModelImages(geometry)
    settings = {"format": FORMAT, "dtype": dtype, "geometry": dataclasses.asdict(geometry),
                "decode": _decode_tag(images),
                "backbone": {k: v for k, v in cfg.items() if not k.startswith("_")},
                "weights": weights_digest(backbone)}
    h = Fingerprint(settings, json_default=str)
    for rec in _unique_records(records):
        path = Path(rec.image_path)  # type: ignore[arg-type]
        try:
            st = path.stat()
        except OSError:
            raise DataError("image file not found", path) from None
        h.add_json([rec.dicom_id, str(path), st.st_size, st.st_mtime_ns])
    return h.hexdigest()


def _read_index(folder: Path) -> dict[str, Any]:
    path = folder / INDEX
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError("feature cache index not found", path) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataError(f"corrupt feature cache index: {err}", path) from None
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        raise DataError(f"not a cogaze feature cache (expected format {FORMAT})", path)
    return info


def _open_array(folder: Path, info: dict[str, Any]) -> np.ndarray:
    path = folder / str(info.get("array", ""))
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except FileNotFoundError:
        raise DataError("feature cache array not found", path) from None
    except (OSError, ValueError) as err:
        raise DataError(f"corrupt feature cache array: {err}", path) from None
    if tuple(arr.shape) != tuple(info.get("shape", ())) or arr.dtype != np.dtype(info.get("dtype", "")):
        raise DataError(f"feature cache array is {arr.dtype}{tuple(arr.shape)}, index says "
                        f"{info.get('dtype')}{tuple(info.get('shape', ()))}", path)
    return arr


class FeatureCache:
    """Read side: ``cache.features(dicom_id)`` -> float32 tensor (1+P, Dv) from the memory map.

    The map is opened lazily per process (DataLoader workers each open their own).
    """

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.info = _read_index(self.folder)
        self.rows = {d: i for i, d in enumerate(self.info["ids"])}
        self._array: np.ndarray | None = None
        _open_array(self.folder, self.info)  # fail now, naming the file, if it is missing or corrupt

    @property
    def fingerprint(self) -> str:
        return str(self.info["fingerprint"])

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_array": None}

    def __len__(self) -> int:
        return len(self.rows)

    def __contains__(self, dicom_id: str) -> bool:
        return dicom_id in self.rows

    def features(self, dicom_id: str) -> torch.Tensor:
        if dicom_id not in self.rows:
            raise DataError(f"image {dicom_id} is not in the feature cache", self.folder / INDEX)
        if self._array is None:
            self._array = _open_array(self.folder, self.info)
        return torch.from_numpy(np.array(self._array[self.rows[dicom_id]], dtype=np.float32))  # a copy


def _current(folder: Path, fingerprint: str) -> dict[str, Any] | None:
    """The index if ``folder`` holds a complete cache with this fingerprint, else None."""
    try:
        info = _read_index(folder)
        if info.get("fingerprint") != fingerprint:
            return None
        _open_array(folder, info)
        return info
    except DataError:
        return None


def _atomic_text(path: Path, text: str) -> None:
    atomic_write_text(path, text)


@torch.no_grad()
def build_feature_cache(
    records: Sequence[ImageRecord],
    backbone: nn.Module,
    geometry: ImageGeometry,
    folder: str | Path,
    batch_size: int = 32,
    dtype: str = "float16",
    device: str | torch.device = "cpu",
    force: bool = False,
    images: ModelImages | None = None,
) -> FeatureBuildResult:
    """Encode every record's image with the frozen ``backbone`` into ``folder`` (skipped when up to date).

    ``images``: where the images come from (files with a DCT-scaled JPEG decode by default, or a store).
    """
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {sorted(DTYPES)}, got {dtype!r}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    recs = _unique_records(records)
    images = images or ModelImages(geometry)
    fp = feature_fingerprint(recs, backbone, geometry, dtype, images)
    info = None if force else _current(folder, fp)
    if info is not None:
        return FeatureBuildResult(folder, False, len(info["ids"]), tuple(info["shape"]))
    was_training = backbone.training
    backbone.eval()
    name = f"features-{fp[:16]}.npy"
    fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")  # unique: ranks may race
    os.close(fd)
    tmp = Path(tmp_name)
    arr = None
    try:
        for start in range(0, len(recs), max(1, batch_size)):
            chunk = recs[start:start + batch_size]
            pixels = np.stack([geometry.normalise(images.u8(r.dicom_id, r.image_path)[0]) for r in chunk])
            tokens = vision_tokens(backbone, torch.from_numpy(pixels).to(device))
            out = tokens.float().cpu().numpy().astype(DTYPES[dtype])
            if arr is None:
                arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=DTYPES[dtype], shape=(len(recs), *out.shape[1:]))
            arr[start:start + len(chunk)] = out
        if arr is None:
            raise DataError("no images to encode", folder)
        shape = tuple(int(s) for s in arr.shape)
        arr.flush()
        del arr
        os.replace(tmp, folder / name)
    finally:
        tmp.unlink(missing_ok=True)
        backbone.train(was_training)
    index = {"format": FORMAT, "fingerprint": fp, "dtype": dtype, "shape": list(shape), "array": name,
             "ids": [r.dicom_id for r in recs]}
    _atomic_text(folder / INDEX, json.dumps(index))
    for old in folder.glob("features-*.npy"):  # arrays of earlier builds
        if old.name != name:
            old.unlink(missing_ok=True)
    return FeatureBuildResult(folder, True, len(recs), shape)
