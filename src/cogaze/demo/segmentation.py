"""Demo stage: segmentation of one phantom finding from its ground-truth masks."""

from __future__ import annotations

from cogaze.demo.stages import DemoState


def segmentation(s: DemoState) -> None:
    from cogaze.tasks.phantom_sets import segmentation_items
    from cogaze.tasks.segmentation import SegmentationConfig, run_segmentation

    assert s.records is not None and s.data_dir is not None
    finding = s.cfg.seg_finding
    split = {k: segmentation_items(s.data_dir, s.records, s.encoder.geometry, k, finding)
             for k in ("train", "val", "test")}
    cfg = SegmentationConfig(seeds=[s.cfg.seed], epochs=s.cfg.seg_epochs, channels=list(s.cfg.seg_channels),
                             lr=s.cfg.seg_lr)
    res = run_segmentation(s.encoder, split["train"], split["val"], split["test"], cfg)
    res.write_json(s.out / "segmentation.json")
    s.results["segmentation"] = dict(res.metrics)
    s.page.add_section("Segmentation", f"A light upsampling decoder over the frozen encoder's patch features "
                       f"(as in the paper, docs/tasks.md), Dice + focal BCE, trained on the phantom's {finding} masks.")
    s.page.add_metrics(dict(res.metrics), caption=f"{finding}, test split (micro Dice over pixels; per-image "
                       "Dice scores an empty target 1 only when the prediction is empty too).")
