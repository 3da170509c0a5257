"""Pretraining input at MIMIC-CXR size: naive decode vs fast decode vs a prepared image store.

Generates ``--images`` grey JPEGs of 2544 x 3056 (a MIMIC-CXR-JPG frame; quality 95, about 1.5 MB
like the real files), then feeds the 518 px model through the real pretraining DataLoader
(``PretrainSamples`` + ``PretrainCollator``, ``--workers`` worker processes, batch ``--batch``):

(a) naive: the pre-change path - full JPEG decode, conversion to RGB, bicubic resize of the three
    bands, float32 (3, 518, 518) pixels through the loader (the Rad-DINO processor's arithmetic);
(b) full decode, exact: the same values, the grey band resized once, uint8 through the loader;
(c) fast decode: DCT-scaled JPEG decode (>= 2x the target) + the exact resize, uint8 through the loader;
(d) store: ``cogaze data prepare`` once (timed), then uint8 crops from the memory-mapped shards.

uint8 batches are normalised on the accelerator (``finish_batch``), not in the loader. The store is
read from the page cache (the store of ``--images`` images fits in memory, as a 518 px MIMIC store fits
in a GPU machine's RAM or its local NVMe). Also prints the disk per image of the sources, the store
and the frozen-encoder feature cache (Rad-DINO at 518 px: 1370 tokens x 768 x fp16).

    PYTHONPATH=src python benchmarks/input_pipeline.py [--images 32] [--workers 2]

Last line: ``RESULT naive_img_per_s=<a> fast_decode_img_per_s=<b> store_img_per_s=<c>``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFilter
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from cogaze.data.geometry import ImageGeometry  # noqa: E402
from cogaze.data.images import read_image  # noqa: E402
from cogaze.data.pixels import ModelImages  # noqa: E402
from cogaze.data.records import ImageRecord  # noqa: E402
from cogaze.data.store import ImageStore  # noqa: E402
from cogaze.data.store_build import prepare_store  # noqa: E402
from cogaze.models.tokenizer import train_tokenizer  # noqa: E402
from cogaze.tasks.pretrain.collate import PretrainCollator  # noqa: E402
from cogaze.tasks.pretrain.samples import PretrainSamples  # noqa: E402

WIDTH, HEIGHT, SIZE = 2544, 3056, 518
MEAN, STD = (0.5307,) * 3, (0.2583,) * 3
REPORTS = ["No acute cardiopulmonary process.", "Small left pleural effusion. Mild cardiomegaly.",
           "Right lower lobe opacity concerning for pneumonia.", "Lines and tubes in standard position."]


def cxr_jpeg(path: Path, seed: int) -> None:
    """A grey 2544 x 3056 JPEG: smooth shading, blurred film noise, hard-edged markers, wires and text."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    phase = rng.uniform(0, 6.28, 3)
    base = 110 + 50 * np.sin(x / 212 + phase[0]) + 40 * np.cos(y / 161 + phase[1]) + 25 * np.sin((x + y) / 42 + phase[2])
    noise = np.asarray(Image.fromarray(rng.normal(128, 40, (HEIGHT, WIDTH)).clip(0, 255).astype(np.uint8))
                       .filter(ImageFilter.GaussianBlur(1.2)), np.float32) - 128
    img = Image.fromarray((base + noise / 3).clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for i in range(12):
        draw.rectangle([120 + i * 180, 200, 170 + i * 180, 260], fill=255)
        draw.line([0, 1000 + i * 50, WIDTH, 1200 + i * 60], fill=0, width=3)
    draw.text((300, 2800), "L PORTABLE", fill=255)
    img.save(path, quality=95)


class NaiveSamples(PretrainSamples):
    """The pre-change image path: full decode, RGB, bicubic resize of 3 bands, float32 out of the loader."""

    def __getitem__(self, index: int) -> dict:
        sample = super().__getitem__(index)
        arr = read_image(self.records[index].image_path)
        lay = self.geometry.layout(arr.shape[1], arr.shape[0])
        rgb = Image.fromarray(arr).convert("RGB").resize((lay.resized_width, lay.resized_height),
                                                         Image.Resampling.BICUBIC)
        rgb = np.asarray(rgb.crop((lay.left, lay.top, lay.left + SIZE, lay.top + SIZE)), np.float32) / 255.0
        out = (rgb - np.asarray(self.geometry.mean, np.float32)) / np.asarray(self.geometry.std, np.float32)
        sample.pop("image_u8", None)
        sample["pixel_values"] = torch.from_numpy(np.ascontiguousarray(out.transpose(2, 0, 1)))
        return sample


def records_for(paths: list[Path], repeat: int) -> list[ImageRecord]:
    recs = []
    for r in range(repeat):
        for i, p in enumerate(paths):
            recs.append(ImageRecord(dicom_id=f"d{i}", subject_id=f"{10000000 + i}",
                                    study_id=f"{50000000 + r * 1000 + i}", image_path=p, view="PA",
                                    findings=REPORTS[i % len(REPORTS)], indication="Dyspnea."))
    return recs


def loader_rate(samples: PretrainSamples, collate: PretrainCollator, workers: int, batch: int) -> float:
    """Images per second through a DataLoader, from its creation to the last batch (worker start-up,
    about 0.1 s with fork, included; every run is long enough for it not to matter)."""
    dl = DataLoader(samples, batch_size=batch, shuffle=False, num_workers=workers, collate_fn=collate,
                    drop_last=True, persistent_workers=False)
    start, n = time.perf_counter(), 0
    for b in dl:
        n += len(b["view_ids"])
    return n / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=int, default=32, help="Distinct generated JPEGs.")
    ap.add_argument("--workers", type=int, default=2, help="DataLoader worker processes (and prepare processes).")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--store-repeat", type=int, default=60, help="Passes over the images when timing the store.")
    args = ap.parse_args()
    torch.set_num_threads(1)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    tmp = Path(tempfile.mkdtemp(prefix="cogaze-input-"))
    print(f"generating {args.images} JPEGs of {WIDTH}x{HEIGHT} in {tmp} ...", flush=True)
    paths = []
    for i in range(args.images):
        paths.append(tmp / f"img{i:03d}.jpg")
        cxr_jpeg(paths[-1], seed=i)
    jpeg_bytes = float(np.mean([p.stat().st_size for p in paths]))
    tok = train_tokenizer(REPORTS * 5 + ["dyspnea"], tmp / "tok", vocab_size=300)
    collate = PretrainCollator(tok, 64)
    geometry = ImageGeometry(size=SIZE, mean=MEAN, std=STD)
    recs = records_for(paths, 1)
    w, b = args.workers, args.batch

    naive = loader_rate(NaiveSamples(recs, geometry), collate, w, b)
    exact = loader_rate(PretrainSamples(records_for(paths, 2), geometry, images=ModelImages(geometry, fast=False)),
                        collate, w, b)
    fast = loader_rate(PretrainSamples(records_for(paths, 3), geometry, images=ModelImages(geometry, fast=True)),
                       collate, w, b)
    start = time.perf_counter()
    prepare_store([(f"d{i}", p) for i, p in enumerate(paths)], tmp / "store", size=SIZE, workers=w,
                  shard_images=16, progress=False)
    prepare_s = time.perf_counter() - start
    store = ImageStore(tmp / "store")
    stored = loader_rate(PretrainSamples(records_for(paths, args.store_repeat), geometry,
                                         images=ModelImages(geometry, store)), collate, w, b)
    store_bytes = sum(int(s["bytes"]) for s in store.shards) / len(store)
    feature_bytes = (1 + (SIZE // 14) ** 2) * 768 * 2

    print(f"\n{args.images} images {WIDTH}x{HEIGHT} JPEG (mean {jpeg_bytes / 1e6:.2f} MB) -> {SIZE} px model input; "
          f"DataLoader with {w} workers, batch {b}, {os.cpu_count()} CPU cores, load average at the end "
          f"{os.getloadavg()[0]:.1f} (other processes share the cores)")
    print(f"  (a) naive (full decode, RGB resize, float32) : {naive:8.1f} img/s")
    print(f"  (b) full decode, grey resize, uint8          : {exact:8.1f} img/s  ({exact / naive:.1f}x)")
    print(f"  (c) fast decode (DCT-scaled), uint8          : {fast:8.1f} img/s  ({fast / naive:.1f}x)")
    print(f"  (d) prepared store, uint8                    : {stored:8.1f} img/s  ({stored / naive:.0f}x)")
    print(f"  prepare (fast decode, {w} processes)          : {args.images / prepare_s:8.1f} img/s, once")
    print(f"disk per image: source JPEG {jpeg_bytes / 1e6:.2f} MB, store {store_bytes / 1e6:.2f} MB (uint8 "
          f"{store.layout('d0').resized_width}x{store.layout('d0').resized_height}), frozen-feature cache "
          f"{feature_bytes / 1e6:.2f} MB (1370 x 768 fp16)")
    print(f"targets: fast >= 3x naive: {'met' if fast >= 3 * naive else 'NOT met'}; store >= 1000 img/s: "
          f"{'met' if stored >= 1000 else 'NOT met'}")
    print(f"RESULT naive_img_per_s={naive:.1f} fast_decode_img_per_s={fast:.1f} store_img_per_s={stored:.1f}")


if __name__ == "__main__":
    main()
