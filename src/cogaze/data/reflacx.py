"""REFLACX (PhysioNet reflacx-xray-localization 1.0.0) loader -> GazeReadings keyed by dicom_id.

Files (docs/formats.md): ``main_data/metadata_phase_*.csv`` (one row per reading: ``id``,
``eye_tracking_data_discarded``, ``dicom_id``, ``image_size_x``, ``image_size_y``, ...) and per
reading ``main_data/<id>/fixations.csv``, ``timestamps_transcription.csv`` and ``transcription.txt``.
Readings whose eye-tracking data was discarded are skipped and counted. Timed sentences are built
from the word timestamps, split after words ending a sentence ('.', '?', '!'); the paragraph is
``transcription.txt``. Several readings (radiologists) may share a dicom_id.
"""

from __future__ import annotations

from pathlib import Path

from cogaze.data.csvio import Row, read_table
from cogaze.data.gaze_io import FixationCollector
from cogaze.data.gaze_records import GazeReading, TimedSentence
from cogaze.data.paths import path_component
from cogaze.data.transcripts import drop_empty_sentences, is_empty_text, sentences_from_words
from cogaze.errors import DataError, OnError, Problems

META_COLUMNS = ("id", "eye_tracking_data_discarded", "dicom_id", "image_size_x", "image_size_y")
FIXATION_COLUMNS = ("timestamp_start_fixation", "timestamp_end_fixation", "x_position", "y_position")
OPTIONAL_FIXATION_COLUMNS = {
    "pupil": "pupil_area_normalized",
    "ppd_x": "angular_resolution_x_pixels_per_degree",
    "ppd_y": "angular_resolution_y_pixels_per_degree",
    "shown_xmin": "xmin_shown_from_image",
    "shown_ymin": "ymin_shown_from_image",
    "shown_xmax": "xmax_shown_from_image",
    "shown_ymax": "ymax_shown_from_image",
}
WORD_COLUMNS = ("word", "timestamp_start_word", "timestamp_end_word")
_TRUE = {"true", "1", "1.0", "yes", "t"}
_FALSE = {"false", "0", "0.0", "no", "f", ""}


def _main_dir(root: Path) -> Path:
    return root / "main_data" if (root / "main_data").is_dir() else root


def _discarded(row: Row) -> bool:
    text = row.get("eye_tracking_data_discarded").lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise row.error(f"eye_tracking_data_discarded: {text!r} is not true/false")


def _image_size(row: Row) -> tuple[int, int]:
    w, h = row.float("image_size_x"), row.float("image_size_y")
    if w <= 0 or h <= 0 or w != int(w) or h != int(h):
        raise row.error(f"bad image size {w:g} x {h:g}")
    return int(w), int(h)


def _sentences(folder: Path) -> tuple[list[TimedSentence], int]:
    """(timed sentences with text, empty sentences dropped)."""
    table = read_table(folder / "timestamps_transcription.csv", required=WORD_COLUMNS)
    words = []
    prev = float("-inf")
    for row in table:
        t0, t1 = row.float("timestamp_start_word"), row.float("timestamp_end_word")
        if t1 < t0:
            raise row.error(f"word end {t1:g} s before its start {t0:g} s")
        if t0 < prev:
            raise row.error(f"word start {t0:g} s before the previous word's {prev:g} s")
        prev = t0
        words.append((row.get("word"), t0, t1))
    return drop_empty_sentences(sentences_from_words(words))


def _paragraph(folder: Path, sentences: list[TimedSentence], problems: Problems) -> str:
    path = folder / "transcription.txt"
    if not path.is_file():
        problems.warn(f"{path}: missing; paragraph rebuilt from the word timestamps")
        return " ".join(s.text for s in sentences)
    try:
        return " ".join(path.read_text(encoding="utf-8").split())
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"cannot read transcription: {err}", path) from None


def _fixations(folder: Path, size: tuple[int, int], problems: Problems, sentences: list[TimedSentence]):
    table = read_table(folder / "fixations.csv", required=FIXATION_COLUMNS,
                       optional=tuple(OPTIONAL_FIXATION_COLUMNS.values()))
    present = {k: c for k, c in OPTIONAL_FIXATION_COLUMNS.items() if table.has(c)}
    span = (sentences[0].start, max(s.end for s in sentences)) if sentences else None
    collector = FixationCollector(table.path, size, problems, span)
    for row in table:
        with problems.guard():
            optional = {k: row.float(c) for k, c in present.items()}
            collector.add(row, row.float("x_position"), row.float("y_position"),
                          row.float("timestamp_start_fixation"), row.float("timestamp_end_fixation"), **optional)
    return collector.build()


def load_reflacx(root: str | Path, on_error: OnError = "raise",
                 problems: Problems | None = None) -> dict[str, list[GazeReading]]:
    """Load REFLACX readings keyed by dicom_id (lists keep metadata order; ids are unique).

    Bad files/rows: DataError naming file and line, or (``on_error="skip"``) the row or reading is
    dropped and counted. Discarded readings are skipped with one counted warning.
    """
    problems = problems if problems is not None else Problems(on_error)
    root = Path(root)
    main = _main_dir(root)
    metas = sorted(main.glob("metadata_phase_*.csv"))
    if not metas:
        raise DataError("no main_data/metadata_phase_*.csv found", root)
    out: dict[str, list[GazeReading]] = {}
    seen: dict[str, str] = {}
    discarded = 0
    empty: list[int] = []
    for meta_path in metas:
        for row in read_table(meta_path, required=META_COLUMNS):
            with problems.guard():
                rid = row.get("id")
                if not rid:
                    raise row.error("column 'id' is blank")
                try:
                    path_component(rid, "reading id")
                except ValueError as err:
                    raise row.error(str(err)) from None
                if rid in seen:
                    raise row.error(f"duplicate reading id {rid!r} (first: {seen[rid]})")
                seen[rid] = f"{meta_path.name}, line {row.line}"
                if _discarded(row):
                    discarded += 1
                    continue
                reading = _reading(main / rid, rid, row, problems, empty)
                out.setdefault(reading.dicom_id, []).append(reading)
    if discarded:
        problems.warn(f"{main}: {discarded} reading(s) with eye_tracking_data_discarded=True skipped")
    if sum(empty):
        problems.warn(f"{main}: {sum(empty)} empty transcript sentence(s) (no letter or digit) dropped in "
                      f"{sum(1 for n in empty if n)} reading(s)")
    return out


def _reading(folder: Path, rid: str, row: Row, problems: Problems, empty: list[int]) -> GazeReading:
    if not folder.is_dir():
        raise row.error(f"reading folder {folder.name}/ not found")
    size = _image_size(row)
    sentences, dropped = _sentences(folder)
    paragraph = _paragraph(folder, sentences, problems)
    if not sentences and is_empty_text(paragraph):
        raise DataError("transcript has no text (empty, whitespace or punctuation only)", folder / "transcription.txt")
    empty.append(dropped)
    return GazeReading(
        reading_id=rid, dicom_id=row.id("dicom_id"), source="reflacx",
        fixations=_fixations(folder, size, problems, sentences),
        sentences=tuple(sentences), paragraph=paragraph, image_size=size,
    )
