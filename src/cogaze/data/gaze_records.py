"""Typed eye-gaze data: fixation tables, timed transcript sentences, one reading of an image.

Coordinates are in pixels of the original image (x to the right, y down); times in seconds from the
start of the reading. Heatmaps are built from these by :mod:`cogaze.gaze`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


def _as_float_array(name: str, values: object, n: int | None = None) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64).reshape(-1)
    if n is not None and arr.shape[0] != n:
        raise ValueError(f"fixation column {name!r} has {arr.shape[0]} values, expected {n}")
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, eq=False)
class FixationTable:
    """Fixations of one reading as parallel arrays (one entry per fixation).

    ``ppd_x``/``ppd_y`` are pixels per degree of visual angle (REFLACX gives them per fixation);
    ``shown_*`` the rectangle of the image shown on screen, in image pixels, per fixation.
    Optional columns are None when the source does not provide them.
    """

    x: np.ndarray
    y: np.ndarray
    start: np.ndarray
    end: np.ndarray
    pupil: np.ndarray | None = None
    ppd_x: np.ndarray | None = None
    ppd_y: np.ndarray | None = None
    shown_xmin: np.ndarray | None = None
    shown_ymin: np.ndarray | None = None
    shown_xmax: np.ndarray | None = None
    shown_ymax: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = np.asarray(self.x).reshape(-1).shape[0]
        for name in ("x", "y", "start", "end"):
            object.__setattr__(self, name, _as_float_array(name, getattr(self, name), n))
        for name in ("pupil", "ppd_x", "ppd_y", "shown_xmin", "shown_ymin", "shown_xmax", "shown_ymax"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, _as_float_array(name, value, n))

    def __len__(self) -> int:
        return int(self.x.shape[0])

    @property
    def duration(self) -> np.ndarray:
        """Fixation durations in seconds."""
        return self.end - self.start

    def select(self, mask: np.ndarray) -> FixationTable:
        """A table holding only the fixations where ``mask`` is true."""
        mask = np.asarray(mask, dtype=bool)
        kwargs: dict[str, Any] = {}
        for name in ("x", "y", "start", "end", "pupil", "ppd_x", "ppd_y",
                     "shown_xmin", "shown_ymin", "shown_xmax", "shown_ymax"):
            value = getattr(self, name)
            kwargs[name] = None if value is None else value[mask]
        return FixationTable(**kwargs)


@dataclass(frozen=True)
class TimedSentence:
    """One transcript sentence (or phrase) with its spoken time window in seconds."""

    text: str
    start: float
    end: float

    def __post_init__(self) -> None:
        if not (np.isfinite(self.start) and np.isfinite(self.end)):
            raise ValueError(f"sentence {self.text[:40]!r}: non-finite time stamps")
        if self.end < self.start:
            raise ValueError(f"sentence {self.text[:40]!r}: end {self.end} before start {self.start}")


@dataclass(frozen=True, eq=False)
class GazeReading:
    """One radiologist's reading of one image: fixations plus the timed, dictated transcript.

    ``reading_id`` is unique per reading (EGD: the dicom_id; REFLACX: its reading id such as
    ``P102R108387``); several readings can share a ``dicom_id`` (REFLACX multi-reader).
    ``image_size`` is (width, height) of the original image in pixels.
    """

    reading_id: str
    dicom_id: str
    source: str
    fixations: FixationTable
    sentences: tuple[TimedSentence, ...]
    paragraph: str
    image_size: tuple[int, int]
    radiologist: str | None = None

    def __post_init__(self) -> None:
        if self.source not in ("egd", "reflacx"):
            raise ValueError(f"gaze source must be 'egd' or 'reflacx', got {self.source!r}")
        object.__setattr__(self, "sentences", tuple(self.sentences))
        w, h = self.image_size
        if w <= 0 or h <= 0:
            raise ValueError(f"reading {self.reading_id}: bad image size {self.image_size}")
