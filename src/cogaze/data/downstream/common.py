"""Typed records shared by the downstream dataset loaders (NIH, SIIM, RSNA, TBX11K, Shenzhen).

Every loader turns one split file (spec section 8) into a :class:`DownstreamSet` of
:class:`DownstreamRecord`. Labels are integer vectors: 14 columns for NIH (multi-label), one column
(the positive class) for the binary sets. Masks are not decoded here: a record keeps its
``mask_source`` (RLE or corner boxes) and :func:`cogaze.data.downstream.masks.decode_mask` rasterises
it at the image size.
"""

from __future__ import annotations

import csv
import os
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from cogaze.data.paths import inside
from cogaze.data.records import SPLITS, VIEW_POSITIONS, parse_split
from cogaze.errors import ConfigError, DataError, Problems

TaskKind = Literal["multilabel", "binary"]
Box = tuple[float, float, float, float]
"""A box in corner format ``(x1, y1, x2, y2)``, pixels of the original image, x right, y down."""
MaskSource = str | tuple[str, ...] | tuple[Box, ...] | None
"""``None`` (no mask: an all-zero mask), one Kaggle SIIM RLE string, several RLE strings (their union)
or a tuple of corner boxes."""

FRACTIONS: tuple[int, ...] = (1, 10, 100)
"""Label fractions (percent of the training list) with a split file of their own (spec 5.4)."""


@dataclass(frozen=True, eq=False)
class DownstreamRecord:
    """One image of a downstream dataset with its labels and (optional) mask source."""

    dataset: str
    image_id: str
    image_path: Path | None
    labels: np.ndarray
    class_names: tuple[str, ...]
    view: str = "UNKNOWN"
    split: str = "train"
    mask_source: MaskSource = None
    category: str = ""
    """Finer source label where a dataset has one (TBX11K: ``h``, ``s`` or ``tb``), else empty."""
    context: str = ""
    """Clinical context sentence (spec 5.4; NIH from its CSV), empty when absent."""
    patient_id: str = ""

    def __post_init__(self) -> None:
        labels = np.asarray(self.labels, dtype=np.int64).reshape(-1)
        if labels.shape != (len(self.class_names),):
            raise ValueError(f"{self.image_id}: {labels.size} labels for {len(self.class_names)} classes")
        if not set(labels.tolist()) <= {0, 1}:
            raise ValueError(f"{self.image_id}: labels must be 0 or 1, got {labels.tolist()}")
        labels.setflags(write=False)
        object.__setattr__(self, "labels", labels)
        if self.view not in VIEW_POSITIONS:
            raise ValueError(f"{self.image_id}: view {self.view!r} is not one of VIEW_POSITIONS")
        if self.split not in SPLITS:
            raise ValueError(f"{self.image_id}: split {self.split!r} is not one of {SPLITS}")

    @property
    def target(self) -> int:
        """The binary label (binary sets only: one class column)."""
        if self.labels.size != 1:
            raise ValueError(f"{self.image_id}: target is defined for binary records only")
        return int(self.labels[0])

    @property
    def has_mask(self) -> bool:
        return bool(self.mask_source)


@dataclass
class DownstreamSet:
    """The records of one dataset split (at one label fraction), with summary counts."""

    dataset: str
    split: str
    fraction: int
    task: TaskKind
    class_names: tuple[str, ...]
    records: list[DownstreamRecord] = field(default_factory=list)
    problems: Problems = field(default_factory=Problems)
    source: Path | None = None
    """The split file the records came from."""

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[DownstreamRecord]:
        return iter(self.records)

    def __getitem__(self, index: int) -> DownstreamRecord:
        return self.records[index]

    def label_matrix(self) -> np.ndarray:
        """Labels, shape (n_records, n_classes), int64."""
        if not self.records:
            return np.zeros((0, len(self.class_names)), dtype=np.int64)
        return np.stack([r.labels for r in self.records])

    def positive_counts(self) -> dict[str, int]:
        """Positives per class."""
        return dict(zip(self.class_names, (int(v) for v in self.label_matrix().sum(axis=0))))

    def summary(self) -> dict[str, object]:
        """Row, label, view and category counts (JSON-serialisable)."""
        matrix = self.label_matrix()
        out: dict[str, object] = {
            "dataset": self.dataset,
            "split": self.split,
            "fraction": self.fraction,
            "task": self.task,
            "rows": len(self.records),
            "positives": self.positive_counts(),
            "no_positive_label": int((matrix.sum(axis=1) == 0).sum()),
            "views": dict(Counter(r.view for r in self.records)),
            "with_mask": sum(r.has_mask for r in self.records),
            "skipped": self.problems.n_skipped,
        }
        categories = Counter(r.category for r in self.records if r.category)
        if categories:
            out["categories"] = dict(categories)
        return out


def check_fraction(split: str, fraction: int) -> tuple[str, str]:
    """Normalise ``split`` and pick the split-file stem for a label ``fraction`` (1, 10 or 100 %).

    Returns ``(split, stem)``: train at 1 / 10 / 100 % reads ``train_1`` / ``train_10`` / ``train``.
    """
    try:
        split = parse_split(split)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    if fraction not in FRACTIONS:
        raise ConfigError(f"fraction must be one of {FRACTIONS} (percent), got {fraction!r}")
    if split != "train" and fraction != 100:
        raise ConfigError(f"label fractions apply to the train split only; {split} takes fraction=100")
    stem = split if fraction == 100 else f"{split}_{fraction}"
    return split, stem


def require_file(path: Path, what: str) -> Path:
    """``path`` if it is a file, else a DataError saying which ``what`` is missing."""
    if not path.is_file():
        raise DataError(f"{what} not found", path)
    return path


def read_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(1-based line number, stripped text) of each non-blank line of a split file."""
    try:
        with open(path, encoding="utf-8-sig") as handle:
            for number, line in enumerate(handle, start=1):
                text = line.strip()
                if text:
                    yield number, text
    except UnicodeDecodeError as err:
        raise DataError(f"not a UTF-8 text file ({err.reason})", path) from None


def read_csv_rows(
    path: Path, required: Sequence[str], problems: Problems | None = None
) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) of a CSV with a header; missing ``required`` columns raise a DataError.

    A row with the wrong number of fields is reported to ``problems`` (raise or skip; raise when
    None). Line numbers are physical lines (header = 1).
    """
    problems = problems or Problems("raise")
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            header = [h.strip() for h in (reader.fieldnames or [])]
            missing = [c for c in required if c not in header]
            if missing:
                raise DataError(f"missing column(s) {missing}; found {header}", path, 1)
            reader.fieldnames = header
            start = 2
            for row in reader:
                line, start = start, reader.line_num + 1
                if None in row or any(v is None for v in row.values()):
                    n_fields = len(header) + len(row.get(None, [])) - sum(v is None for v in row.values())
                    problems.report(DataError(f"expected {len(header)} fields, got {n_fields}", path, line))
                    continue
                yield line, {k: v.strip() for k, v in row.items()}
    except UnicodeDecodeError as err:
        raise DataError(f"not a UTF-8 text file ({err.reason})", path) from None
    except csv.Error as err:
        raise DataError(f"malformed CSV: {err}", path) from None


def parse_binary(value: str, path: Path, line: int, what: str = "label") -> int:
    """A 0/1 label cell as int, or a DataError naming the unknown value."""
    text = value.strip()
    if text in ("0", "1", "0.0", "1.0"):
        return int(float(text))
    raise DataError(f"unknown {what} value {value!r} (expected 0 or 1)", path, line)


class ImageIndex:
    """File names under an image root, found once by walking it (datasets nest images differently:
    NIH ``images_001/images/``, SIIM DICOM study/series folders, flat PNG folders)."""

    def __init__(self, root: Path, problems: Problems):
        self.root = Path(root)
        if not self.root.is_dir():
            raise DataError("image root is not a folder", self.root)
        self._paths: dict[str, Path] = {}
        for folder, dirs, files in os.walk(self.root):
            dirs.sort()
            for name in sorted(files):
                if name in self._paths:
                    problems.warn(f"{name} appears twice under {self.root}; using {self._paths[name]}")
                    continue
                self._paths[name] = Path(folder) / name

    def __len__(self) -> int:
        return len(self._paths)

    def find(self, names: Sequence[str]) -> Path | None:
        """The path of the first of ``names`` present under the root, else None."""
        for name in names:
            path = self._paths.get(name)
            if path is not None:
                return path
        return None


class RecordBuilder:
    """Collects records of one split file: resolves images (or not), reports problems by policy,
    and rejects duplicate ids."""

    def __init__(
        self,
        dataset: str,
        split_file: Path,
        image_root: Path | None,
        check_images: bool,
        problems: Problems,
    ):
        if check_images and image_root is None:
            raise ConfigError(f"{dataset}: an image root is needed to check images (or check_images=False)")
        self.dataset = dataset
        self.split_file = split_file
        self.image_root = None if image_root is None else Path(image_root)
        self.problems = problems
        self.index = ImageIndex(self.image_root, problems) if check_images and self.image_root else None
        self.records: list[DownstreamRecord] = []
        self._seen: dict[str, int] = {}

    def image_path(self, line: int, candidates: Sequence[str]) -> Path | None | Literal[False]:
        """Resolve the image of a split-file line; ``False`` when it is missing and skipped."""
        if self.index is None:
            if self.image_root is None:
                return None
            try:
                return inside(self.image_root, candidates[0], "image")
            except ValueError as err:
                self.problems.report(DataError(str(err), self.split_file, line))
                return False
        path = self.index.find(candidates)
        if path is None:
            names = " or ".join(repr(c) for c in candidates)
            self.problems.report(
                DataError(f"image {names} not found under {self.image_root}", self.split_file, line)
            )
            return False
        return path

    def add(self, line: int, candidates: Sequence[str], **fields: object) -> None:
        """Add a record built from ``fields`` unless its image is missing (skip policy)."""
        image_id = str(fields["image_id"])
        if image_id in self._seen:
            self.problems.report(
                DataError(f"duplicate id {image_id!r} (first on line {self._seen[image_id]})", self.split_file, line)
            )
            return
        path = self.image_path(line, candidates)
        if path is False:
            return
        self._seen[image_id] = line
        self.records.append(DownstreamRecord(dataset=self.dataset, image_path=path, **fields))  # type: ignore[arg-type]
