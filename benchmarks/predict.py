"""Images per second of ``cogaze.api.predict`` at batch 1 and batch 16, and where the time goes.

Usage: ``PYTHONPATH=src python benchmarks/predict.py [--demo DEMO_OUT] [--n 16] [--threads 1]``.

Models: the demo's (``DEMO_OUT/pretrain``, ``DEMO_OUT/report_generation``, similar cases from
``DEMO_OUT/phantom``) when ``--demo`` is given, else tiny ones trained here on a small phantom (one epoch each,
the test recipe). Two image sets of ``--n`` images each: the phantom's test JPGs (small) and copies of the
real 15-bit CR chest PA ``RG1_UNCR.dcm`` of pydicom-data (1955 x 1841, the size of a clinical image: decode
and full-resolution maps cost what they cost on real files). Per set and batch size it prints images/s
and the share of the time spent in decode, encoder, report generation, maps (the gaze maps of every draft
sentence plus the text-free map and the scanpath) and similar-case search. Writing overlays is not timed
(``predict`` returns arrays; ``cogaze predict`` also writes PNGs).

Last line: ``RESULT phantom_b1=<img/s> phantom_b16=<img/s> cr_b1=<img/s> cr_b16=<img/s>``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shutil
import tempfile
import time
from pathlib import Path

import torch

STAGES = ("decode", "encoder", "report", "maps", "similar")
TINY = [
    "model.vision.config.image_size=64", "model.vision.config.embedding_size=8",
    "model.vision.config.hidden_sizes=[8,16,32]", "model.text.config.hidden_size=32",
    "model.text.config.intermediate_size=64", "model.dim=32", "model.num_latents=4",
    "model.perceiver_depth=1", "model.perceiver_dim_head=8", "data.batch_size=8", "trainer.max_epochs=1",
]


def build_tiny(root: Path) -> tuple[Path, Path, Path]:
    """A phantom, a one-epoch tiny pretraining run and a one-epoch report run (as tests/test_predict.py)."""
    from cogaze.cli import main
    from cogaze.data.phantom.generate import generate_phantom

    data, tok, run, rep = root / "phantom", root / "tok", root / "pretrain", root / "report_generation"
    generate_phantom(data, n_patients=30, image_size=64, seed=0)
    with contextlib.redirect_stdout(io.StringIO()):  # the verbs' result tables are not benchmark output
        assert main(["-q", "tokenizer", "train", str(data), "--out", str(tok), "--vocab-size", "300"]) == 0
        assert main(["-q", "pretrain", "--config", "configs/pretrain/phantom-scratch.yaml", "--data", str(data),
                     "--run-dir", str(run), f"model.tokenizer={tok}", *TINY]) == 0
        assert main(["-q", "train-report", "--checkpoint", str(run), "--data", str(data), "--config",
                     "configs/report/phantom-tiny.yaml", "--run-dir", str(rep), "train.epochs=1"]) == 0
    return run, rep, data


def image_sets(data: Path, n: int, root: Path) -> dict[str, list]:
    from pydicom.data import get_testdata_file

    import cogaze.api as cg
    from cogaze.data.dataset import load_dataset

    records = [r for r in load_dataset(data).records.split("test") if r.image_path is not None]
    phantom = [cg.PredictInput(str(records[i % len(records)].image_path), f"phantom_{i}") for i in range(n)]
    folder = root / "cr"
    folder.mkdir(parents=True, exist_ok=True)
    src = get_testdata_file("RG1_UNCR.dcm")
    cr = []
    for i in range(n):  # distinct files, so no OS cache effect beyond what real folders get
        shutil.copy(src, folder / f"rg1_{i}.dcm")
        cr.append(cg.PredictInput(str(folder / f"rg1_{i}.dcm"), f"rg1_{i}.dcm"))
    return {"phantom": phantom, "cr": cr}


def measure(predictor, inputs: list, batch_size: int) -> tuple[float, dict[str, float]]:
    import cogaze.api as cg

    cg.predict(predictor, inputs[:2], batch_size=2)  # warm-up (first-call allocations)
    t0 = time.perf_counter()
    preds = cg.predict(predictor, inputs, batch_size=batch_size)
    wall = time.perf_counter() - t0
    bad = [p.status for p in preds if not p.ok]
    if bad:
        raise SystemExit(f"predict failed on {len(bad)} images: {bad[0]}")
    totals = {k: sum(p.timings.get(k, 0.0) for p in preds) for k in STAGES}
    return len(preds) / wall, totals


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--demo", default=None, help="a `cogaze demo` output folder (its models are used)")
    ap.add_argument("--n", type=int, default=16, help="images per set")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    import cogaze.api as cg

    root = Path(tempfile.mkdtemp(prefix="cogaze-predict-bench-"))
    try:
        t0 = time.perf_counter()
        if args.demo:
            demo = Path(args.demo)
            run, rep, data = demo / "pretrain", demo / "report_generation", demo / "phantom"
            what = f"the demo's models ({demo})"
        else:
            run, rep, data = build_tiny(root)
            what = "tiny models trained here on a phantom (no --demo given)"
        predictor = cg.load_predictor(run, report_model=rep, index=data)
        info = predictor.info()
        print(f"models: {what}; image size {info['image_size']}, report model {info['report_variant']} "
              f"({info['num_beams'] or 'config'} beams), {info['index']['cases']} similar cases; "
              f"ready in {time.perf_counter() - t0:.1f} s")
        print(f"torch threads: {torch.get_num_threads()}, CPU cores: {os.cpu_count()}, load average: "
              f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}")
        sets = image_sets(data, args.n, root)
        result = {}
        for name, inputs in sets.items():
            for batch in (1, 16):
                rate, totals = measure(predictor, inputs, batch)
                total = sum(totals.values()) or 1.0
                shares = ", ".join(f"{k} {100 * totals[k] / total:.0f} %" for k in STAGES)
                print(f"{name:8s} batch {batch:2d}: {rate:6.2f} images/s  ({shares})")
                result[f"{name}_b{batch}"] = rate
        print(f"load average after: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
        print("RESULT " + " ".join(f"{k}={v:.2f}" for k, v in result.items()))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
