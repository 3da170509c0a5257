"""A captioned grid of phantom images (``cogaze data phantom --preview grid.png``)."""

from __future__ import annotations

import textwrap
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


def preview_items(root: str | Path, n: int = 16) -> list[tuple[np.ndarray, str]]:
    """``n`` images of the phantom folder ``root`` (uint8 grayscale, native size), each with its caption
    ``"VIEW: findings"`` (``?`` marks uncertain labels); frontal images with varied findings first."""
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
    items = []
    for row in chosen:
        img = Image.open(root / study_dir(row.subject_id, row.study_id) / f"{row.dicom_id}.jpg").convert("L")
        labels = [SHORT[c] + ("?" if row[c] == -1.0 else "") for c in SHORT if row[c] in (1.0, -1.0)]
        items.append((np.asarray(img), f"{row.ViewPosition}: " + (", ".join(labels) or "(none stated)")))
    return items


def write_preview(root: str | Path, out_png: str | Path, n: int = 16, tile: int = 224) -> Path:
    """Write a 4-column grid of :func:`preview_items` to ``out_png``, each tile captioned below (wrapped
    at word boundaries)."""
    items = preview_items(root, n)
    cols, line_h, chars = 4, 13, max(12, tile // 6)
    wrapped = [textwrap.wrap(text, chars) for _, text in items]
    cap = 4 + line_h * max((len(w) for w in wrapped), default=1)
    rows = (len(items) + cols - 1) // cols
    canvas = Image.new("L", (cols * tile, rows * (tile + cap)), 0)
    draw = ImageDraw.Draw(canvas)
    for k, ((img, _), lines) in enumerate(zip(items, wrapped)):
        x, y = (k % cols) * tile, (k // cols) * (tile + cap)
        canvas.paste(Image.fromarray(img).resize((tile, tile)), (x, y))
        for j, line in enumerate(lines):
            draw.text((x + 4, y + tile + 2 + line_h * j), line, fill=255)
    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(out, optimize=True)
    return out


def tile_array(path: str | Path) -> np.ndarray:
    """The preview as an array (for tests)."""
    return np.asarray(Image.open(path))
