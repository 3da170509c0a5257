"""Patch-grid maps back onto the original image: the inverse of the shared resize + centre crop.

The encoder sees the centre S x S crop of the image resized so its shortest edge is S
(:class:`cogaze.data.geometry.ImageGeometry`); its ``grid x grid`` patch map covers that crop, patch
``(r, c)`` the crop pixels ``[c S/g, (c+1) S/g) x [r S/g, (r+1) S/g)``. A raster over the original
image frame (any size, e.g. the original W x H) is filled by sampling the patch map at the centre of
each raster cell pushed through the forward geometry:

* ``"bilinear"`` (default): linear interpolation between patch centres (clamped at the crop border),
  so the map is smooth and its maximum sits exactly at the centre of the most similar patch;
* ``"nearest"``: the value of the patch the cell centre falls in (a blocky map, mass kept per patch).

Cells whose centre falls outside the crop (the parts of a non-square image cut away before the encoder
saw it) get **zero**: the model has no evidence there. Both modes are separable linear operators
``W_y @ patch_map @ W_x.T``, so a full-resolution map costs two small matrix products.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from cogaze.data.geometry import (
    ImageGeometry,
    unflatten_square,  # noqa: F401  (re-exported)
)

Interpolation = Literal["bilinear", "nearest"]


def _axis_weights(n_out: int, n_src: int, scale: float, offset: int, size: int, grid: int,
                  interpolation: Interpolation) -> np.ndarray:
    """(n_out, grid): weights of the patch columns (or rows) for each raster column (or row)."""
    centre = (np.arange(n_out) + 0.5) * (n_src / n_out)  # original-pixel coordinate of each cell centre
    u = centre * scale - offset  # crop-pixel coordinate
    inside = (u >= 0) & (u < size)
    out = np.zeros((n_out, grid))
    rows = np.flatnonzero(inside)
    if interpolation == "nearest":
        col = np.clip(np.floor(u[rows] * grid / size).astype(int), 0, grid - 1)
        out[rows, col] = 1.0
        return out
    if interpolation != "bilinear":
        raise ValueError(f"interpolation must be 'bilinear' or 'nearest', got {interpolation!r}")
    g = np.clip(u[rows] * grid / size - 0.5, 0.0, grid - 1.0)  # in patch-centre units
    lo = np.floor(g).astype(int)
    hi = np.minimum(lo + 1, grid - 1)
    frac = g - lo
    np.add.at(out, (rows, lo), 1.0 - frac)
    np.add.at(out, (rows, hi), frac)
    return out


def backprojection_operator(geometry: ImageGeometry, image_size: tuple[int, int], grid: int,
                            out_size: tuple[int, int] | None = None,
                            interpolation: Interpolation = "bilinear") -> tuple[np.ndarray, np.ndarray]:
    """(W_y (H_out, grid), W_x (W_out, grid)) with ``raster = W_y @ patch_map @ W_x.T``.

    ``image_size`` is the original (width, height); ``out_size`` the (width, height) of the raster
    covering the same frame (default: the original size).
    """
    width, height = (int(v) for v in image_size)
    out_w, out_h = (width, height) if out_size is None else (int(v) for v in out_size)
    if min(out_w, out_h, grid) <= 0:
        raise ValueError(f"bad raster size {out_size} or grid {grid}")
    lay = geometry.layout(width, height)
    wy = _axis_weights(out_h, height, lay.scale_y, lay.top, geometry.size, grid, interpolation)
    wx = _axis_weights(out_w, width, lay.scale_x, lay.left, geometry.size, grid, interpolation)
    return wy, wx


def patch_map_to_image(patch_map: np.ndarray, geometry: ImageGeometry, image_size: tuple[int, int],
                       out_size: tuple[int, int] | None = None, interpolation: Interpolation = "bilinear",
                       normalise: bool = True, dtype: type = np.float64) -> np.ndarray:
    """A (grid, grid) or flat (grid*grid,) patch map -> (H_out, W_out) over the original image frame.

    ``normalise``: scale the result to sum 1 (a probability map over raster cells); an all-zero
    result stays zero. Regions cropped away by the geometry are zero. ``dtype`` of the result (the
    operators and the normalising sum are float64 either way; float32 halves the memory of a
    full-resolution map).
    """
    p = unflatten_square(np.asarray(patch_map, dtype=np.float64), "patch map")
    if p.ndim != 2 or p.shape[0] != p.shape[1]:
        raise ValueError(f"patch map must be a square (grid, grid) array, got shape {p.shape}")
    wy, wx = backprojection_operator(geometry, image_size, p.shape[0], out_size, interpolation)
    if normalise:
        # the raster's sum, from the small operators (sum(W_y P W_x^T) = 1^T W_y P W_x^T 1): the big
        # raster is then written once, already normalised, instead of summed and divided afterwards
        total = float(wy.sum(axis=0) @ p @ wx.sum(axis=0))
        if total > 0:
            p = p / total
    return (wy @ p).astype(dtype, copy=False) @ wx.T.astype(dtype)


def crop_box(geometry: ImageGeometry, image_size: tuple[int, int]) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1) of the region the encoder sees, in original-image pixels."""
    lay = geometry.layout(*image_size)
    return (lay.left / lay.scale_x, lay.top / lay.scale_y,
            (lay.left + lay.size) / lay.scale_x, (lay.top + lay.size) / lay.scale_y)


def patch_centre(geometry: ImageGeometry, image_size: tuple[int, int], grid: int, row: int,
                 col: int) -> tuple[float, float]:
    """(x, y) in original-image pixels of the centre of patch (row, col)."""
    lay = geometry.layout(*image_size)
    u, v = (col + 0.5) * lay.size / grid, (row + 0.5) * lay.size / grid
    return (u + lay.left) / lay.scale_x, (v + lay.top) / lay.scale_y
