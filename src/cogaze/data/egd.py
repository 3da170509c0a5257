"""EGD (PhysioNet egd-cxr 1.0.0) loader: fixations and timed transcripts -> GazeReadings by dicom_id.

Files (docs/formats.md): ``fixations.csv`` (one table for all images, ``DICOM_ID`` column; a
per-image folder ``<dicom_id>/fixations.csv`` is also read), ``master_sheet.csv`` (``dicom_id``,
``path``) and ``audio_segmentation_transcripts/<dicom_id>/transcript.json``.

Times: ``FPOGS`` (fixation start on the eye tracker's clock) and ``FPOGD`` (duration) are seconds;
``Time (in secs)`` is on the per-image clock that the transcript uses. Fixation starts are
``FPOGS`` shifted onto the image clock by the first row's ``Time (in secs) - FPOGS`` (without that
column, the first fixation starts at 0). Coordinates are ``X_ORIGINAL``/``Y_ORIGINAL`` (pixels of
the original image). EGD has one reading per image, so ``reading_id`` is the dicom_id.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from cogaze.data.csvio import Row, Table, clean_id, read_table
from cogaze.data.gaze_io import FixationCollector, as_float, read_json
from cogaze.data.gaze_records import GazeReading, TimedSentence
from cogaze.data.images import image_size
from cogaze.data.paths import inside, path_component
from cogaze.data.transcripts import drop_empty_sentences, is_empty_text, sentences_from_words
from cogaze.errors import DataError, OnError, Problems

FIXATION_COLUMNS = ("FPOGS", "FPOGD", "X_ORIGINAL", "Y_ORIGINAL")
TIME_COLUMN = "Time (in secs)"
TRANSCRIPTS_DIR = "audio_segmentation_transcripts"


def _fixation_rows(root: Path) -> dict[str, tuple[Path, list[Row]]]:
    """Fixation rows grouped by dicom_id (file order kept), from the big table or per-image folders."""
    groups: dict[str, tuple[Path, list[Row]]] = {}
    big = root / "fixations.csv"
    tables: list[tuple[Table, str | None]] = []
    if big.is_file():
        tables.append((read_table(big, required=("DICOM_ID", *FIXATION_COLUMNS), optional=(TIME_COLUMN,)), None))
    else:
        for path in sorted(root.glob("*/fixations.csv")) + sorted(root.glob(f"{TRANSCRIPTS_DIR}/*/fixations.csv")):
            table = read_table(path, required=FIXATION_COLUMNS, optional=(TIME_COLUMN, "DICOM_ID"))
            tables.append((table, path.parent.name))
        if not tables:
            raise DataError("no fixations.csv (neither one table nor per-image folders)", root)
    for table, folder_id in tables:
        for row in table:
            dicom = row.id("DICOM_ID") if table.has("DICOM_ID") and row.get("DICOM_ID") else folder_id
            if dicom is None:
                raise row.error("column 'DICOM_ID' is blank")
            try:
                path_component(dicom, "DICOM_ID")
            except ValueError as err:
                raise row.error(str(err)) from None
            groups.setdefault(dicom, (table.path, []))[1].append(row)
    return groups


def _master_paths(root: Path) -> dict[str, str]:
    path = root / "master_sheet.csv"
    if not path.is_file():
        return {}
    table = read_table(path, required=("dicom_id", "path"))
    return {row.id("dicom_id"): row.get("path") for row in table if row.get("dicom_id")}


def _size_for(dicom: str, sizes: Mapping[str, tuple[int, int]], master: dict[str, str],
              image_root: Path) -> tuple[int, int]:
    if dicom in sizes:
        return tuple(int(v) for v in sizes[dicom])  # type: ignore[return-value]
    rel = master.get(dicom)
    if rel:
        try:
            base = inside(image_root, rel, f"master_sheet.csv path of {dicom}")
        except ValueError as err:
            raise DataError(str(err), image_root) from None
        for candidate in (base, base.with_suffix(".jpg"), base.with_suffix(".png"), base.with_suffix(".dcm")):
            if candidate.is_file():
                return image_size(candidate)
    raise DataError(f"image size of {dicom} unknown: no image found via master_sheet.csv 'path' under "
                    f"{image_root} (pass image_sizes= or image_root=)", image_root)


def _transcript(path: Path) -> tuple[list[TimedSentence], str, int]:
    """(sentences with text, the paragraph, empty sentences dropped); a transcript without any text is an error."""
    data = read_json(path)
    if not isinstance(data, dict) or "full_text" not in data or "time_stamped_text" not in data:
        raise DataError("transcript must be an object with 'full_text' and 'time_stamped_text'", path)
    items = data["time_stamped_text"]
    if not isinstance(items, list):
        raise DataError("'time_stamped_text' must be a list", path)
    phrases = []
    prev = float("-inf")
    for i, item in enumerate(items):
        where = f"time_stamped_text[{i}]"
        if not isinstance(item, dict) or not {"phrase", "begin_time", "end_time"} <= set(item):
            raise DataError(f"{where}: needs 'phrase', 'begin_time' and 'end_time'", path)
        t0 = as_float(item["begin_time"], f"{where}.begin_time", path)
        t1 = as_float(item["end_time"], f"{where}.end_time", path)
        if t1 < t0:
            raise DataError(f"{where}: end_time {t1:g} before begin_time {t0:g}", path)
        if t0 < prev:
            raise DataError(f"{where}: begin_time {t0:g} before the previous phrase's {prev:g}", path)
        prev = t0
        phrases.append((str(item["phrase"]), t0, t1))
    sentences, dropped = drop_empty_sentences(sentences_from_words(phrases))
    paragraph = " ".join(str(data["full_text"]).split())
    if not sentences and is_empty_text(paragraph):
        raise DataError("transcript has no text (empty, whitespace or punctuation only)", path)
    return sentences, paragraph, dropped


def load_egd(root: str | Path, on_error: OnError = "raise", problems: Problems | None = None,
             image_sizes: Mapping[str, tuple[int, int]] | None = None,
             image_root: str | Path | None = None) -> dict[str, list[GazeReading]]:
    """Load EGD gaze readings keyed by dicom_id (one reading per image).

    ``image_sizes`` maps dicom_id -> (width, height); images not in it are located through
    master_sheet.csv's ``path`` under ``image_root`` (default: the folder above ``root``, the dataset
    folder of docs/formats.md). Bad rows/files: DataError naming file and line, or skipped and counted.
    """
    problems = problems if problems is not None else Problems(on_error)
    root = Path(root)
    if not root.is_dir():
        raise DataError("EGD folder not found", root)
    image_root = Path(image_root) if image_root is not None else root.parent
    groups = _fixation_rows(root)
    master = _master_paths(root)
    sizes = image_sizes or {}
    out: dict[str, list[GazeReading]] = {}
    empty: list[int] = []
    for dicom, (path, rows) in groups.items():
        with problems.guard():
            reading = _reading(root, dicom, path, rows, _size_for(dicom, sizes, master, image_root), problems, empty)
            out[clean_id(dicom)] = [reading]
    if sum(empty):
        problems.warn(f"{root / TRANSCRIPTS_DIR}: {sum(empty)} empty transcript sentence(s) (no letter or digit) "
                      f"dropped in {sum(1 for n in empty if n)} reading(s)")
    return out


def _reading(root: Path, dicom: str, path: Path, rows: list[Row], size: tuple[int, int],
             problems: Problems, empty: list[int]) -> GazeReading:
    sentences, paragraph, dropped = _transcript(root / TRANSCRIPTS_DIR / dicom / "transcript.json")
    empty.append(dropped)
    span = (sentences[0].start, max(s.end for s in sentences)) if sentences else None
    collector = FixationCollector(path, size, problems, span)
    offset: float | None = None
    for row in rows:
        with problems.guard():
            fpogs = row.float("FPOGS")
            if offset is None:
                offset = (row.float(TIME_COLUMN) - fpogs) if row.values.get(TIME_COLUMN) else -fpogs
            start = fpogs + offset
            collector.add(row, row.float("X_ORIGINAL"), row.float("Y_ORIGINAL"), start,
                          start + row.float("FPOGD"))
    return GazeReading(reading_id=dicom, dicom_id=dicom, source="egd", fixations=collector.build(),
                       sentences=tuple(sentences), paragraph=paragraph, image_size=size)
