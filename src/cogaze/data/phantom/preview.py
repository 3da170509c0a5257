"""A captioned grid of phantom images (``cogaze data phantom --preview grid.png``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from cogaze.data.phantom.writer import study_dir

SHORT = {"Enlarged Cardiomediastinum": "wide mediast.", "Cardiomegaly": "cardiomegaly", "Lung Opacity": "opacity",
         "Lung Lesion": "nodule/mass", "Edema": "edema", "Consolidation": "consolidation", "Pneumonia": "pneumonia",
         "Atelectasis": "atelectasis", "Pneumothorax": "pneumothorax", "Pleural Effusion": "effusion",
         "Pleural Other": "pleural thick.", "Fracture": "rib fracture", "Support Devices": "devices",
         "No Finding": "no finding"}


def write_preview(root: str | Path, out_png: str | Path, n: int = 16, tile: int = 224) -> Path:
    """Write a 4x4 grid of images from the phantom folder ``root``, each captioned with its findings
    (``?`` marks uncertain labels). Frontal images with varied findings are preferred."""
    root = Path(root)
    meta = pd.read_csv(root / "mimic-cxr-2.0.0-metadata.csv", dtype={"subject_id": str, "study_id": str})
    lab = pd.read_csv(root / "mimic-cxr-2.0.0-chexpert.csv", dtype={"subject_id": str, "study_id": str})
    df = meta.merge(lab, on=["subject_id", "study_id"])
    df["frontal"] = df["ViewPosition"].isin(["PA", "AP"])
    df = pd.concat([df[df.frontal], df[~df.frontal]]).reset_index(drop=True)
    chosen: list[Any] = []
    seen_sets: set[tuple[str, ...]] = set()
    for i, row in df.iterrows():  # prefer images whose finding set is new
        key = tuple(c for c in SHORT if row[c] in (1.0, -1.0))
        if key not in seen_sets or len(df) - i <= n - len(chosen):
            chosen.append(row)
            seen_sets.add(key)
        if len(chosen) == n:
            break
    cols, cap = 4, 30
    rows = (len(chosen) + cols - 1) // cols
    canvas = Image.new("L", (cols * tile, rows * (tile + cap)), 0)
    draw = ImageDraw.Draw(canvas)
    for k, row in enumerate(chosen):
        img = Image.open(root / study_dir(row.subject_id, row.study_id) / f"{row.dicom_id}.jpg").convert("L")
        x, y = (k % cols) * tile, (k // cols) * (tile + cap)
        canvas.paste(img.resize((tile, tile)), (x, y))
        labels = [SHORT[c] + ("?" if row[c] == -1.0 else "") for c in SHORT if row[c] in (1.0, -1.0)]
        text = f"{row.ViewPosition}: " + (", ".join(labels) or "(none stated)")
        lines = [text[:36], text[36:72]] if len(text) > 36 else [text]
        for j, line in enumerate(lines):
            draw.text((x + 4, y + tile + 2 + 13 * j), line, fill=255)
    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(out, optimize=True)
    return out


def tile_array(path: str | Path) -> np.ndarray:
    """The preview as an array (for tests)."""
    return np.asarray(Image.open(path))
