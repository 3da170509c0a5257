"""The generated-reports CSV (columns dicom_id, reference_report, generated_report; spec 9)."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from cogaze.io import atomic_path

COLUMNS = ("dicom_id", "reference_report", "generated_report")


def write_reports_csv(path: str | Path, dicom_ids: Sequence[str], references: Sequence[str],
                      generated: Sequence[str]) -> Path:
    """Write the CSV atomically (temp file + os.replace)."""
    if not len(dicom_ids) == len(references) == len(generated):
        raise ValueError("dicom_ids, references and generated must have the same length")
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(COLUMNS)
        writer.writerows(zip(dicom_ids, references, generated))
    return Path(path)
