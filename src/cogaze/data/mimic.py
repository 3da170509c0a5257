"""MIMIC-CXR-JPG loader: metadata, split and label CSVs, images and report texts -> RecordSet.

Layout (docs/formats.md): ``root/mimic-cxr-2.0.0-{metadata,split,chexpert|negbio}.csv[.gz]``,
images ``root/files/pXX/pXXXXXXXX/sXXXXXXXX/<dicom_id>.jpg`` (also .png/.dcm) and reports
``root/files/pXX/pXXXXXXXX/sXXXXXXXX.txt``. Label CSV values 1.0 / 0.0 / -1.0 / blank become the raw
CheXbert coding 1 / 2 / 3 / 0 of spec 1.3 ("No Finding" only uses 0 and 1).

Impression-only studies (an IMPRESSION section but no FINDINGS; docs/formats.md): the report text of
an image is its FINDINGS section. ``impression_only="use"`` (default, as many report-generation works
do) takes the impression as the report text; ``"skip"`` leaves such images out. Either way they are
counted in one warning (shown by ``cogaze data validate`` and logged when pretraining loads the data).
Studies with neither section keep an empty report text and are counted in a warning too.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from cogaze.data.csvio import Row, find_file, read_table
from cogaze.data.paths import path_component
from cogaze.data.records import CHEXPERT_CLASSES, ImageRecord, RecordSet, parse_split, parse_view
from cogaze.data.sections import ReportSections, parse_report
from cogaze.errors import DataError, OnError, Problems

METADATA_CSV = "mimic-cxr-2.0.0-metadata.csv"
SPLIT_CSV = "mimic-cxr-2.0.0-split.csv"
LABEL_CSVS = ("mimic-cxr-2.0.0-chexpert.csv", "mimic-cxr-2.0.0-negbio.csv")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".dcm")

IMPRESSION_ONLY_POLICIES: tuple[str, ...] = ("use", "skip")
_LABEL_CODES = {"1": 1, "1.0": 1, "0": 2, "0.0": 2, "-1": 3, "-1.0": 3, "": 0}


def study_dir(root: str | Path, subject_id: str, study_id: str) -> Path:
    """``root/files/pXX/pXXXXXXXX/sXXXXXXXX`` of a study."""
    return Path(root) / "files" / f"p{subject_id[:2]}" / f"p{subject_id}" / f"s{study_id}"


def report_path(root: str | Path, subject_id: str, study_id: str) -> Path:
    """``root/files/pXX/pXXXXXXXX/sXXXXXXXX.txt``: the free-text report of a study."""
    folder = study_dir(root, subject_id, study_id)
    return folder.parent / f"{folder.name}.txt"


def find_image(root: str | Path, subject_id: str, study_id: str, dicom_id: str) -> Path | None:
    """The image file of ``dicom_id`` (first existing of .jpg, .jpeg, .png, .dcm), or None."""
    folder = study_dir(root, subject_id, study_id)
    for suffix in IMAGE_SUFFIXES:
        candidate = folder / f"{dicom_id}{suffix}"
        if candidate.is_file():
            return candidate
    return None


def parse_label(value: str, column: str) -> int:
    """One label CSV cell -> raw CheXbert state; raises ValueError outside 1.0/0.0/-1.0/blank."""
    text = value.strip()
    code = _LABEL_CODES.get(text)
    if code is None:
        raise ValueError(f"label {column!r}: {value!r} is not one of 1.0, 0.0, -1.0 or blank")
    if column == "No Finding" and code != 1:
        if code == 3:
            raise ValueError(f"label 'No Finding': {value!r} (uncertain) is outside its coding 1.0/blank")
        code = 0  # an explicit 0.0 means "not no-finding" = blank in the {0,1} coding of spec 1.3
    return code


def _read_labels(path: Path, problems: Problems) -> dict[tuple[str, str], tuple[int, ...] | Row]:
    """Labels by (subject_id, study_id); a bad row maps to that Row (reported, for later reference)."""
    table = read_table(path, required=("subject_id", "study_id", *CHEXPERT_CLASSES))
    out: dict[tuple[str, str], tuple[int, ...] | Row] = {}
    first_line: dict[tuple[str, str], int] = {}
    for row in table:
        try:
            key = (row.id("subject_id"), row.id("study_id"))
            if key in first_line:
                raise row.error(f"duplicate label row for study {key[1]} (first at line {first_line[key]})")
            first_line[key] = row.line
            try:
                out[key] = tuple(parse_label(row.get(c), c) for c in CHEXPERT_CLASSES)
            except ValueError as err:
                out[key] = row
                raise row.error(str(err)) from None
        except DataError as err:
            problems.report(err)
    return out


def _read_splits(path: Path, problems: Problems) -> dict[str, tuple[str, str, str]]:
    """split by dicom_id, with the split row's (subject_id, study_id) for a consistency check."""
    table = read_table(path, required=("dicom_id", "study_id", "subject_id", "split"))
    out: dict[str, tuple[str, str, str]] = {}
    lines: dict[str, int] = {}
    for row in table:
        with problems.guard():
            dicom = row.id("dicom_id")
            if dicom in lines:
                raise row.error(f"duplicate dicom_id {dicom!r} (first at line {lines[dicom]})")
            lines[dicom] = row.line
            try:
                split = parse_split(row.get("split"))
            except ValueError as err:
                raise row.error(str(err)) from None
            out[dicom] = (split, row.id("subject_id"), row.id("study_id"))
    return out


def _read_report(path: Path, cache: dict[Path, ReportSections | DataError]) -> ReportSections:
    if path not in cache:
        try:
            text = path.read_text(encoding="utf-8")
            cache[path] = parse_report(text) if text.strip() else DataError("empty report", path)
        except FileNotFoundError:
            cache[path] = DataError("report file not found", path)
        except (OSError, UnicodeDecodeError) as err:
            cache[path] = DataError(f"cannot read report: {err}", path)
    found = cache[path]
    if isinstance(found, DataError):
        raise found
    return found


def load_mimic(root: str | Path, on_error: OnError = "raise", problems: Problems | None = None,
               impression_only: str = "use") -> RecordSet:
    """Load a MIMIC-CXR-JPG style folder into a :class:`RecordSet` (one record per metadata row).

    Every problem (missing file/column/row, bad label, duplicate dicom_id, unparseable CSV) is a
    DataError naming file and line; with ``on_error="skip"`` the offending image is dropped and the
    problem counted in ``problems``. An unrecognised view string becomes UNKNOWN with a warning.
    ``impression_only``: the policy for studies without FINDINGS (module docstring).
    """
    if impression_only not in IMPRESSION_ONLY_POLICIES:
        raise ValueError(f"impression_only must be one of {', '.join(IMPRESSION_ONLY_POLICIES)}, "
                         f"got {impression_only!r}")
    problems = problems if problems is not None else Problems(on_error)
    root = Path(root)
    if not root.is_dir():
        raise DataError("MIMIC-CXR folder not found", root)
    meta_path = find_file(root, (METADATA_CSV,))
    split_path = find_file(root, (SPLIT_CSV,))
    label_path = find_file(root, LABEL_CSVS)
    for name, found in ((METADATA_CSV, meta_path), (SPLIT_CSV, split_path), (" or ".join(LABEL_CSVS), label_path)):
        if found is None:
            raise DataError(f"required file {name} (or .gz) not found", root)
    assert meta_path is not None and split_path is not None and label_path is not None
    meta = read_table(meta_path, required=("dicom_id", "subject_id", "study_id", "ViewPosition"))
    splits = _read_splits(split_path, problems)
    labels = _read_labels(label_path, problems)
    reports: dict[Path, ReportSections | DataError] = {}
    records: list[ImageRecord] = []
    seen: dict[str, int] = {}
    for row in meta:
        with problems.guard():
            records.append(_record(root, row, splits, labels, reports, seen, problems))
    return RecordSet(_impression_policy(records, impression_only, problems))


def _impression_policy(records: list[ImageRecord], policy: str, problems: Problems) -> list[ImageRecord]:
    """Apply the impression-only policy and count what it did (one warning per kind)."""
    only = [r for r in records if not r.findings.strip() and r.impression.strip()]
    neither = [r for r in records if not r.findings.strip() and not r.impression.strip()]

    def studies(rs: list[ImageRecord]) -> str:
        ids = sorted({r.study_id for r in rs})
        return f"{len(ids)} stud{'y' if len(ids) == 1 else 'ies'} ({len(rs)} images; e.g. " \
               f"{', '.join(ids[:5])})"

    if only:
        what = ("their IMPRESSION is used as the report text" if policy == "use"
                else "their images are left out")
        problems.warn(f"{studies(only)} have an IMPRESSION but no FINDINGS section: {what} "
                      f"(data.impression_only={policy}; docs/formats.md)")
    if neither:
        problems.warn(f"{studies(neither)} have neither FINDINGS nor IMPRESSION: their report text is empty")
    ids = {r.dicom_id for r in only}
    if policy == "use":
        return [replace(r, findings=r.impression) if r.dicom_id in ids else r for r in records]
    return [r for r in records if r.dicom_id not in ids]


def _record(root: Path, row: Row, splits: dict, labels: dict, reports: dict, seen: dict[str, int],
            problems: Problems) -> ImageRecord:
    dicom, subject, study = row.id("dicom_id"), row.id("subject_id"), row.id("study_id")
    for column, value in (("dicom_id", dicom), ("subject_id", subject), ("study_id", study)):
        try:
            path_component(value, column)
        except ValueError as err:
            raise row.error(str(err)) from None
    if dicom in seen:
        raise row.error(f"duplicate dicom_id {dicom!r} (first at line {seen[dicom]})")
    seen[dicom] = row.line
    if dicom not in splits:
        raise row.error(f"dicom_id {dicom!r} has no row in {SPLIT_CSV}")
    split, split_subject, split_study = splits[dicom]
    if (split_subject, split_study) != (subject, study):
        raise row.error(f"dicom_id {dicom!r}: subject/study {subject}/{study} differ from the split file's "
                        f"{split_subject}/{split_study}")
    raw = labels.get((subject, study))
    if raw is None:
        raise row.error(f"study {study} (subject {subject}) has no row in the label CSV")
    if isinstance(raw, Row):
        raise row.error(f"study {study}: its label row ({raw.path.name}, line {raw.line}) is invalid")
    image = find_image(root, subject, study, dicom)
    if image is None:
        expected = study_dir(root, subject, study).relative_to(root) / f"{dicom}.jpg"
        raise row.error(f"image not found: {expected} (also tried .jpeg/.png/.dcm)")
    try:
        sections = _read_report(report_path(root, subject, study), reports)
    except DataError as err:
        raise row.error(f"study {study}: {err}") from None
    view_text = row.get("ViewPosition")
    try:
        view = parse_view(view_text)
    except ValueError:
        view = "UNKNOWN"
        problems.warn(f"{row.path}, line {row.line}: unknown view position {view_text!r} mapped to UNKNOWN")
    return ImageRecord(
        dicom_id=dicom, subject_id=subject, study_id=study, image_path=image, view=view, split=split,
        findings=sections.findings, impression=sections.impression, indication=sections.indication,
        history=sections.history, comparison=sections.comparison, raw_labels=raw,
    )
