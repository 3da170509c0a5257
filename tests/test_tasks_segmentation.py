"""Segmentation: Dice definitions by hand, the decoder learns toy blobs, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cogaze.data.downstream import DownstreamRecord, DownstreamSet
from cogaze.errors import ConfigError, DataError
from cogaze.tasks import _metrics as M
from cogaze.tasks.items import ImageItems
from cogaze.tasks.segmentation import (
    FrozenFeatures,
    SegmentationConfig,
    SegmentationHead,
    run_segmentation,
    segmentation_loss,
)
from task_fakes import CLASS_NAMES, FakeEncoder, toy_images


def test_dice_hand_computed_and_empty_policy():
    pred = np.zeros((3, 2, 2), bool)
    target = np.zeros((3, 2, 2), bool)
    pred[0, 0, :] = True          # image 0: P = 2 px, T = 1 px, overlap 1 -> Dice 2/3
    target[0, 0, 0] = True
    pred[1, 1, 1] = True          # image 1: empty target, non-empty prediction -> 0 (or skipped)
    # image 2: both empty -> 1 (or skipped)
    out = M.dice_scores(pred, target)
    assert out["per_image"] == pytest.approx((2 / 3 + 0 + 1) / 3)
    assert out["micro"] == pytest.approx(2 * 1 / (3 + 1))
    assert M.dice_scores(pred, target, "skip")["per_image"] == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="empty_policy"):
        M.dice_scores(pred, target, "ignore")


def test_head_shapes_and_loss_perfect_prediction_is_small():
    enc = FakeEncoder()
    pixels, _, masks = toy_images(2, 0)
    feats = enc.encode_images(pixels, ["PA", "PA"])
    head = SegmentationHead(feats.latents.shape[1], feats.grid, 16, 32, channels=(8, 4))
    assert head(feats).shape == (2, 1, 32, 32)
    good = segmentation_loss((masks * 2 - 1) * 20, masks)
    bad = segmentation_loss((1 - masks * 2) * 20, masks)
    assert float(good) < 0.01 < float(bad)


def _items(n, seed):
    pixels, labels, masks = toy_images(n, seed)
    return ImageItems.from_tensors(pixels, labels, CLASS_NAMES, masks=masks, name=f"blobs{seed}")


def test_decoder_learns_toy_blobs():
    cfg = SegmentationConfig(channels=[16, 8], epochs=8, batch_size=16, lr=2e-3, seeds=[0],
                             focal_gamma=0.0, bce_weight=1.0)
    result = run_segmentation(FakeEncoder(), _items(64, 0), _items(16, 1), _items(32, 2), cfg)
    run = result.runs[0]
    assert run["train_loss"][-1] < 0.5 * run["train_loss"][0]
    assert run["test"]["per_image"] > 0.5 and run["test"]["micro"] > 0.5
    assert result.summary["100%"]["dice_micro"].mean == pytest.approx(run["test"]["micro"])
    assert "dice_per_image" in result.table()
    assert result.examples == []  # none asked for


def test_examples_are_the_trained_heads_predictions_and_stay_out_of_json(tmp_path):
    import json

    cfg = SegmentationConfig(channels=[16, 8], epochs=8, batch_size=16, lr=2e-3, seeds=[0],
                             focal_gamma=0.0, bce_weight=1.0)
    test = _items(32, 2)
    result = run_segmentation(FakeEncoder(), _items(64, 0), _items(16, 1), test, cfg, examples=2)
    positives = [i for i in range(len(test)) if test.labels[i, 0] == 1][:2]
    assert [ex.id for ex in result.examples] == [test.ids[i] for i in positives]
    masks = test.batch(positives, with_masks=True)[1][:, 0].numpy() > 0.5
    for ex, mask in zip(result.examples, masks):
        assert ex.probability.shape == ex.mask.shape == mask.shape and np.array_equal(ex.mask, mask)
        pred = ex.probability > cfg.threshold
        assert 2 * (pred & mask).sum() / (pred.sum() + mask.sum()) > 0.5  # the trained head, not a fresh one
    data = json.loads(result.write_json(tmp_path / "seg.json").read_text())
    assert "examples" not in data and data["metrics"] == pytest.approx(result.metrics)


def test_frozen_features_equal_per_batch_encoding():
    items = _items(20, 3)
    cfg = SegmentationConfig(batch_size=7)
    enc = FakeEncoder()
    cached = FrozenFeatures(enc, items, cfg)
    idx = [13, 2, 19, 5]
    feats, masks = cached(idx)
    direct = enc.encode_images(items.batch(idx)[0], [items.views[i] for i in idx])
    assert torch.allclose(feats.patches, direct.patches) and torch.allclose(feats.latents, direct.latents)
    assert torch.equal(masks, items.batch(idx, with_masks=True)[1]) and feats.grid == direct.grid


def test_segmentation_bad_input():
    pixels, labels, _ = toy_images(8, 0)
    no_masks = ImageItems.from_tensors(pixels, labels, CLASS_NAMES)
    cfg = SegmentationConfig(channels=[4], epochs=1, seeds=[0])
    with pytest.raises(DataError, match="has no mask"):
        run_segmentation(FakeEncoder(), no_masks, no_masks, no_masks, cfg)
    with pytest.raises(ConfigError, match="empty_policy"):
        run_segmentation(FakeEncoder(), no_masks, no_masks, no_masks,
                         SegmentationConfig(empty_policy="ignore"))


def test_from_downstream_reads_image_and_mask_with_same_geometry(tmp_path):
    from PIL import Image

    img = np.zeros((40, 60), np.uint8)
    img[10:20, 30:50] = 255
    Image.fromarray(img).save(tmp_path / "a.png")
    record = DownstreamRecord(dataset="rsna", image_id="a", image_path=tmp_path / "a.png",
                              labels=np.array([1]), class_names=("Pneumonia",),
                              mask_source=((30.0, 10.0, 50.0, 20.0),))
    missing = DownstreamRecord(dataset="rsna", image_id="b", image_path=tmp_path / "b.png",
                               labels=np.array([0]), class_names=("Pneumonia",))
    dset = DownstreamSet("rsna", "test", 100, "binary", ("Pneumonia",), [record, missing])

    def crop(arr):  # a toy geometry: centre crop 40x40, then x0.5
        t = torch.as_tensor(np.asarray(arr, np.float32))[None, None, :, 10:50]
        return torch.nn.functional.interpolate(t, size=(20, 20), mode="nearest")[0]

    items = ImageItems.from_downstream(dset, lambda a: crop(a / 255.0).repeat(3, 1, 1), crop)
    pixels, masks = items.batch([0], with_masks=True)
    assert pixels.shape == (1, 3, 20, 20) and masks.shape == (1, 1, 20, 20)
    assert torch.equal(masks[0, 0] > 0, pixels[0, 0] > 0.5)  # the box lies exactly on the bright patch
    with pytest.raises(DataError, match="b.png"):
        items.batch([1])


def test_from_geometry_keeps_box_on_the_bright_region(tmp_path):
    from PIL import Image

    from cogaze.data.geometry import ImageGeometry

    img = np.zeros((60, 40), np.uint8)  # portrait: shortest edge 40 -> 20, crop rows 5..25 of 30
    img[20:40, 8:24] = 255
    Image.fromarray(img).save(tmp_path / "a.png")
    record = DownstreamRecord(dataset="rsna", image_id="a", image_path=tmp_path / "a.png",
                              labels=np.array([1]), class_names=("Pneumonia",),
                              mask_source=((8.0, 20.0, 24.0, 40.0),))
    dset = DownstreamSet("rsna", "test", 100, "binary", ("Pneumonia",), [record])
    items = ImageItems.from_geometry(dset, ImageGeometry(size=20), with_masks=True)
    pixels, masks = items.batch([0], with_masks=True)
    assert pixels.shape == (1, 3, 20, 20) and masks.shape == (1, 1, 20, 20)
    inside = masks[0, 0] > 0
    assert 60 <= int(inside.sum()) <= 90  # 8 x 10 output pixels, give or take an edge row
    assert float(pixels[0, 0][inside].mean()) > 0.8 and float(pixels[0, 0][~inside].mean()) < 0.2


def test_streamed_dice_equals_metrics_tasks():
    from cogaze.metrics import tasks as T

    rng = np.random.default_rng(0)
    pred = rng.random((12, 9, 9)) > 0.6
    target = rng.random((12, 9, 9)) > 0.7
    target[:4] = False  # empty targets
    pred[:2] = False  # two of them predicted empty
    counts = np.concatenate([M.dice_counts(pred[:5], target[:5]), M.dice_counts(pred[5:], target[5:])])
    for policy in ("score", "skip"):
        out = M.dice_from_counts(counts, policy)
        assert out["per_image"] == pytest.approx(T.dice_per_image(pred, target, empty=policy))
        assert out["micro"] == pytest.approx(T.dice_micro(pred, target))
