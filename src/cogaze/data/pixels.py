"""Model input of an image, from its file or from a prepared image store (``cogaze data prepare``).

:class:`ModelImages` answers ``u8(key, path)``: the uint8 (S, S) grey image after the model's
shortest-edge resize and centre crop (``cogaze.data.geometry``), not yet normalised, plus the image's
:class:`~cogaze.data.geometry.Layout` (original size, scale and crop, what maps gaze and boxes back).
Normalisation (``/255``, mean, std, three channels) is the last step, on the CPU with
:meth:`ImageGeometry.normalise` or on the accelerator with :func:`normalise_batch` (equal bit for bit):
pretraining ships the uint8 images through its DataLoader (12x less than float32 x 3) and normalises
them on the device.

From files, a JPEG is decoded with DCT scaling (``fast=True``, :func:`read_image_scaled`); from a
store, the stored resize is cropped (a store at the model's size gives exactly the tensors its
``prepare`` decode gives from the files). A store prepared at a larger size is resized once more to
the model's layout (same crop, pixel values within a few grey levels; see docs/scaling.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from cogaze.data.geometry import ImageGeometry, Layout
from cogaze.data.images import MIN_IMAGE_SIDE, read_image_scaled
from cogaze.errors import DataError

if TYPE_CHECKING:
    from cogaze.data.store import ImageStore


class ModelImages:
    """Model-ready grey images of ``geometry`` from files (``fast``: DCT-scaled JPEG decode) or ``store``."""

    def __init__(self, geometry: ImageGeometry, store: ImageStore | None = None, fast: bool = True) -> None:
        self.geometry = geometry
        self.store = store
        self.fast = fast
        if store is not None:
            store.check_size(geometry.size)

    def u8(self, key: str, path: str | Path | None) -> tuple[np.ndarray, Layout]:
        """(uint8 (S, S), layout) of image ``key`` (the store's key, e.g. a dicom_id) at ``path``."""
        if self.store is not None:
            return self.store.model_u8(key, self.geometry)
        if path is None:
            raise DataError(f"image {key}: no image path")
        resized, lay = resized_image(path, self.geometry, self.fast)
        return np.ascontiguousarray(self.geometry.crop(resized, lay.width, lay.height)), lay

    def pixels(self, key: str, path: str | Path | None) -> torch.Tensor:
        """float32 (3, S, S) normalised model input."""
        return torch.from_numpy(self.geometry.normalise(self.u8(key, path)[0]))


def resized_image(path: str | Path, geometry: ImageGeometry, fast: bool = True) -> tuple[np.ndarray, Layout]:
    """(uint8 (resized_height, resized_width) shortest-edge resize of ``path`` for ``geometry``, layout)."""
    arr, (width, height) = read_image_scaled(path, geometry.size if fast else None)
    if min(width, height) < MIN_IMAGE_SIDE:
        raise DataError(f"image is only {width}x{height} pixels (shorter side below the minimum of "
                        f"{MIN_IMAGE_SIDE})", path)
    return geometry.resize(arr, width, height), geometry.layout(width, height)


def normalise_batch(images: torch.Tensor, geometry: ImageGeometry) -> torch.Tensor:
    """uint8 (B, S, S) grey images -> float32 (B, 3, S, S) on their device, as :meth:`ImageGeometry.normalise`."""
    if images.dtype != torch.uint8 or images.ndim != 3:
        raise ValueError(f"expected uint8 (B, S, S) images, got {images.dtype} {tuple(images.shape)}")
    mean = torch.tensor(geometry.mean, dtype=torch.float32, device=images.device).view(1, 3, 1, 1)
    std = torch.tensor(geometry.std, dtype=torch.float32, device=images.device).view(1, 3, 1, 1)
    x = images.to(torch.float32).unsqueeze(1) / 255.0
    return ((x - mean) / std).contiguous()
