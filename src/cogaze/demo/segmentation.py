"""Demo stage: segmentation of one phantom finding from its ground-truth masks."""

from __future__ import annotations

import numpy as np

from cogaze.demo.stages import DemoState


def mask_panel(image: np.ndarray, mask: np.ndarray, colour: tuple[int, int, int], scale: int = 2) -> np.ndarray:
    """``image`` (uint8 S x S) with ``mask`` filled in ``colour`` (40 % opacity) and outlined, enlarged
    ``scale`` times (nearest neighbour, so pixels stay pixels)."""
    from scipy import ndimage

    rgb = np.repeat(image[:, :, None], 3, axis=2).astype(np.float32)
    tint = np.array(colour, np.float32)
    rgb[mask] = 0.6 * rgb[mask] + 0.4 * tint
    edge = mask & ~ndimage.binary_erosion(mask)
    rgb[edge] = tint
    out = np.clip(np.round(rgb), 0, 255).astype(np.uint8)
    return out.repeat(scale, axis=0).repeat(scale, axis=1)


def segmentation(s: DemoState) -> None:
    from cogaze.data.pixels import ModelImages
    from cogaze.html.labels import readable
    from cogaze.tasks.phantom_sets import segmentation_items
    from cogaze.tasks.segmentation import SegmentationConfig, run_segmentation

    assert s.records is not None and s.data_dir is not None
    finding = s.cfg.seg_finding
    split = {k: segmentation_items(s.data_dir, s.records, s.encoder.geometry, k, finding)
             for k in ("train", "val", "test")}
    cfg = SegmentationConfig(seeds=[s.cfg.seed], epochs=s.cfg.seg_epochs, channels=list(s.cfg.seg_channels),
                             lr=s.cfg.seg_lr)
    res = run_segmentation(s.encoder, split["train"], split["val"], split["test"], cfg, examples=1)
    res.write_json(s.out / "segmentation.json")
    s.results["segmentation"] = dict(res.metrics)
    s.page.add_section("Segmentation", f"A light upsampling decoder over the frozen encoder's patch features "
                       f"(as in the paper, docs/tasks.md), Dice + focal BCE, trained on the phantom's {finding} masks.")
    s.page.add_metrics(readable(res.metrics, fractions=False), caption=f"{finding}, phantom test split, "
                       f"{len(split['test'])} frontal images, 100 % of the training masks (micro Dice pools the "
                       "pixels of every image; per-image Dice scores an empty target 1 only when the prediction "
                       "is empty too).")
    if res.examples:
        ex = res.examples[0]
        record = next(r for r in s.records if r.dicom_id == ex.id)
        image, _ = ModelImages(s.encoder.geometry).u8(record.dicom_id, record.image_path)
        pred = ex.probability > cfg.threshold
        dice = 2 * float((pred & ex.mask).sum()) / max(1, int(pred.sum() + ex.mask.sum()))
        s.page.add_image_grid([(mask_panel(image, ex.mask, (0, 200, 90)), "true mask"),
                               (mask_panel(image, pred, (230, 60, 40)), f"predicted (p > {cfg.threshold:g})")],
                              caption=f"The first test image with {finding}: its Dice {dice:.3f}, at the model's "
                              f"{image.shape[0]} px input, enlarged 2x.", columns=2,
                              image_width=2 * image.shape[1], pixelated=True)
