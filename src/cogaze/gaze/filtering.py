"""Fixation filtering: drop unusable rows, apply the REFLACX shown-image rule, count every drop.

Rules, in order (a row is counted under the first rule it fails):

1. ``non_finite``: NaN/inf in x, y, start, end, or in the ppd / shown-rectangle columns present,
   or a pixels-per-degree value <= 0.
2. ``bad_duration``: end <= start (zero or negative duration).
3. ``out_of_image``: outside the original image ``[0, W] x [0, H]`` by more than the tolerance
   (the tolerance is ``margin_deg`` degrees when the row has pixels-per-degree, else 0).
4. ``outside_shown`` (REFLACX rule, rows with a shown rectangle only): farther than ``margin_deg``
   degrees (default 0.5) from the rectangle of the image shown on screen. Fixations on the
   interface far from the image are thereby removed; the screen layout itself is not in the
   fixation table, so "away from the interface" reduces to this distance rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from cogaze.data.gaze_records import FixationTable


@dataclass(frozen=True)
class FilterCounts:
    """How many fixations a filter saw, kept, and dropped per reason."""

    total: int = 0
    kept: int = 0
    non_finite: int = 0
    bad_duration: int = 0
    out_of_image: int = 0
    outside_shown: int = 0

    @property
    def dropped(self) -> int:
        return self.total - self.kept

    def __add__(self, other: FilterCounts) -> FilterCounts:
        return FilterCounts(*(a + b for a, b in zip(self.as_tuple(), other.as_tuple())))

    def as_tuple(self) -> tuple[int, ...]:
        return (self.total, self.kept, self.non_finite, self.bad_duration, self.out_of_image, self.outside_shown)


def _has_shown(fx: FixationTable) -> bool:
    return all(getattr(fx, n) is not None for n in ("shown_xmin", "shown_ymin", "shown_xmax", "shown_ymax"))


def _rect_distance_deg(x, y, x0, y0, x1, y1, ppd_x, ppd_y) -> np.ndarray:
    """Distance in degrees from (x, y) to the rectangle (0 inside), per axis scaled by its ppd."""
    dx = np.maximum(np.maximum(x0 - x, x - x1), 0.0) / ppd_x
    dy = np.maximum(np.maximum(y0 - y, y - y1), 0.0) / ppd_y
    return np.hypot(dx, dy)


def filter_fixations(
    fx: FixationTable, image_size: tuple[int, int], margin_deg: float = 0.5
) -> tuple[FixationTable, FilterCounts]:
    """Apply the rules of this module; returns the kept fixations and the counts."""
    width, height = image_size
    n = len(fx)
    has_ppd = fx.ppd_x is not None and fx.ppd_y is not None
    shown = _has_shown(fx)
    cols: list[Any] = [fx.x, fx.y, fx.start, fx.end]
    if has_ppd:
        cols += [fx.ppd_x, fx.ppd_y]
    if shown:
        cols += [fx.shown_xmin, fx.shown_ymin, fx.shown_xmax, fx.shown_ymax]
    finite = np.all(np.isfinite(np.vstack(cols)), axis=0) if n else np.zeros(0, bool)
    if has_ppd:
        finite &= (np.nan_to_num(np.asarray(fx.ppd_x)) > 0) & (np.nan_to_num(np.asarray(fx.ppd_y)) > 0)
    alive = finite.copy()
    with np.errstate(invalid="ignore"):
        good_dur = fx.end > fx.start
        bad_duration = alive & ~good_dur
        alive &= good_dur
        if has_ppd:
            ppd_x, ppd_y = fx.ppd_x, fx.ppd_y
            in_image = _rect_distance_deg(fx.x, fx.y, 0, 0, width, height, ppd_x, ppd_y) <= margin_deg
        else:
            ppd_x = ppd_y = None
            in_image = (fx.x >= 0) & (fx.x <= width) & (fx.y >= 0) & (fx.y <= height)
        out_of_image = alive & ~in_image
        alive &= in_image
        outside_shown = np.zeros(n, bool)
        if shown:
            px = ppd_x if ppd_x is not None else np.ones(n)
            py = ppd_y if ppd_y is not None else np.ones(n)
            tol = margin_deg if ppd_x is not None else 0.0
            near = _rect_distance_deg(fx.x, fx.y, fx.shown_xmin, fx.shown_ymin, fx.shown_xmax, fx.shown_ymax,
                                      px, py) <= tol
            outside_shown = alive & ~near
            alive &= near
    counts = FilterCounts(
        total=n,
        kept=int(alive.sum()),
        non_finite=int((~finite).sum()),
        bad_duration=int(bad_duration.sum()),
        out_of_image=int(out_of_image.sum()),
        outside_shown=int(outside_shown.sum()),
    )
    return fx.select(alive), counts
