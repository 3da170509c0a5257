"""The reference implementation's annotation JSON (spec 1.1): read into records and write from them.

Top level ``{"train": [...], "val": [...], "test": [...]}``, one item per image with ``id``,
``subject_id``, ``study_id``, ``anchor_scan.image_path``/``view_position`` (lists; element 0 used),
``findings``, ``findings_factual_serialization`` (items whose list is empty are dropped, counted),
``indication_pure``, ``history_pure``, ``disease_labels`` (14 raw CheXbert states) and
``sentence_gaze_heatmap``. The pretraining JSON repeats an image once per REFLACX recording; such
repeats are merged (first kept) and counted. We also write ``impression`` and ``comparison``, which
the reference code ignores, so that a write/read round trip keeps every text field.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from cogaze.data.csvio import clean_id
from cogaze.data.gaze_io import read_json
from cogaze.data.paths import inside
from cogaze.data.records import ImageRecord, RecordSet, parse_split, parse_view
from cogaze.errors import DataError, OnError, Problems
from cogaze.io import atomic_write_text

SPLIT_KEYS = ("train", "val", "test")


def _first(value: object) -> object:
    if isinstance(value, list):
        return value[0] if value else None
    return value


def _item_record(item: object, split: str, image_root: Path | None, problems: Problems, where: str,
                 path: Path) -> ImageRecord | None:
    if not isinstance(item, dict):
        raise DataError(f"{where}: item must be an object", path)
    missing = [k for k in ("id", "subject_id", "study_id", "anchor_scan", "findings", "disease_labels")
               if k not in item]
    if missing:
        raise DataError(f"{where}: missing field(s) {', '.join(missing)}", path)
    where = f"{where} (id {item['id']})"
    facts = item.get("findings_factual_serialization", None)
    if facts is not None and not isinstance(facts, list):
        raise DataError(f"{where}: findings_factual_serialization must be a list", path)
    if facts == []:
        return None
    scan = item["anchor_scan"]
    if not isinstance(scan, dict) or not _first(scan.get("image_path")):
        raise DataError(f"{where}: anchor_scan.image_path missing or empty", path)
    rel = str(_first(scan["image_path"]))
    view_text = _first(scan.get("view_position"))
    try:
        view = parse_view(view_text)
    except ValueError:
        problems.warn(f"{path}: {where}: unknown view position {view_text!r} mapped to UNKNOWN")
        view = "UNKNOWN"
    try:
        return ImageRecord(
            dicom_id=clean_id(item["id"]), subject_id=clean_id(item["subject_id"]),
            study_id=clean_id(item["study_id"]), image_path=inside(image_root, rel, "image_path") if image_root else Path(rel),
            view=view, split=split, findings=str(item["findings"] or "").strip(),
            impression=str(item.get("impression") or "").strip(),
            indication=str(item.get("indication_pure") or "").strip(),
            history=str(item.get("history_pure") or "").strip(),
            comparison=str(item.get("comparison") or "").strip(),
            raw_labels=tuple(item["disease_labels"]),
        )
    except (ValueError, TypeError) as err:
        raise DataError(f"{where}: {err}", path) from None


def read_annotation_json(path: str | Path, image_root: str | Path | None = None, on_error: OnError = "raise",
                         problems: Problems | None = None) -> RecordSet:
    """Read an annotation JSON into a RecordSet (image paths joined to ``image_root`` when given)."""
    problems = problems if problems is not None else Problems(on_error)
    path = Path(path)
    data = read_json(path)
    if not isinstance(data, dict) or not any(k in data for k in ("train", "val", "validate", "test")):
        raise DataError("annotation JSON must be an object with 'train', 'val' and/or 'test' lists", path)
    root = Path(image_root) if image_root is not None else None
    records: list[ImageRecord] = []
    seen: set[str] = set()
    dropped = repeats = 0
    for key, items in data.items():
        try:
            split = parse_split(key)
        except ValueError:
            problems.warn(f"{path}: top-level key {key!r} is not a split; ignored")
            continue
        if not isinstance(items, list):
            raise DataError(f"{key!r} must be a list of items", path)
        for i, item in enumerate(items):
            with problems.guard():
                rec = _item_record(item, split, root, problems, f"{key}[{i}]", path)
                if rec is None:
                    dropped += 1
                elif rec.dicom_id in seen:
                    repeats += 1
                else:
                    seen.add(rec.dicom_id)
                    records.append(rec)
    if dropped:
        problems.warn(f"{path}: {dropped} item(s) with an empty findings_factual_serialization dropped (spec 1.1)")
    if repeats:
        problems.warn(f"{path}: {repeats} repeated item(s) of an already-read image merged (one per gaze recording)")
    return RecordSet(records)


def _facts(findings: str) -> list[str]:
    """Sentence split used as ``findings_factual_serialization`` (only its emptiness matters, spec 1.1)."""
    parts = [p.strip() for p in findings.replace("\n", " ").split(". ")]
    return [p if p.endswith(".") else p + "." for p in parts if p.strip(" .")]


def _item(rec: ImageRecord, image_root: Path | None) -> dict:
    image = rec.image_path
    rel = "" if image is None else str(image)
    if image is not None and image_root is not None:
        try:
            rel = Path(image).relative_to(image_root).as_posix()
        except ValueError:
            rel = str(image)
    gaze = None
    if rec.gaze:
        gaze = {"image_dir": rec.gaze[0].reading_id, "transcript_full_text": rec.gaze[0].paragraph}
    return {
        "id": rec.dicom_id, "subject_id": rec.subject_id, "study_id": rec.study_id,
        "anchor_scan": {"image_path": [rel], "view_position": [rec.view]},
        "findings": rec.findings, "findings_factual_serialization": _facts(rec.findings),
        "impression": rec.impression, "comparison": rec.comparison,
        "indication_pure": rec.indication, "history_pure": rec.history,
        "disease_labels": list(rec.raw_labels), "sentence_gaze_heatmap": gaze,
    }


def write_annotation_json(records: Iterable[ImageRecord], path: str | Path,
                          image_root: str | Path | None = None) -> Path:
    """Write records as an annotation JSON (atomically); image paths made relative to ``image_root``.

    Records with empty findings get an empty ``findings_factual_serialization`` and are therefore
    dropped again on reading, as the reference code does.
    """
    path = Path(path)
    root = Path(image_root) if image_root is not None else None
    data: dict[str, list[dict]] = {k: [] for k in SPLIT_KEYS}
    for rec in records:
        data[rec.split].append(_item(rec, root))
    return atomic_write_text(path, json.dumps(data, indent=1))
