"""The one image geometry of the project: resize shortest edge to S, centre-crop S x S.

This is the Rad-DINO processor geometry (spec 1.6). One :class:`ImageGeometry` object maps

* images (uint8 H x W[x C]) -> normalised float (3, S, S), bicubic resampling as the processor does;
* heatmaps / masks (float H x W) -> (S, S) by area averaging (each output pixel is the mean of the
  source region it covers), as a separable linear operator ``M_y @ map @ M_x.T``;
* points (x, y in original-image pixels) -> (x', y') in output pixels,

all from the same :meth:`ImageGeometry.layout`, so images, gaze and masks can never drift apart.
Coordinates are continuous with pixel ``i`` covering ``[i, i + 1)`` (PIL's convention).

:func:`pool_to_grid` is adaptive average pooling (torch semantics) to the encoder's patch grid.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from cogaze.errors import DataError


@dataclass(frozen=True)
class Layout:
    """Where an original W x H image lands: scaled to ``resized`` then cropped at ``(left, top)``."""

    width: int
    height: int
    resized_width: int
    resized_height: int
    left: int
    top: int
    size: int

    @property
    def scale_x(self) -> float:
        return self.resized_width / self.width

    @property
    def scale_y(self) -> float:
        return self.resized_height / self.height


@dataclass(frozen=True)
class ImageGeometry:
    """Shortest edge -> ``size`` (bicubic for images), centre crop ``size`` x ``size``, normalise.

    ``mean``/``std`` are per-channel statistics applied after rescaling to [0, 1]; read them from the
    encoder's processor config with :meth:`from_processor_config` rather than hard-coding them.
    """

    size: int = 518
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)

    def __post_init__(self) -> None:
        if self.size <= 0:
            raise ValueError(f"image size must be positive, got {self.size}")
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
        object.__setattr__(self, "std", tuple(float(v) for v in self.std))
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise ValueError("mean and std need 3 values each and std > 0")

    @classmethod
    def from_processor_config(cls, path: str | Path) -> ImageGeometry:
        """Read ``preprocessor_config.json`` (a file or the model folder holding it).

        Only what this geometry reproduces is accepted: resize of the shortest edge to S (bicubic), centre
        crop S x S, rescale by 1/255, normalise with ``image_mean`` / ``image_std``. Anything else (another
        resize rule or resampling filter, no crop, a missing mean or std) is a DataError naming the key,
        never a silent approximation.
        """
        p = Path(path)
        if p.is_dir():
            p = p / "preprocessor_config.json"
        try:
            cfg = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError, UnicodeDecodeError) as err:
            raise DataError(f"cannot read image processor config: {err}", p) from None
        if not isinstance(cfg, dict):
            raise DataError("image processor config is no JSON object", p)
        try:
            return cls(**_processor_values(cfg, p))
        except (ValueError, TypeError) as err:  # a non-number, a std <= 0
            raise DataError(f"bad image processor values: {err}", p) from None

    def processor_config(self) -> dict:
        """This geometry as a Hugging Face ``preprocessor_config.json`` (read back by :meth:`from_processor_config`)."""
        return {"do_resize": True, "size": {"shortest_edge": self.size}, "resample": _BICUBIC,
                "do_center_crop": True, "crop_size": {"height": self.size, "width": self.size},
                "do_rescale": True, "rescale_factor": 1 / 255, "do_normalize": True,
                "image_mean": list(self.mean), "image_std": list(self.std), "do_convert_rgb": True}

    # ----------------------------------------------------------------------------------------------
    def layout(self, width: int, height: int) -> Layout:
        """The resize/crop placement for a ``width`` x ``height`` image (HF processor arithmetic)."""
        return _layout(int(width), int(height), self.size)

    def resize_crop(self, image: Image.Image) -> Image.Image:
        """Bicubic resize + centre crop of a PIL image (no normalisation); keeps its mode."""
        lay = self.layout(*image.size)
        resized = image.resize((lay.resized_width, lay.resized_height), Image.Resampling.BICUBIC)
        return resized.crop((lay.left, lay.top, lay.left + self.size, lay.top + self.size))

    def resize(self, image: np.ndarray, width: int | None = None, height: int | None = None) -> np.ndarray:
        """uint8 (h, w[, 3]) -> the bicubic shortest-edge resize of the layout of a ``width`` x
        ``height`` original (default: the array's own size), uncropped: (resized_height, resized_width[, 3]).

        ``image`` may be a reduced decode of that original (``cogaze.data.images.read_image_scaled``):
        the output size and the crop come from the original's size, never from the array's.
        """
        arr = np.asarray(image)
        if arr.dtype != np.uint8:
            raise ValueError(f"images must be uint8, got {arr.dtype}")
        width, height = width or arr.shape[1], height or arr.shape[0]
        lay = self.layout(width, height)
        if arr.shape[:2] == (lay.resized_height, lay.resized_width):
            return arr
        box = None
        if arr.shape[:2] != (height, width):
            # A JPEG decoded at 1/k scale is ceil(W/k) x ceil(H/k) pixels, its last column/row only partly
            # inside the image: resample exactly the original's extent, [0, W/k) x [0, H/k).
            k = next((k for k in (2, 4, 8) if (-(-height // k), -(-width // k)) == arr.shape[:2]), None)
            if k is None:
                raise ValueError(f"a {arr.shape[1]}x{arr.shape[0]} array is no DCT scale of a {width}x{height} image")
            box = (0.0, 0.0, width / k, height / k)
        pil = Image.fromarray(arr)
        return np.array(pil.resize((lay.resized_width, lay.resized_height), Image.Resampling.BICUBIC, box=box))

    def crop(self, resized: np.ndarray, width: int, height: int) -> np.ndarray:
        """The centre S x S crop of :meth:`resize`'s output for a ``width`` x ``height`` original (a view)."""
        lay = self.layout(width, height)
        if resized.shape[:2] != (lay.resized_height, lay.resized_width):
            raise ValueError(f"resized image is {resized.shape[:2]}, the layout of {width}x{height} at "
                             f"{self.size} px is {(lay.resized_height, lay.resized_width)}")
        return resized[lay.top:lay.top + self.size, lay.left:lay.left + self.size]

    def model_u8(self, image: np.ndarray, width: int | None = None, height: int | None = None) -> np.ndarray:
        """uint8 (h, w[, 3]) -> uint8 (S, S[, 3]): resized and centre-cropped, not yet normalised."""
        arr = np.asarray(image)
        width, height = width or arr.shape[1], height or arr.shape[0]
        return np.ascontiguousarray(self.crop(self.resize(arr, width, height), width, height))

    def normalise(self, image: np.ndarray) -> np.ndarray:
        """uint8 (S, S) grey or (S, S, 3) -> float32 (3, S, S): rescaled by 1/255 and normalised
        (float32 arithmetic, equal bit for bit to ``cogaze.data.pixels.normalise_batch``)."""
        arr = np.asarray(image)
        rgb = np.repeat(arr[..., None], 3, axis=-1) if arr.ndim == 2 else arr
        out = (rgb.astype(np.float32) / np.float32(255.0) - np.asarray(self.mean, np.float32)) \
            / np.asarray(self.std, np.float32)
        return np.ascontiguousarray(out.transpose(2, 0, 1))

    def transform_image(self, image: np.ndarray | Image.Image) -> np.ndarray:
        """uint8 (H, W) / (H, W, 3) array or PIL image -> float32 (3, S, S), rescaled and normalised.

        Equal to converting to RGB first (the Rad-DINO processor): a grey image is resized as one band,
        which gives the same values as each of its three identical RGB bands, at a third of the cost.
        """
        if isinstance(image, Image.Image):
            image = image if image.mode in ("L", "RGB") else image.convert("RGB")
            arr = np.asarray(image)
        else:
            arr = np.asarray(image)
            if arr.dtype != np.uint8:
                raise ValueError(f"images must be uint8, got {arr.dtype}")
            if arr.ndim == 3 and arr.shape[2] != 3:
                arr = np.asarray(Image.fromarray(arr).convert("RGB"))
        return self.normalise(self.model_u8(arr))

    def heatmap_operator(self, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
        """(M_y (S, H), M_x (S, W)) with ``transform_heatmap(h) == M_y @ h @ M_x.T`` (area averaging)."""
        lay = self.layout(width, height)
        return _area_matrix(lay.height, lay.scale_y, lay.top, self.size), _area_matrix(
            lay.width, lay.scale_x, lay.left, self.size
        )

    def transform_heatmap(self, heatmap: np.ndarray) -> np.ndarray:
        """A float (H, W) map (or (..., H, W) stack) -> (..., S, S) with the image's geometry."""
        arr = np.asarray(heatmap, dtype=np.float64)
        my, mx = self.heatmap_operator(arr.shape[-1], arr.shape[-2])
        return my @ arr @ mx.T

    def transform_mask(self, mask: np.ndarray, threshold: float = 0.5) -> np.ndarray:
        """A binary (H, W) mask -> bool (S, S): output pixels whose area is >= ``threshold`` covered."""
        return self.transform_heatmap(np.asarray(mask, dtype=np.float64) > 0) >= threshold

    def transform_boxes(self, boxes: np.ndarray, width: int, height: int) -> np.ndarray:
        """(n, 4) boxes x0, y0, x1, y1 in original pixels -> output pixels, clipped to [0, S]."""
        b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        x0, y0 = self.transform_points(b[:, 0], b[:, 1], width, height)
        x1, y1 = self.transform_points(b[:, 2], b[:, 3], width, height)
        return np.clip(np.column_stack([x0, y0, x1, y1]), 0, self.size)

    def transform_points(self, x: np.ndarray, y: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
        """Original-image pixel coordinates -> output pixel coordinates (may fall outside [0, S))."""
        lay = self.layout(width, height)
        return np.asarray(x, float) * lay.scale_x - lay.left, np.asarray(y, float) * lay.scale_y - lay.top

    def grid_operator(self, width: int, height: int, grid: int) -> tuple[np.ndarray, np.ndarray]:
        """(G_y (grid, H), G_x (grid, W)): transform_heatmap followed by :func:`pool_to_grid`."""
        return _grid_operator(self.size, int(width), int(height), int(grid))

    def heatmap_to_grid(self, heatmap: np.ndarray, grid: int) -> np.ndarray:
        """A float (H, W) map -> (grid, grid): same geometry as the image, then patch pooling."""
        arr = np.asarray(heatmap, dtype=np.float64)
        gy, gx = self.grid_operator(arr.shape[-1], arr.shape[-2], grid)
        return gy @ arr @ gx.T


@lru_cache(maxsize=256)
def _layout(width: int, height: int, size: int) -> Layout:
    if width <= 0 or height <= 0:
        raise ValueError(f"bad image size {width}x{height}")
    # transformers' get_resize_output_image_size(shortest_edge): the long side is int(S * long / short).
    if width <= height:
        rw, rh = size, int(size * height / width)
    else:
        rw, rh = int(size * width / height), size
    # transformers' center_crop: offsets (orig - crop) // 2.
    return Layout(width, height, rw, rh, (rw - size) // 2, (rh - size) // 2, size)


def _interval_matrix(lo: np.ndarray, hi: np.ndarray, n_src: int) -> np.ndarray:
    """Row r = the mean of a piecewise-constant signal of ``n_src`` unit pixels over [lo[r], hi[r])."""
    edges = np.arange(n_src + 1, dtype=np.float64)
    overlap = np.clip(np.minimum(hi[:, None], edges[None, 1:]) - np.maximum(lo[:, None], edges[None, :-1]), 0, None)
    overlap /= overlap.sum(axis=1, keepdims=True)
    overlap.setflags(write=False)
    return overlap


@lru_cache(maxsize=8)  # (S, n_src) dense: keep few
def _area_matrix_cached(n_src: int, scale: float, offset: int, size: int) -> np.ndarray:
    # Output pixel u covers source interval [(u + offset) / scale, (u + offset + 1) / scale).
    lo = (np.arange(size) + offset) / scale
    return _interval_matrix(lo, lo + 1.0 / scale, n_src)


def _area_matrix(n_src: int, scale: float, offset: int, size: int) -> np.ndarray:
    return _area_matrix_cached(n_src, float(scale), offset, size)


@lru_cache(maxsize=32)
def _grid_operator(size: int, width: int, height: int, grid: int) -> tuple[np.ndarray, np.ndarray]:
    # pool_matrix @ _area_matrix without the (S, n_src) intermediate: grid cell i averages output
    # pixels [a_i, b_i), which all have the same source length 1/scale, so the mean of their means
    # is the area mean over the source interval [(a_i + offset) / scale, (b_i + offset) / scale).
    lay = _layout(width, height, size)
    a = (np.arange(grid) * size) // grid
    b = -((-(np.arange(grid) + 1) * size) // grid)

    def one(n_src: int, scale: float, offset: int) -> np.ndarray:
        return _interval_matrix((a + offset) / scale, (b + offset) / scale, n_src)

    return one(height, lay.scale_y, lay.top), one(width, lay.scale_x, lay.left)


@lru_cache(maxsize=64)
def pool_matrix(n: int, grid: int) -> np.ndarray:
    """(grid, n) matrix of 1-D adaptive average pooling: bin i = [floor(i n / g), ceil((i + 1) n / g))."""
    if grid <= 0 or n <= 0:
        raise ValueError(f"bad pooling sizes n={n} grid={grid}")
    out = np.zeros((grid, n))
    for i in range(grid):
        a, b = (i * n) // grid, -((-(i + 1) * n) // grid)
        out[i, a:b] = 1.0 / (b - a)
    out.setflags(write=False)
    return out


def pool_to_grid(heatmap: np.ndarray, grid: int) -> np.ndarray:
    """Adaptive average pooling of (..., H, W) to (..., grid, grid), as ``torch.adaptive_avg_pool2d``."""
    arr = np.asarray(heatmap, dtype=np.float64)
    return pool_matrix(arr.shape[-2], grid) @ arr @ pool_matrix(arr.shape[-1], grid).T


def unflatten_square(values: np.ndarray, what: str = "map") -> np.ndarray:
    """A flat array of side*side values reshaped to (side, side); other shapes returned unchanged."""
    if values.ndim != 1:
        return values
    side = int(round(np.sqrt(values.size)))
    if side * side != values.size:
        raise ValueError(f"a flat {what} must be a square patch grid, got {values.size} values")
    return values.reshape(side, side)


_BICUBIC = 3  # PIL.Image.Resampling.BICUBIC, as Hugging Face processor configs store it
_GEOMETRY_HINT = "(or set model.vision.preprocess.size/crop/mean/std to feed that geometry knowingly)"


def _edge(value: object, key: str, p: Path) -> int:
    """The side of a square ``size`` (int or shortest_edge) / ``crop_size`` (int or equal height and width)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, dict):
        if key == "size" and "shortest_edge" in value:
            return int(value["shortest_edge"])
        if key == "crop_size" and "height" in value and value.get("height") == value.get("width"):
            return int(value["height"])
    raise DataError(f"unsupported {key}={value!r}: cogaze resizes the shortest edge to S and centre-crops S x S "
                    + _GEOMETRY_HINT, p)


def _stats(cfg: dict, key: str, p: Path) -> tuple[float, float, float]:
    values = cfg.get(key)
    if not isinstance(values, (list, tuple)) or len(values) not in (1, 3):
        raise DataError(f"{key} must list 1 or 3 numbers, got {values!r}", p)
    numbers = [float(v) for v in values]
    return tuple(numbers * 3 if len(numbers) == 1 else numbers)  # type: ignore[return-value]


def _processor_values(cfg: dict, p: Path) -> dict:
    """size / mean / std of a processor config, or a DataError naming what cogaze cannot reproduce."""
    if not cfg.get("do_resize", True) or "size" not in cfg:
        raise DataError("no resize (do_resize / size): cogaze needs the input size the backbone was trained at", p)
    size = _edge(cfg["size"], "size", p)
    if not cfg.get("do_center_crop", "crop_size" in cfg):
        raise DataError("no centre crop (do_center_crop false or no crop_size): cogaze feeds S x S crops "
                        + _GEOMETRY_HINT, p)
    crop = _edge(cfg.get("crop_size", size), "crop_size", p)
    if crop != size:
        raise DataError(f"crop_size {crop} differs from the resize {size}: cogaze crops S x S after resizing to S "
                        + _GEOMETRY_HINT, p)
    if cfg.get("resample", _BICUBIC) != _BICUBIC:
        raise DataError(f"resample={cfg['resample']!r}: cogaze resizes with bicubic (3) only " + _GEOMETRY_HINT, p)
    if not cfg.get("do_rescale", True) or abs(float(cfg.get("rescale_factor", 1 / 255)) - 1 / 255) > 1e-9:
        raise DataError("pixels must be rescaled by 1/255 (do_rescale / rescale_factor) " + _GEOMETRY_HINT, p)
    if not cfg.get("do_normalize", True):
        return {"size": size, "mean": (0.0, 0.0, 0.0), "std": (1.0, 1.0, 1.0)}
    return {"size": size, "mean": _stats(cfg, "image_mean", p), "std": _stats(cfg, "image_std", p)}
