"""Gaze prediction and evaluation of a pretraining run on a dataset's held-out gaze readings.

Usage: ``PYTHONPATH=src python benchmarks/explain_gaze.py RUN_DIR DATA_DIR [--split test] [--out DIR]``.
Prints the time of each step, the gaze table (model vs fitted centre prior vs centre bias vs
uniform, mean [95 % CI]) and writes one explanation (overlays + JSON) of the first held-out image.
"""

from __future__ import annotations

import argparse
import time

from cogaze.data.dataset import load_dataset
from cogaze.data.images import read_image
from cogaze.explain.baselines import EncoderPredictor, fit_centre_prior
from cogaze.explain.evaluate_gaze import evaluate_gaze, gaze_table_rows
from cogaze.explain.predict import ground_report, predict_gaze, scanpath_from_prediction
from cogaze.explain.write import write_explanation
from cogaze.tasks.pretrain.pretrained import load_pretrained


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("run_dir")
    ap.add_argument("data_dir")
    ap.add_argument("--split", default="test")
    ap.add_argument("--out", default="explain_out")
    args = ap.parse_args()
    t0 = time.perf_counter()
    encoder = load_pretrained(args.run_dir)
    records = load_dataset(args.data_dir).records
    held = [r for r in records if r.split == args.split and r.has_gaze]
    train = [r for r in records if r.split == "train" and r.has_gaze]
    print(f"load: {time.perf_counter() - t0:.2f} s ({len(held)} held-out images with gaze, {len(train)} train)")

    t0 = time.perf_counter()
    rec = held[0]
    image = read_image(rec.image_path)
    para = predict_gaze(encoder, image, None, view=rec.view, geometry=encoder.geometry)
    grounded = ground_report(encoder, image, rec.findings or rec.impression, view=rec.view, geometry=encoder.geometry)
    path = scanpath_from_prediction(para, n_fixations=8)
    write_explanation([para, *grounded], image, args.out, scanpath=path)
    print(f"explain one image: {time.perf_counter() - t0:.2f} s -> {args.out}")

    t0 = time.perf_counter()
    predictors = {"model": EncoderPredictor(encoder, encoder.geometry)}
    if train:
        predictors["fitted centre prior"] = fit_centre_prior(train)
    table = evaluate_gaze(held, predictors)
    print(f"evaluate: {time.perf_counter() - t0:.2f} s")
    for row in gaze_table_rows(table):
        print(row)


if __name__ == "__main__":
    main()
