"""Model input from files: the exact shortcuts are exact, the DCT-scaled JPEG decode is within its tolerance."""

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw, ImageFilter

from cogaze.data.geometry import ImageGeometry
from cogaze.data.images import read_image, read_image_scaled
from cogaze.data.pixels import ModelImages, normalise_batch, resized_image

MEAN, STD = (0.5307,) * 3, (0.2583,) * 3
# Tolerance of the DCT-scaled decode against a full decode, in grey levels of the uint8 model image
# (one level = 1 / (255 * std) = 0.015 in normalised model input). Measured: mean 0.24-0.36, max 5-7.
TOL_MEAN, TOL_MAX = 0.5, 10


def cxr_like(width, height, seed=0):
    """A grey image with smooth anatomy-like shading, film noise and hard edges (markers, wires, text)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = 110 + 50 * np.sin(x / (width / 12)) + 40 * np.cos(y / (height / 19)) + 25 * np.sin((x + y) / (width / 60))
    noise = np.asarray(Image.fromarray(rng.normal(128, 40, (height, width)).clip(0, 255).astype(np.uint8))
                       .filter(ImageFilter.GaussianBlur(1.2)), np.float32) - 128
    img = Image.fromarray((base + noise / 3).clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for i in range(12):
        x0, y0 = width // 20 + i * width // 14, height // 15
        draw.rectangle([x0, y0, x0 + width // 50, y0 + height // 50], fill=255)
        draw.line([0, height // 3 + i * height // 60, width, height // 3 + i * height // 50], fill=0, width=3)
    draw.text((width // 8, height - height // 10), "L PORTABLE", fill=255)
    return img


def rgb_reference(geometry, arr):
    """The transform as the Rad-DINO processor does it: RGB first, bicubic resize, crop, normalise."""
    lay = geometry.layout(arr.shape[1], arr.shape[0])
    img = Image.fromarray(arr).convert("RGB").resize((lay.resized_width, lay.resized_height), Image.Resampling.BICUBIC)
    rgb = np.asarray(img.crop((lay.left, lay.top, lay.left + geometry.size, lay.top + geometry.size)), np.float32) / 255.0
    return ((rgb - np.asarray(geometry.mean, np.float32)) / np.asarray(geometry.std, np.float32)).transpose(2, 0, 1)


@pytest.mark.parametrize("shape", [(90, 70), (64, 64), (37, 101), (300, 211)])
def test_grey_resize_equals_rgb_processor_bit_for_bit(shape):
    geometry = ImageGeometry(size=48, mean=MEAN, std=STD)
    arr = np.random.default_rng(shape[0]).integers(0, 256, shape, dtype=np.uint8)
    assert np.array_equal(geometry.transform_image(arr), rgb_reference(geometry, arr))
    rgb = np.random.default_rng(1).integers(0, 256, (*shape, 3), dtype=np.uint8)  # colour input keeps its bands
    assert np.array_equal(geometry.transform_image(rgb), rgb_reference(geometry, rgb))


def test_normalise_on_device_equals_numpy_bit_for_bit():
    geometry = ImageGeometry(size=40, mean=(0.4, 0.5, 0.6), std=(0.2, 0.25, 0.3))
    u8 = np.random.default_rng(0).integers(0, 256, (3, 40, 40), dtype=np.uint8)
    batch = normalise_batch(torch.from_numpy(u8), geometry)
    assert batch.shape == (3, 3, 40, 40) and batch.dtype == torch.float32
    assert np.array_equal(batch.numpy(), np.stack([geometry.normalise(x) for x in u8]))
    with pytest.raises(ValueError, match="uint8"):
        normalise_batch(torch.zeros(1, 40, 40), geometry)


@pytest.mark.parametrize("width,height,size", [(2544, 3056, 518), (1021, 1227, 224), (3056, 2544, 518)])
def test_dct_scaled_jpeg_decode_within_tolerance(tmp_path, width, height, size):
    path = tmp_path / "x.jpg"
    cxr_like(width, height).save(path, quality=95)
    scaled, full = read_image_scaled(path, size)
    assert full == (width, height)
    assert scaled.shape == (-(-height // 2), -(-width // 2))  # 1/2 scale: >= 2x the 518 / 224 px resize
    geometry = ImageGeometry(size=size, mean=MEAN, std=STD)
    fast, lay = resized_image(path, geometry, fast=True)
    exact, lay_exact = resized_image(path, geometry, fast=False)
    assert lay == lay_exact == geometry.layout(width, height)  # same resize and crop: gaze/boxes unaffected
    a = geometry.crop(fast, width, height).astype(int)
    b = geometry.crop(exact, width, height).astype(int)
    diff = np.abs(a - b)
    assert diff.mean() <= TOL_MEAN and diff.max() <= TOL_MAX, (diff.mean(), diff.max())
    assert abs(float(np.mean(a - b))) < 0.05  # no brightness bias
    # the exact path is the processor transform of the full decode, bit for bit
    ref = rgb_reference(geometry, read_image(path))
    assert np.array_equal(geometry.normalise(geometry.crop(exact, width, height)), ref)
    model = ModelImages(geometry).pixels("x", path)
    assert float((model.numpy() - ref).__abs__().max()) <= TOL_MAX / 255 / STD[0] + 1e-6


def test_small_images_and_png_decode_exactly(tmp_path):
    geometry = ImageGeometry(size=64, mean=MEAN, std=STD)
    img = cxr_like(200, 150)
    img.save(tmp_path / "a.png")
    img.save(tmp_path / "b.jpg", quality=95)
    for name in ("a.png", "b.jpg"):  # PNG: never scaled; a 150 px JPEG for 64 px: 1/2 would be < 2 x 64
        fast = ModelImages(geometry).pixels(name, tmp_path / name)
        assert np.array_equal(fast.numpy(), geometry.transform_image(read_image(tmp_path / name)))
