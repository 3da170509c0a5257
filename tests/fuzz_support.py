"""Helpers of the fuzz suite (tests/test_fuzz_*.py): damaged copies of a phantom dataset and one CLI runner.

Every fuzz case is a bad input a careless or unlucky user could give. It declares what cogaze must do with
it (``kind``): ``error`` (a clean message naming the file, row or key, non-zero exit), ``skip`` (the item
is left out, logged and counted) or ``flag`` (the run goes on with a warning or a named policy). The
case records its kind as a test property; ``benchmarks/fuzz_tally.py`` runs the suite and counts the
outcomes: a failed assertion is a silent wrong result (or a wrong message), any other exception a traceback.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import struct
import zlib
from pathlib import Path

from cogaze.cli import main

KINDS = ("error", "skip", "flag")


def fuzz_kind(record_property, kind: str) -> None:
    """Record the case's expected handling for the tally (see the module docstring)."""
    assert kind in KINDS
    record_property("fuzz", kind)


def run_cli(capsys, argv: list[str]) -> tuple[int, str]:
    """(exit code, stdout + stderr) of ``cogaze ARGV``; an exception escaping ``main`` fails the case."""
    capsys.readouterr()
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert "Traceback (most recent call last)" not in text, text[-3000:]
    return code, text


def expect(capsys, argv: list[str], code: int, pattern: str) -> str:
    """Run ``cogaze ARGV``; assert the exit code and that ``pattern`` (a regex) is in its output."""
    got, text = run_cli(capsys, argv)
    assert got == code, f"exit {got} (expected {code}):\n{text[-3000:]}"
    assert re.search(pattern, text), f"{pattern!r} not in output:\n{text[-3000:]}"
    return text


def copy_dataset(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def read_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


def write_rows(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)


def set_cell(path: Path, row: int, column: str, value: object) -> str:
    """Set ``column`` of data row ``row`` (0-based) of a CSV file; returns the old value."""
    header, rows = read_rows(path)
    col = header.index(column)
    old = rows[row][col]
    rows[row][col] = str(value)
    write_rows(path, header, rows)
    return old


def images_of(root: Path, split: str) -> list[Path]:
    """Image files of one split of a dataset folder (sorted, via the split and metadata CSVs)."""
    _, split_rows = read_rows(root / "mimic-cxr-2.0.0-split.csv")
    wanted = {r[0] for r in split_rows if r[3] in ({"val", "validate"} if split == "val" else {split})}
    return sorted(p for p in (root / "files").rglob("*.jpg") if p.stem in wanted)


def png_header(path: Path, width: int, height: int) -> Path:
    """A PNG file that declares ``width`` x ``height`` pixels but holds almost no data (a decompression bomb
    as far as a decoder that trusts the header is concerned)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))
    return path


def egd_readings(root: Path) -> dict[str, list[int]]:
    """Row indices of egd/fixations.csv per DICOM_ID (file order)."""
    header, rows = read_rows(root / "egd" / "fixations.csv")
    col = header.index("DICOM_ID")
    out: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        out.setdefault(row[col], []).append(i)
    return out


def transcript(root: Path, dicom: str) -> Path:
    return root / "egd" / "audio_segmentation_transcripts" / dicom / "transcript.json"


def edit_json(path: Path, change) -> None:  # noqa: ANN001 - a callable taking and returning the data
    path.write_text(json.dumps(change(json.loads(path.read_text()))), encoding="utf-8")
