"""Write a sample run report with realistic fake content, to look at the page layout.

    PYTHONPATH=src python scripts/sample_report.py --out /tmp/sample_report.html

Everything is synthetic (seeded): fake chest-like images, a fake metrics.jsonl, fake scores.
Nothing here needs a network.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter

from cogaze.data.records import CHEXPERT_CLASSES
from cogaze.explain.scanpath import sample_scanpath, to_image_coords
from cogaze.html.overlay import draw_scanpath, gaze_panel, heatmap_overlay
from cogaze.html.page import ReportPage
from cogaze.html.plots import ablation_bars, ablation_rows, loss_curves, roc_curves


def fake_xray(rng: np.random.Generator, size: int = 224) -> np.ndarray:
    """Smoothed noise with two darker 'lung fields' and a brighter 'mediastinum'."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    img = 0.55 + 0.25 * gaussian_filter(rng.normal(size=(size, size)), 6) * 4
    for cx in (0.3, 0.7):
        lung = ((xx - cx) / 0.17) ** 2 + ((yy - 0.52) / 0.33) ** 2 < 1
        img[lung] -= 0.3
    img += 0.15 * np.exp(-((xx - 0.5) / 0.07) ** 2)
    img += 0.05 * rng.normal(size=img.shape)
    return (np.clip(gaussian_filter(img, 1.2), 0, 1) * 255).astype(np.uint8)


def blob_map(rng: np.random.Generator, grid: int = 14, n: int = 2) -> np.ndarray:
    rows, cols = np.indices((grid, grid))
    h = np.zeros((grid, grid))
    for _ in range(n):
        r, c = rng.uniform(3, grid - 3, size=2)
        h += rng.uniform(0.5, 1.0) * np.exp(-((rows - r) ** 2 + (cols - c) ** 2) / (2 * 1.5**2))
    return h


def fake_metrics(path: Path, rng: np.random.Generator) -> None:
    lines = []
    step = 0
    for epoch in range(6):
        for batch in range(20):
            step += 1
            decay = np.exp(-step / 40)
            terms = {"contrastive": 2.2 * decay + 0.9, "cls_vision": 0.7 * decay + 0.3,
                     "cls_report": 0.6 * decay + 0.25, "gaze": 1.5 * decay + 0.8}
            terms = {k: float(v + rng.normal(0, 0.04)) for k, v in terms.items()}
            terms["loss"] = sum(terms.values())
            lines.append({"step": step, "epoch": epoch, "batch": batch, "split": "train", **terms, "lr": 1e-4})
        val = {"contrastive": 2.0 * np.exp(-step / 50) + 1.0, "cls_vision": 0.4, "cls_report": 0.35,
               "gaze": 1.2 * np.exp(-step / 50) + 0.9}
        val["loss"] = sum(val.values())
        lines.append({"step": step, "epoch": epoch, "split": "val", **val, "retrieval_top1": 0.3 + 0.05 * epoch})
    path.write_text("".join(json.dumps(r) + "\n" for r in lines), encoding="utf-8")


def build(out: Path, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    page = ReportPage("cogaze demo \u2014 sample report", subtitle="phantom data \u00b7 40 patients \u00b7 seed 0 \u00b7 "
                      "quick mode \u00b7 all content on this page is synthetic")

    page.add_section("Run summary", intro="Wall-clock time of every stage. A failed stage is listed with "
                     "its error; later stages that need it are skipped.")
    page.add_metrics({"retrieval P@1": 0.55, "zero-shot AUROC": 0.812, "linear-probe AUROC": 0.874,
                      "gaze sAUC": 0.731, "gaze NSS": 1.42, "total seconds": 96.4})
    for name, secs, status, msg in [
        ("phantom", 4.1, "ok", ""), ("tokenizer", 1.3, "ok", ""), ("pretrain", 51.7, "ok", ""),
        ("zero-shot", 3.2, "ok", ""), ("retrieval", 2.9, "ok", ""), ("linear probe", 8.8, "ok", ""),
        ("segmentation", 6.4, "failed",
         "DataError: phantom_out/masks/p10_s55.png: mask size 512x512 does not match image 224x224"),
        ("report generation", 12.1, "ok", ""), ("evaluation", 3.8, "ok", ""),
        ("gaze prediction", 2.1, "ok", ""),
    ]:
        page.add_stage_status(name, secs, status, msg)

    page.add_section("Pretraining", intro="Each loss term per split: train per step, validation at epoch ends.")
    with tempfile.TemporaryDirectory() as tmp:
        metrics = Path(tmp) / "metrics.jsonl"
        fake_metrics(metrics, rng)
        page.add_figure(loss_curves(metrics), caption="Loss curves of the pretraining run (metrics.jsonl).")

    page.add_section("Zero-shot classification", intro="ROC curves on the phantom test split.")
    classes = ["Cardiomegaly", "Edema", "Consolidation", "Atelectasis", "Pleural Effusion"]
    y = rng.integers(0, 2, size=(120, len(classes)))
    scores = y * rng.uniform(0.3, 1.2, size=len(classes)) + rng.normal(0, 0.5, size=y.shape)
    page.add_figure(roc_curves(y, scores, classes, title="Zero-shot ROC"), caption="One curve per finding; AUC in the legend.")
    page.add_table([{"finding": c, "AUROC": float(a), "positives": int(y[:, i].sum())}
                    for i, (c, a) in enumerate(zip(classes, rng.uniform(0.7, 0.9, len(classes))))],
                   caption="Per-class zero-shot AUROC")

    page.add_section("Retrieval examples", intro="Query image and its top-3 retrieved reports' images.")
    xrays = [fake_xray(rng) for _ in range(8)]
    page.add_image_grid([(xrays[0], "query"), (xrays[1], "#1 (same study)"), (xrays[2], "#2"), (xrays[3], "#3")],
                        caption="Image \u2192 report retrieval, first test study.")

    page.add_section("Report generation", intro="Generated findings beside the reference, with CheXbert labels.")
    page.add_text_pair(
        "The heart is mildly enlarged. There is a small left pleural effusion with adjacent atelectasis. "
        "No pneumothorax.",
        "Mild cardiomegaly. Small left pleural effusion. No pneumothorax. No focal consolidation.",
        {"Cardiomegaly": 1, "Pleural Effusion": 1, "Atelectasis": 1, "Pneumothorax": 2},
        {"Cardiomegaly": 1, "Pleural Effusion": 1, "Pneumothorax": 2, "Consolidation": 2},
        title="p10/s50414267")
    vec_ref = [0] * len(CHEXPERT_CLASSES)
    vec_ref[CHEXPERT_CLASSES.index("No Finding")] = 1
    vec_gen = [0] * len(CHEXPERT_CLASSES)
    vec_gen[CHEXPERT_CLASSES.index("Lung Opacity")] = 3
    page.add_text_pair("Lungs are clear. Heart size normal. No acute cardiopulmonary process.",
                       "Possible faint opacity at the right base, likely atelectasis versus early infection.",
                       vec_ref, vec_gen, title="p11/s52233121")

    page.add_section("Where the radiologist looks",
                     intro="True (recorded) vs predicted gaze for each report sentence, then a scanpath sampled "
                           "from the predicted paragraph map with inhibition of return.")
    sentences = ["The heart is mildly enlarged.", "There is a small left pleural effusion with adjacent atelectasis."]
    for sentence, img in zip(sentences, xrays[4:6]):
        true_map, pred_map = blob_map(rng), blob_map(rng)
        page.add_image_grid([(heatmap_overlay(img, true_map), "true gaze"),
                             (heatmap_overlay(img, pred_map), "predicted")], caption=f"\u201c{sentence}\u201d",
                            caption_position="beside")
    para = blob_map(rng, n=3)
    fix = to_image_coords(sample_scanpath(para, 6, ior_radius=2.5, seed=0), para.shape, (224, 224))
    page.add_image_grid([(heatmap_overlay(xrays[6], para), "paragraph map"),
                         (draw_scanpath(xrays[6], fix), "sampled scanpath (6 fixations)"),
                         (gaze_panel(xrays[7], blob_map(rng), blob_map(rng), sentences[1]), "gaze_panel PNG as written by explain")],
                        columns=3)

    page.add_section("Ablations", intro="Means over 3 seeds with 95 % confidence intervals (Student t).")
    variants = ["CoGaze", "w/o gaze", "w/o context", "single-positive", "gaze-as-mask"]
    res = {v: {"gaze sAUC": list(rng.normal(0.73 - 0.03 * i, 0.01, 3)),
               "retrieval P@1": list(rng.normal(0.55 - 0.02 * i, 0.03, 3)),
               "zero-shot AUROC": list(rng.normal(0.81 - 0.01 * i, 0.01, 3))} for i, v in enumerate(variants)}
    rows, cols = ablation_rows(res)
    page.add_table(rows, cols, caption="Ablations (mean \u00b1 95 % CI half-width, n seeds)")
    page.add_figure(ablation_bars(res, ncols=3), caption="Ablation means with 95 % CI error bars.")
    return page.write(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("sample_report.html"))
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    print(build(args.out, args.seed))


if __name__ == "__main__":
    main()
