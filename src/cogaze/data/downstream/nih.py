"""NIH ChestX-ray14 with the BenchX split (spec 5.4, 8): 14 disease labels, multi-label.

Split files live in one folder: ``train_1``, ``train_10``, ``val`` and ``test`` come as ``.txt`` (image
names) and ``.csv`` (the NIH columns); the full ``train`` list has only ``train.txt`` upstream, so its
rows are rebuilt from the NIH ``Data_Entry_2017*.csv`` (either its pipe-separated ``Finding Labels``
column or the 15 binary columns of the split CSVs). "No Finding" is dropped (it is 1 exactly when no
disease is).
"""

from __future__ import annotations

import re
from pathlib import Path

from cogaze.data.downstream.common import (
    DownstreamSet,
    RecordBuilder,
    check_fraction,
    parse_binary,
    read_csv_rows,
    read_lines,
)
from cogaze.data.records import parse_view
from cogaze.errors import ConfigError, DataError, OnError, Problems

NIH_ALL_LABELS: tuple[str, ...] = (
    "Atelectasis",
    "Cardiomegaly",
    "Consolidation",
    "Edema",
    "Effusion",
    "Emphysema",
    "Fibrosis",
    "Hernia",
    "Infiltration",
    "Mass",
    "No Finding",
    "Nodule",
    "Pleural_Thickening",
    "Pneumonia",
    "Pneumothorax",
)
"""The 15 binary columns of the BenchX NIH CSVs, in file order (alphabetical)."""

NIH_CLASSES: tuple[str, ...] = tuple(c for c in NIH_ALL_LABELS if c != "No Finding")
"""The 14 disease classes the model predicts (spec 5.4)."""

NIH_META_COLUMNS: tuple[str, ...] = (
    "Image Index",
    "Follow-up #",
    "Patient ID",
    "Patient Age",
    "Patient Gender",
    "View Position",
)
NIH_CSV_COLUMNS: tuple[str, ...] = NIH_META_COLUMNS + NIH_ALL_LABELS
"""Columns of the BenchX NIH split CSVs (and of rebuilt train rows)."""

_AGE = re.compile(r"^0*(\d+)\s*[Yy]?$")


def _labels_from_columns(row: dict[str, str], path: Path, line: int) -> dict[str, int]:
    return {name: parse_binary(row[name], path, line, f"{name!r} label") for name in NIH_ALL_LABELS}


def _labels_from_findings(text: str, path: Path, line: int) -> dict[str, int]:
    """``"Cardiomegaly|Effusion"`` or ``"No Finding"`` -> the 15 binary columns."""
    found = {t.strip() for t in text.split("|") if t.strip()}
    unknown = sorted(found - set(NIH_ALL_LABELS))
    if unknown or not found:
        raise DataError(f"unknown finding label(s) {unknown or [text]}; known: {', '.join(NIH_ALL_LABELS)}", path, line)
    return {name: int(name in found) for name in NIH_ALL_LABELS}


def _context(row: dict[str, str], path: Path, line: int) -> str:
    """"Follow-up visit {k} of a {age}-year-old {man|woman}." (spec 5.4)."""
    age_text = row["Patient Age"]
    match = _AGE.match(age_text)
    if age_text and not match:
        raise DataError(f"unreadable Patient Age {age_text!r}", path, line)
    sex = {"M": "man", "F": "woman"}.get(row["Patient Gender"].upper(), "")
    who = f"{match.group(1)}-year-old {sex}".strip() if match else (sex or "patient")
    return f"Follow-up visit {row['Follow-up #']} of a {who}."


def read_data_entry(path: Path) -> dict[str, tuple[int, dict[str, str]]]:
    """NIH ``Data_Entry_2017*.csv`` -> {image name: (line, row)}; rows hold the 15 label columns."""
    path = Path(path)
    if not path.is_file():
        raise DataError("NIH Data_Entry CSV not found", path)
    rows = list(read_csv_rows(path, ("Image Index",) + NIH_META_COLUMNS[1:]))
    out: dict[str, tuple[int, dict[str, str]]] = {}
    has_findings = bool(rows) and "Finding Labels" in rows[0][1]
    for line, row in rows:
        if has_findings:
            labels = _labels_from_findings(row["Finding Labels"], path, line)
        else:
            missing = [c for c in NIH_ALL_LABELS if c not in row]
            if missing:
                raise DataError(f"needs 'Finding Labels' or the 15 label columns; missing {missing}", path, 1)
            labels = _labels_from_columns(row, path, line)
        name = row["Image Index"]
        if name in out:
            raise DataError(f"duplicate Image Index {name!r} (first on line {out[name][0]})", path, line)
        out[name] = (line, {**row, **{k: str(v) for k, v in labels.items()}})
    return out


def load_nih(
    image_root: str | Path | None,
    data_entry_csv: str | Path | None,
    split_dir: str | Path,
    split: str,
    fraction: int = 100,
    *,
    on_error: OnError = "raise",
    check_images: bool = True,
    problems: Problems | None = None,
) -> DownstreamSet:
    """NIH ChestX-ray14 records of one BenchX split at a label fraction (1, 10 or 100 % of train).

    ``data_entry_csv`` is needed only where the split has no CSV (upstream: full ``train``). Images
    are looked up by file name anywhere under ``image_root`` (the NIH ``images_0XX/images/`` layout
    or a flat folder); with ``check_images=False`` nothing but the split files is read.
    """
    split, stem = check_fraction(split, fraction)
    split_dir = Path(split_dir)
    problems = problems or Problems(on_error)
    csv_path, txt_path = split_dir / f"{stem}.csv", split_dir / f"{stem}.txt"
    entries: list[tuple[Path, int, dict[str, str]]] = []
    if csv_path.is_file():
        source = csv_path
        for line, row in read_csv_rows(csv_path, NIH_CSV_COLUMNS, problems):
            with problems.guard():
                entries.append((csv_path, line, {**row, **{k: str(v) for k, v in _labels_from_columns(row, csv_path, line).items()}}))
        if txt_path.is_file():
            listed = [name for _, name in read_lines(txt_path)]
            if listed != [row["Image Index"] for _, _, row in entries]:
                problems.warn(f"{txt_path} and {csv_path} list different images; using the CSV")
    elif txt_path.is_file():
        source = txt_path
        if data_entry_csv is None:
            raise ConfigError(
                f"{csv_path.name} is absent: pass the NIH Data_Entry_2017 CSV (--data-entry on the command line, "
                f"data_entry_csv= in Python) to rebuild rows from {txt_path}"
            )
        table = read_data_entry(Path(data_entry_csv))
        for line, name in read_lines(txt_path):
            if name not in table:
                problems.report(DataError(f"{name!r} is not in {data_entry_csv}", txt_path, line))
                continue
            entries.append((txt_path, line, table[name][1]))
    else:
        raise DataError(f"no NIH split file {stem}.csv or {stem}.txt", split_dir)

    builder = RecordBuilder("nih", source, None if image_root is None else Path(image_root), check_images, problems)
    for path, line, row in entries:
        with problems.guard():
            try:
                view = parse_view(row["View Position"])
            except ValueError as err:
                raise DataError(str(err), path, line) from None
            labels = [int(row[c]) for c in NIH_CLASSES]
            if int(row["No Finding"]) != int(not any(labels)):
                problems.warn(f"{path}, line {line}: 'No Finding' disagrees with the disease labels")
            name = row["Image Index"]
            builder.add(
                line,
                [name],
                image_id=name,
                labels=labels,
                class_names=NIH_CLASSES,
                view=view,
                split=split,
                context=_context(row, path, line),
                patient_id=row["Patient ID"],
            )
    return DownstreamSet("nih", split, fraction, "multilabel", NIH_CLASSES, builder.records, problems, source)
