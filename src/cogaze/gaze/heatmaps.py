"""Fixations -> gaze heatmaps: one Gaussian per fixation, paragraph and per-sentence maps.

Recipe (spec 1.4 [GAP] filled; every choice is an option of :class:`HeatmapOptions`):

* each kept fixation (see :mod:`cogaze.gaze.filtering`) adds a 2-D normal density centred on it,
  sigma = ``sigma_deg`` (1) degree of visual angle in image pixels per axis: REFLACX gives pixels per
  degree per fixation; EGD does not, so it is derived from :class:`ScreenGeometry` (documented
  assumptions, configurable);
* weight = fixation duration (seconds); each density has unit mass before clipping;
* clipped to the rectangle of the image shown on screen when the table has one (REFLACX zoom/pan);
* truncated at ``truncate`` sigmas, so cells far from every fixation are exactly zero;
* paragraph map = all fixations; sentence map = fixations whose [start, end] overlaps
  ``[sentence.start - lead_s, sentence.end + lag_s]`` (spec [REC]: lead 1.0 s, lag 0 s);
* each map is scaled to max 1 (all-zero maps stay zero).

Speed: a Gaussian with a diagonal covariance is the outer product of two 1-D Gaussians, so the map
of fixations F is ``K_y[F].T @ diag(w[F]) @ K_x[F]``. The 1-D factors are sampled once per reading
on the original pixel grid and pushed through the (linear, separable) image geometry and patch
pooling, so sentence patch maps cost one small matrix product each and equal — up to float
rounding — rendering at full resolution, transforming and pooling. No library offers separable
per-point Gaussian splatting through an arbitrary linear resampling, hence the hand-written code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from cogaze.config import help_field
from cogaze.data.gaze_records import FixationTable, GazeReading
from cogaze.errors import ConfigError
from cogaze.gaze.filtering import FilterCounts, filter_fixations


@dataclass
class ScreenGeometry:
    """Display used to derive pixels-per-degree where the data has none (EGD).

    Defaults are assumptions, not published EGD values: a 1920 x 1080 monitor 527 mm wide (24-inch
    16:9) viewed from 700 mm, the image fitted to the screen with its aspect ratio kept. For a
    2544 x 3056 MIMIC image this gives ~126 image pixels per degree, i.e. sigma ~ 1/20 of the shorter
    side, the spec's [REC] fallback.
    """

    width_px: int = help_field(1920, "screen width in pixels", ge=1)
    height_px: int = help_field(1080, "screen height in pixels", ge=1)
    width_mm: float = help_field(527.0, "visible screen width in millimetres", gt=0)
    distance_mm: float = help_field(700.0, "eye-to-screen distance in millimetres", gt=0)

    def __post_init__(self) -> None:
        if min(self.width_px, self.height_px, self.width_mm, self.distance_mm) <= 0:
            raise ConfigError(f"screen geometry values must be positive, got {self}")

    def screen_ppd(self) -> float:
        """Screen pixels per degree of visual angle at the screen centre."""
        return self.width_px / self.width_mm * self.distance_mm * math.tan(math.radians(1.0))

    def image_ppd(self, image_size: tuple[int, int]) -> float:
        """Image pixels per degree for an image of (width, height) fitted to the screen."""
        w, h = image_size
        scale = min(self.width_px / w, self.height_px / h)  # screen px per image px
        return self.screen_ppd() / scale


@dataclass
class HeatmapOptions:
    """How fixations become heatmaps (spec 1.4)."""

    sigma_deg: float = help_field(1.0, "Gaussian sigma in degrees of visual angle", gt=0, le=30)
    truncate: float = help_field(3.0, "Gaussians are zero beyond this many sigmas", gt=0, le=10)
    duration_weight: bool = help_field(True, "weight each fixation by its duration (else 1)")
    lead_s: float = help_field(1.0, "sentence window starts this many seconds before the sentence", ge=0, le=60)
    lag_s: float = help_field(0.0, "sentence window ends this many seconds after the sentence", ge=0, le=60)
    margin_deg: float = help_field(0.5, "REFLACX rule: keep fixations within this many degrees of the shown image",
                                   ge=0, le=30)
    screen: ScreenGeometry = field(default_factory=ScreenGeometry, metadata={"help": "display for EGD sigma"})

    def __post_init__(self) -> None:
        if self.sigma_deg <= 0 or self.truncate <= 0 or self.margin_deg < 0:
            raise ConfigError(
                f"heatmap options: need sigma_deg > 0, truncate > 0, margin_deg >= 0; got sigma_deg={self.sigma_deg}, "
                f"truncate={self.truncate}, margin_deg={self.margin_deg}"
            )


@dataclass(frozen=True)
class FixationKernels:
    """Separable per-fixation factors on an output raster: map(F) = ky[F].T @ diag(w[F]) @ kx[F]."""

    ky: np.ndarray  # (n, H_out)
    kx: np.ndarray  # (n, W_out)
    weight: np.ndarray  # (n,)
    start: np.ndarray  # (n,) seconds
    end: np.ndarray  # (n,) seconds
    counts: FilterCounts

    def __len__(self) -> int:
        return int(self.weight.shape[0])

    def render(self, select: np.ndarray) -> np.ndarray:
        """Unnormalised maps for a (M, n) boolean/weight selection -> (M, H_out, W_out)."""
        sel = np.asarray(select, dtype=np.float64) * self.weight[None, :]
        left = sel[:, :, None] * self.ky[None, :, :]  # (M, n, H)
        return np.matmul(left.transpose(0, 2, 1), self.kx)


def _sigmas(fx: FixationTable, image_size: tuple[int, int], opts: HeatmapOptions) -> tuple[np.ndarray, np.ndarray]:
    if fx.ppd_x is not None and fx.ppd_y is not None:
        return opts.sigma_deg * fx.ppd_x, opts.sigma_deg * fx.ppd_y
    ppd = opts.screen.image_ppd(image_size)
    n = len(fx)
    return np.full(n, opts.sigma_deg * ppd), np.full(n, opts.sigma_deg * ppd)


def gaussian_factors(
    centre: np.ndarray, sigma: np.ndarray, n_pixels: int, truncate: float,
    lo: np.ndarray | None = None, hi: np.ndarray | None = None,
) -> np.ndarray:
    """(n, n_pixels) 1-D normal densities sampled at pixel centres ``i + 0.5``.

    Zero beyond ``truncate`` sigmas and, when ``lo``/``hi`` are given, at pixel centres outside
    ``[lo, hi]`` (the shown rectangle).
    """
    pos = np.arange(n_pixels, dtype=np.float64) + 0.5
    d2 = pos[None, :] - centre[:, None]
    d2 /= sigma[:, None]
    d2 *= d2
    keep = d2 <= truncate * truncate
    if lo is not None and hi is not None:
        keep &= (pos[None, :] >= lo[:, None]) & (pos[None, :] <= hi[:, None])
    d2 *= -0.5
    out = np.exp(d2, out=d2)
    out *= keep
    out *= (1.0 / (math.sqrt(2 * math.pi) * sigma))[:, None]
    return out


def fixation_kernels(
    reading: GazeReading,
    options: HeatmapOptions | None = None,
    operator: tuple[np.ndarray, np.ndarray] | None = None,
) -> FixationKernels:
    """Filter the reading's fixations and build their separable Gaussian factors.

    ``operator`` = (O_y (H_out, H), O_x (W_out, W)) maps original-pixel maps to the output raster
    (e.g. :meth:`cogaze.data.geometry.ImageGeometry.grid_operator`); None = original resolution.
    """
    opts = options or HeatmapOptions()
    width, height = reading.image_size
    fx, counts = filter_fixations(reading.fixations, reading.image_size, opts.margin_deg)
    sx, sy = _sigmas(fx, reading.image_size, opts)
    shown = fx.shown_xmin is not None and fx.shown_ymin is not None and fx.shown_xmax is not None \
        and fx.shown_ymax is not None
    kx = gaussian_factors(fx.x, sx, width, opts.truncate, fx.shown_xmin if shown else None,
                          fx.shown_xmax if shown else None)
    ky = gaussian_factors(fx.y, sy, height, opts.truncate, fx.shown_ymin if shown else None,
                          fx.shown_ymax if shown else None)
    if operator is not None:
        oy, ox = operator
        if oy.shape[1] != height or ox.shape[1] != width:
            raise ValueError(f"operator shapes {oy.shape}/{ox.shape} do not fit image {width}x{height}")
        ky, kx = ky @ oy.T, kx @ ox.T
    weight = fx.duration.copy() if opts.duration_weight else np.ones(len(fx))
    return FixationKernels(ky, kx, weight, np.asarray(fx.start), np.asarray(fx.end), counts)


def sentence_selection(kernels: FixationKernels, reading: GazeReading, options: HeatmapOptions | None = None) -> np.ndarray:
    """(k, n) boolean: fixation overlaps sentence k's window [start - lead, end + lag]."""
    opts = options or HeatmapOptions()
    if not reading.sentences:
        return np.zeros((0, len(kernels)), dtype=bool)
    s0 = np.array([s.start for s in reading.sentences]) - opts.lead_s
    s1 = np.array([s.end for s in reading.sentences]) + opts.lag_s
    return (kernels.end[None, :] >= s0[:, None]) & (kernels.start[None, :] <= s1[:, None])


def normalize_max(maps: np.ndarray) -> np.ndarray:
    """Scale each map of a (M, ...) stack to max 1; all-zero maps stay zero."""
    arr = np.asarray(maps, dtype=np.float64)
    peak = arr.reshape(arr.shape[0], -1).max(axis=1) if arr.size else np.zeros(arr.shape[0])
    peak = np.where(peak > 0, peak, 1.0)
    return arr / peak.reshape((-1,) + (1,) * (arr.ndim - 1))


def reading_maps(
    reading: GazeReading,
    options: HeatmapOptions | None = None,
    operator: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, FilterCounts]:
    """All maps of a reading, (k + 1, H_out, W_out): each sentence, then the paragraph; max-normalised."""
    opts = options or HeatmapOptions()
    kernels = fixation_kernels(reading, opts, operator)
    select = np.vstack([sentence_selection(kernels, reading, opts), np.ones((1, len(kernels)), bool)])
    return normalize_max(kernels.render(select)), kernels.counts


def paragraph_map(reading: GazeReading, options: HeatmapOptions | None = None,
                  operator: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """The max-normalised map of all kept fixations (original resolution unless ``operator``)."""
    kernels = fixation_kernels(reading, options, operator)
    return normalize_max(kernels.render(np.ones((1, len(kernels)), bool)))[0]


def sentence_maps(reading: GazeReading, options: HeatmapOptions | None = None,
                  operator: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """(k, H_out, W_out) max-normalised maps, one per transcript sentence."""
    kernels = fixation_kernels(reading, options, operator)
    return normalize_max(kernels.render(sentence_selection(kernels, reading, options)))
