"""The validated, typed record of one chest X-ray image and the collection of them.

Label coding follows spec 1.3: raw CheXbert states 0 blank, 1 positive, 2 negative, 3 uncertain;
the binarised target is 1 iff the raw state is positive or uncertain ("U-Ones").
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from cogaze.data.gaze_records import GazeReading

CHEXPERT_CLASSES: tuple[str, ...] = (
    "Enlarged Cardiomediastinum",
    "Cardiomegaly",
    "Lung Opacity",
    "Lung Lesion",
    "Edema",
    "Consolidation",
    "Pneumonia",
    "Atelectasis",
    "Pneumothorax",
    "Pleural Effusion",
    "Pleural Other",
    "Fracture",
    "Support Devices",
    "No Finding",
)
"""The 14 CheXbert observations in the fixed order of spec 1.3."""

FIVE_CLASSES: tuple[str, ...] = ("Cardiomegaly", "Edema", "Consolidation", "Atelectasis", "Pleural Effusion")
"""The 5-class subset used by clinical-efficacy scores (spec 6.2)."""

BLANK, POSITIVE, NEGATIVE, UNCERTAIN = 0, 1, 2, 3
RAW_LABEL_STATES = (BLANK, POSITIVE, NEGATIVE, UNCERTAIN)

SPLITS: tuple[str, ...] = ("train", "val", "test")
_SPLIT_ALIASES = {"train": "train", "val": "val", "valid": "val", "validate": "val", "validation": "val", "test": "test"}

VIEW_POSITIONS: tuple[str, ...] = (
    "PA",
    "AP",
    "LATERAL",
    "LL",
    "AP AXIAL",
    "AP LLD",
    "AP RLD",
    "PA LLD",
    "PA RLD",
    "LAO",
    "RAO",
    "LPO",
    "XTABLE LATERAL",
    "SWIMMERS",
    "UNKNOWN",
)
"""Every MIMIC-CXR ViewPosition value plus UNKNOWN (spec 1.5). Order = embedding row order."""

_VIEW_ALIASES = {"LAT": "LATERAL", "L": "LATERAL", "PA LAT": "LATERAL", "AP SUPINE": "AP", "AP UPRIGHT": "AP"}


def parse_view(value: object) -> str:
    """Normalise a view string to one of :data:`VIEW_POSITIONS`.

    Missing or empty values give ``"UNKNOWN"``. A non-empty string that is no known view raises
    ``ValueError`` (loaders turn it into a DataError naming file and row, or map it to UNKNOWN with a
    warning, by their policy).
    """
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "UNKNOWN"
    text = " ".join(str(value).strip().upper().replace("_", " ").split())
    if text in ("", "NAN", "NONE", "UNKNOWN"):
        return "UNKNOWN"
    text = _VIEW_ALIASES.get(text, text)
    if text not in VIEW_POSITIONS:
        raise ValueError(f"unknown view position {value!r}; known: {', '.join(VIEW_POSITIONS)}")
    return text


def parse_split(value: object) -> str:
    """Normalise a split name ('validate' -> 'val'); raises ValueError for anything else."""
    text = str(value).strip().lower()
    if text not in _SPLIT_ALIASES:
        raise ValueError(f"unknown split {value!r}; expected one of train, validate/val, test")
    return _SPLIT_ALIASES[text]


def binarize_labels(raw: Sequence[int] | np.ndarray) -> np.ndarray:
    """Raw 4-state CheXbert labels (..., 14) -> binary targets: 1 iff positive (1) or uncertain (3)."""
    arr = np.asarray(raw)
    return ((arr == POSITIVE) | (arr == UNCERTAIN)).astype(np.int64)


def check_raw_labels(raw: Sequence[int]) -> tuple[int, ...]:
    """Validate a 14-vector of raw states; returns it as a tuple of ints or raises ValueError."""
    values = tuple(int(v) for v in raw)
    if len(values) != len(CHEXPERT_CLASSES):
        raise ValueError(f"expected {len(CHEXPERT_CLASSES)} labels, got {len(values)}")
    bad = [(CHEXPERT_CLASSES[i], v) for i, v in enumerate(values) if v not in RAW_LABEL_STATES]
    if bad:
        raise ValueError(f"label values outside the coding 0/1/2/3: {bad}")
    return values


@dataclass(frozen=True)
class ImageRecord:
    """One image (DICOM) with its study's report, context, labels and optional gaze readings."""

    dicom_id: str
    subject_id: str
    study_id: str
    image_path: Path | None
    view: str = "UNKNOWN"
    split: str = "train"
    findings: str = ""
    impression: str = ""
    indication: str = ""
    history: str = ""
    comparison: str = ""
    raw_labels: tuple[int, ...] = (BLANK,) * len(CHEXPERT_CLASSES)
    gaze: tuple[GazeReading, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "raw_labels", check_raw_labels(self.raw_labels))
        if self.view not in VIEW_POSITIONS:
            raise ValueError(f"{self.dicom_id}: view {self.view!r} is not one of VIEW_POSITIONS")
        if self.split not in SPLITS:
            raise ValueError(f"{self.dicom_id}: split {self.split!r} is not one of {SPLITS}")

    @property
    def labels(self) -> np.ndarray:
        """Binarised 14-vector (spec 1.3)."""
        return binarize_labels(self.raw_labels)

    @property
    def study_key(self) -> tuple[str, str]:
        """(subject_id, study_id): images sharing it are contrastive positives (spec D1)."""
        return (self.subject_id, self.study_id)

    @property
    def has_context(self) -> bool:
        """True when indication or history is non-empty (spec 1.2)."""
        return bool(self.indication.strip() or self.history.strip())

    @property
    def has_gaze(self) -> bool:
        return len(self.gaze) > 0

    def with_gaze(self, readings: Iterable[GazeReading]) -> ImageRecord:
        """A copy with ``readings`` attached (records are immutable)."""
        return replace(self, gaze=tuple(readings))


@dataclass
class RecordSet:
    """An ordered collection of image records with study/patient grouping and summaries."""

    records: list[ImageRecord] = field(default_factory=list)

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for rec in self.records:
            if rec.dicom_id in seen:
                raise ValueError(f"duplicate dicom_id {rec.dicom_id!r} in RecordSet")
            seen.add(rec.dicom_id)

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[ImageRecord]:
        return iter(self.records)

    def __getitem__(self, index: int) -> ImageRecord:
        return self.records[index]

    def get(self, dicom_id: str) -> ImageRecord:
        """The record with this dicom_id (KeyError if absent)."""
        for rec in self.records:
            if rec.dicom_id == dicom_id:
                return rec
        raise KeyError(dicom_id)

    def split(self, name: str) -> RecordSet:
        """The records of one split ('train', 'val' or 'test')."""
        name = parse_split(name)
        return RecordSet([r for r in self.records if r.split == name])

    def studies(self) -> dict[tuple[str, str], list[ImageRecord]]:
        """Records grouped by (subject_id, study_id), in first-seen order."""
        groups: dict[tuple[str, str], list[ImageRecord]] = defaultdict(list)
        for rec in self.records:
            groups[rec.study_key].append(rec)
        return dict(groups)

    def patients(self) -> dict[str, list[ImageRecord]]:
        """Records grouped by subject_id."""
        groups: dict[str, list[ImageRecord]] = defaultdict(list)
        for rec in self.records:
            groups[rec.subject_id].append(rec)
        return dict(groups)

    def label_matrix(self) -> np.ndarray:
        """Binarised labels, shape (n_records, 14)."""
        if not self.records:
            return np.zeros((0, len(CHEXPERT_CLASSES)), dtype=np.int64)
        return binarize_labels(np.array([r.raw_labels for r in self.records]))

    def positive_counts(self) -> np.ndarray:
        """n_c per class: images whose raw label is positive or uncertain (spec 1.3)."""
        return self.label_matrix().sum(axis=0)

    def summary(self) -> dict[str, object]:
        """Counts per split, view and label, context and gaze coverage (JSON-serialisable)."""
        out: dict[str, object] = {"images": len(self.records)}
        out["studies"] = len(self.studies())
        out["patients"] = len(self.patients())
        out["per_split"] = dict(Counter(r.split for r in self.records))
        out["per_view"] = dict(Counter(r.view for r in self.records))
        out["positives"] = dict(zip(CHEXPERT_CLASSES, (int(v) for v in self.positive_counts())))
        out["with_context"] = sum(r.has_context for r in self.records)
        out["with_gaze"] = sum(r.has_gaze for r in self.records)
        out["gaze_readings"] = sum(len(r.gaze) for r in self.records)
        return out


def view_index(view: object) -> int:
    """Index into VIEW_POSITIONS (the model's view embedding); unknown or unparseable views map to UNKNOWN."""
    try:
        return VIEW_POSITIONS.index(parse_view(view))
    except ValueError:
        return VIEW_POSITIONS.index("UNKNOWN")
