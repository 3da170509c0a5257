"""CheXpert label tables: the coding chexpert-labeler writes (1.0 positive, 0.0 negative, -1.0 uncertain,
blank = not mentioned) <-> the raw 4-state coding used inside cogaze (0 blank, 1 positive, 2 negative,
3 uncertain), reading report texts from a CSV and writing labelled CSVs."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from cogaze.data.records import BLANK, CHEXPERT_CLASSES, NEGATIVE, POSITIVE, UNCERTAIN
from cogaze.errors import DataError
from cogaze.io import atomic_write_text

_TO_TEXT = {BLANK: "", POSITIVE: "1.0", NEGATIVE: "0.0", UNCERTAIN: "-1.0"}
_FROM_TEXT = {"": BLANK, "1": POSITIVE, "1.0": POSITIVE, "0": NEGATIVE, "0.0": NEGATIVE, "-1": UNCERTAIN,
              "-1.0": UNCERTAIN}


def chexpert_text(raw: int) -> str:
    """One raw state as chexpert-labeler writes it ("1.0", "0.0", "-1.0" or "")."""
    return _TO_TEXT[int(raw)]


def _read_rows(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    if not path.is_file():
        raise DataError("file not found", path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise DataError(f"not valid UTF-8 (offset {err.start}); re-save the file as UTF-8", path) from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise DataError("empty file (no header row)", path, 1) from None
    except csv.Error as err:
        raise DataError(f"malformed CSV header: {err}", path, 1) from None
    rows: list[tuple[int, list[str]]] = []
    while True:
        line = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as err:
            raise DataError(f"malformed CSV: {err}", path, line) from None
        if row:  # a truly empty line is skipped; a row of empty fields is an (empty) record
            if len(row) != len(header):
                raise DataError(f"{len(row)} fields but the header has {len(header)}", path, line)
            rows.append((line, row))
    return header, rows


def read_report_texts(path: str | Path, column: str | None = None) -> tuple[str, list[str], list[int]]:
    """Report texts of a CSV: ``column`` or else the first column. Returns (column, texts, lines)."""
    path = Path(path)
    header, rows = _read_rows(path)
    if not header or (len(header) == 1 and not header[0]):
        raise DataError("no columns in the header row", path, 1)
    name = column if column is not None else header[0]
    if name not in header:
        raise DataError(f"no column {name!r}; columns found: {', '.join(header)}", path, 1)
    j = header.index(name)
    return name, [r[j] for _, r in rows], [line for line, _ in rows]


def write_labels_csv(path: str | Path, texts: Sequence[str], raw: np.ndarray) -> Path:
    """Write ``Reports`` + the 14 CheXpert columns (chexpert-labeler's layout) atomically."""
    path = Path(path)
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["Reports", *CHEXPERT_CLASSES])
    for text, row in zip(texts, np.asarray(raw)):
        w.writerow([text, *(chexpert_text(v) for v in row)])
    atomic_write_text(path, buf.getvalue())
    return path


def read_expected_labels(path: str | Path) -> tuple[list[str], list[str], np.ndarray]:
    """A labelled table (``group``, ``Reports`` and the 14 CheXpert columns) -> (groups, texts, raw (n, 14))."""
    path = Path(path)
    header, rows = _read_rows(path)
    missing = [c for c in ("Reports", *CHEXPERT_CLASSES) if c not in header]
    if missing:
        raise DataError(f"missing column(s) {', '.join(missing)}", path, 1)
    cols = [header.index(c) for c in CHEXPERT_CLASSES]
    gi = header.index("group") if "group" in header else None
    groups, texts, raw = [], [], []
    for line, row in rows:
        values = []
        for c, j in zip(CHEXPERT_CLASSES, cols):
            v = row[j].strip()
            if v not in _FROM_TEXT:
                raise DataError(f"{c}: {v!r} is not one of 1.0, 0.0, -1.0 or blank", path, line)
            values.append(_FROM_TEXT[v])
        groups.append(row[gi] if gi is not None else "")
        texts.append(row[header.index("Reports")])
        raw.append(values)
    return groups, texts, np.array(raw, dtype=np.int64).reshape(-1, len(CHEXPERT_CLASSES))
