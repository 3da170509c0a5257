"""Shared parsing helpers of the gaze loaders: validated fixation rows and JSON files.

Fixation rows are checked as they are read: non-finite coordinates or times, negative durations,
start times that go backwards, implausibly long fixations (over :data:`MAX_FIXATION_S`) and fixations
far outside the transcript's time span (more than :data:`SPAN_SLACK_S` before its first or after its
last word) are DataErrors naming file and line (under ``on_error="skip"`` the row is dropped and
counted). One such row would otherwise dominate every heatmap of its reading: maps weight each
fixation by its duration. Fixations outside the image are normal in real recordings (the reader looks
at the screen around the image); they are dropped with one counted warning per reading.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from cogaze.data.csvio import Row
from cogaze.data.gaze_records import FixationTable
from cogaze.errors import DataError, Problems

MAX_FIXATION_S = 10.0
"""Longest plausible single fixation in seconds (typical ones last 0.1-1 s; eye trackers split longer
dwells into several fixations)."""
SPAN_SLACK_S = 300.0
"""Fixations may start up to this many seconds before the first dictated word and end this long after the
last one (readers look before and after dictating); beyond that a time stamp is implausible."""

OPTIONAL_FIXATION_FIELDS = ("pupil", "ppd_x", "ppd_y", "shown_xmin", "shown_ymin", "shown_xmax", "shown_ymax")


class FixationCollector:
    """Collects validated fixations of one reading and builds its :class:`FixationTable`."""

    def __init__(self, path: Path, image_size: tuple[int, int], problems: Problems,
                 span: tuple[float, float] | None = None):
        """``span``: (first, last) time of the reading's transcript in seconds, when it has one."""
        self.path = path
        self.span = span
        self.width, self.height = image_size
        self.problems = problems
        self.columns: dict[str, list[float]] = {k: [] for k in ("x", "y", "start", "end")}
        self.optional: dict[str, list[float]] = {}
        self.outside = 0
        self.first_outside_line: int | None = None
        self.prev_start = -math.inf

    def add(self, row: Row, x: float, y: float, start: float, end: float, **optional: float) -> None:
        """Validate one fixation; report (raise or skip) bad rows, drop and count out-of-image ones."""
        try:
            for name, value in (("x", x), ("y", y), ("start", start), ("end", end)):
                if not math.isfinite(value):
                    raise row.error(f"fixation {name} is not a finite number ({value})")
            if end < start:
                raise row.error(f"negative fixation duration (start {start:g} s, end {end:g} s)")
            if end - start > MAX_FIXATION_S:
                raise row.error(f"implausible fixation duration {end - start:g} s (more than {MAX_FIXATION_S:g} s)")
            if self.span is not None and not (self.span[0] - SPAN_SLACK_S <= start
                                              and end <= self.span[1] + SPAN_SLACK_S):
                raise row.error(f"fixation at {start:g}-{end:g} s is implausibly far from the transcript's time span "
                                f"{self.span[0]:g}-{self.span[1]:g} s (more than {SPAN_SLACK_S:g} s outside it)")
            if start < self.prev_start:
                raise row.error(f"fixation start {start:g} s is before the previous fixation's ({self.prev_start:g} s)")
        except DataError as err:
            self.problems.report(err)
            return
        self.prev_start = start
        if not (0.0 <= x <= self.width and 0.0 <= y <= self.height):
            self.outside += 1
            if self.first_outside_line is None:
                self.first_outside_line = row.line
            return
        for name, value in (("x", x), ("y", y), ("start", start), ("end", end)):
            self.columns[name].append(value)
        for name, value in optional.items():
            self.optional.setdefault(name, []).append(value)

    def build(self) -> FixationTable:
        """The fixation table; warns once if fixations fell outside the image."""
        if self.outside:
            self.problems.warn(
                f"{self.path}: {self.outside} fixation(s) outside the {self.width}x{self.height} image dropped "
                f"(first at line {self.first_outside_line})")
        optional = {k: np.asarray(v, dtype=np.float64) for k, v in self.optional.items()
                    if k in OPTIONAL_FIXATION_FIELDS and len(v) == len(self.columns["x"])}
        return FixationTable(**{k: np.asarray(v, dtype=np.float64) for k, v in self.columns.items()}, **optional)


def read_json(path: str | Path) -> object:
    """Parse a JSON file; a missing, undecodable or malformed file is a DataError with the line."""
    path = Path(path)
    if not path.is_file():
        raise DataError("file not found", path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"cannot read file: {err}", path) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise DataError(f"malformed JSON: {err.msg} (column {err.colno})", path, err.lineno) from None
    except RecursionError:
        raise DataError("JSON nested too deeply to read (a transcript is a flat list of phrases)", path) from None


def as_float(value: object, what: str, path: Path) -> float:
    """A JSON number as a finite float, or a DataError naming ``what`` and the file."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise DataError(f"{what}: {value!r} is not a number", path)
    try:
        out = float(value)
    except ValueError:
        raise DataError(f"{what}: {value!r} is not a number", path) from None
    if not math.isfinite(out):
        raise DataError(f"{what}: {value!r} is not a finite number", path)
    return out
