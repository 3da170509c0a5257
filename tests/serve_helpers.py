"""Tiny phantom-trained models for the `cogaze serve` tests (a pretraining run, a report run, the data)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from tiny_models import TINY


def build_runs(root: Path, n_patients: int = 10) -> dict[str, Path]:
    """Phantom data, a tokenizer, a one-epoch pretraining run and a one-epoch report run under ``root``."""
    from cogaze.cli import main
    from cogaze.data.phantom.generate import generate_phantom
    from cogaze.resources import config_path

    data, tok, run, rep = root / "ph", root / "tok", root / "run", root / "rep"
    generate_phantom(data, n_patients=n_patients, image_size=64, seed=0)
    assert main(["tokenizer", "train", str(data), "--out", str(tok), "--vocab-size", "300"]) == 0
    assert main(["pretrain", "--config", str(config_path("pretrain/phantom-scratch.yaml")), "--data", str(data),
                 "--run-dir", str(run), f"model.tokenizer={tok}", "-q", *TINY]) == 0
    assert main(["train-report", "--checkpoint", str(run), "--data", str(data), "--config",
                 str(config_path("report/phantom-tiny.yaml")), "--run-dir", str(rep), "-q", "train.epochs=1",
                 "decoder.num_beams=1", "decoder.max_new_tokens=12"]) == 0
    return {"data": data, "run": run, "rep": rep}


def png_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def jpeg_bytes(array: np.ndarray, quality: int = 92) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()
