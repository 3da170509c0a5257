"""Structured report generation (SRRG-Findings): examples from an SRRG annotation JSON.

One example per study (the image chosen by :func:`cogaze.data.srrg.choose_image`); the target is the
structured findings text with its line breaks; the context is the history only (``context_format
"srrg"``). Training and generation are the free-text code with ``task: structured``
(:mod:`cogaze.tasks.report_generation.train`), which keeps line breaks through decoding.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from cogaze.data.srrg import SRRGItem, read_srrg_json
from cogaze.errors import DataError, Problems
from cogaze.tasks.report_generation.items import ReportItem

DEFAULT_ANNOTATION = Path("srrg") / "srrg_findings.json"
"""Where the phantom writes its SRRG annotation, relative to its dataset folder."""


def srrg_annotation_path(data_dir: str | Path, annotation: str | Path | None = None) -> Path:
    """``annotation`` if given, else ``<data_dir>/srrg/srrg_findings.json`` (the phantom's), which must exist."""
    path = Path(annotation) if annotation is not None else Path(data_dir) / DEFAULT_ANNOTATION
    if not path.is_file():
        hint = "" if annotation is not None else " (pass --srrg PATH to the SRRG annotation JSON)"
        raise DataError(f"SRRG annotation not found{hint}", path)
    return path


def report_item(item: SRRGItem, pixel_values: torch.Tensor | None = None) -> ReportItem:
    """The report-task example of an SRRG study."""
    return ReportItem(dicom_id=item.id, subject_id=item.subject_id, target=item.findings, view=item.view,
                      indication="", history=item.history, pixel_values=pixel_values, context_format="srrg")


def srrg_report_items(annotation: str | Path, split: str, preprocess: Callable[[np.ndarray], torch.Tensor],
                      mimic_root: str | Path, chexpert_root: str | Path | None = None, seed: int = 0,
                      problems: Problems | None = None) -> list[ReportItem]:
    """ReportItems of ``split`` with their chosen image read and preprocessed (``preprocess``: HxW(x3) array ->
    (3, S, S) tensor). A missing image is a DataError naming the study (or a counted skip)."""
    from cogaze.data.images import read_image

    problems = problems if problems is not None else Problems("raise")
    items = read_srrg_json(annotation, mimic_root, chexpert_root, splits=[split], seed=seed, problems=problems)[split]
    out = []
    for item in items:
        with problems.guard():
            if not item.image_path.is_file():
                root = "--chexpert-dir" if item.source == "chexpert" else "--data (the MIMIC-CXR-JPG root)"
                raise DataError(f"{split} study {item.id}: image {item.image_path} not found (check {root})",
                                annotation)
            out.append(report_item(item, preprocess(read_image(item.image_path))))
    return out
