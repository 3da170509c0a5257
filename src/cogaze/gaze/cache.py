"""One compact safetensors file of every reading's patch maps, rebuilt only when its inputs change.

Layout: one float16 tensor (n_rows, grid*grid) per reading, named ``"<dicom_id>/<reading_id>"``; the
safetensors header metadata key ``cogaze_gaze`` holds JSON with the format tag, the fingerprint, grid,
image size, heatmap options, filter counts and, per tensor, its dicom_id, reading_id and row texts
(each sentence, then the paragraph). :class:`GazeCache` reads it back in the sample format of
docs/batch.md. Written atomically (temp file + ``os.replace``); loading never unpickles.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import load_file, save_file
from tqdm import tqdm

from cogaze.checksums import Fingerprint
from cogaze.data.gaze_records import GazeReading
from cogaze.data.geometry import ImageGeometry
from cogaze.data.records import ImageRecord
from cogaze.errors import ConfigError, DataError
from cogaze.gaze.authors import authors_rows
from cogaze.gaze.filtering import FilterCounts
from cogaze.gaze.heatmaps import HeatmapOptions
from cogaze.gaze.targets import reading_patch_maps, reading_texts
from cogaze.io import atomic_path
from cogaze.logs import show_progress

FORMAT = "cogaze-gaze-cache/1"
META_KEY = "cogaze_gaze"

GazeRows = list[tuple[str, list[tuple[str, np.ndarray]]]]
"""The ``gaze`` field of a sample: per reading, (reading_id, [(text, patch_map), ...])."""


@dataclass(frozen=True)
class BuildResult:
    """What :func:`build_gaze_cache` did."""

    path: Path
    rebuilt: bool
    readings: int
    rows: int
    counts: FilterCounts


def _readings(records: Iterable[ImageRecord]) -> list[GazeReading]:
    return [reading for rec in records for reading in rec.gaze]


def _settings(geometry: ImageGeometry, grid: int, options: HeatmapOptions, min_fraction: float) -> dict:
    return {"format": FORMAT, "image_size": geometry.size, "grid": int(grid),
            "options": dataclasses.asdict(options), "min_fraction": float(min_fraction)}


def fingerprint(readings: Iterable[GazeReading], settings: dict) -> str:
    """sha256 over the render settings and every input field of every reading."""
    h = Fingerprint(settings)
    for r in readings:
        h.add_json([r.reading_id, r.dicom_id, r.source, list(r.image_size), r.paragraph,
                    [[s.text, s.start, s.end] for s in r.sentences]])
        for name in ("x", "y", "start", "end", "ppd_x", "ppd_y", "shown_xmin", "shown_ymin", "shown_xmax",
                     "shown_ymax"):
            h.add_array(name, getattr(r.fixations, name))
    return h.hexdigest()


def read_metadata(path: str | Path) -> dict:
    """The cache's JSON metadata (DataError if the file is missing, corrupt or not a gaze cache)."""
    path = Path(path)
    try:
        with safe_open(str(path), framework="numpy") as fh:
            meta = fh.metadata() or {}
    except (OSError, SafetensorError) as err:
        raise DataError(f"cannot read gaze cache: {err}", path) from None
    if META_KEY not in meta:
        raise DataError("not a cogaze gaze cache (no cogaze_gaze metadata)", path)
    try:
        info = json.loads(meta[META_KEY])
    except json.JSONDecodeError as err:
        raise DataError(f"corrupt gaze cache metadata: {err}", path) from None
    if info.get("format") != FORMAT:
        raise DataError(f"unsupported gaze cache format {info.get('format')!r} (expected {FORMAT})", path)
    return info


def build_gaze_cache(
    records: Iterable[ImageRecord],
    out: str | Path,
    geometry: ImageGeometry,
    grid: int,
    options: HeatmapOptions | None = None,
    min_fraction: float = 0.01,
    force: bool = False,
    progress: bool = False,
) -> BuildResult:
    """Render every gaze reading of ``records`` into ``out``; skipped when the fingerprint matches."""
    out = Path(out)
    opts = options or HeatmapOptions()
    readings = _readings(records)
    settings = _settings(geometry, grid, opts, min_fraction)
    fp = fingerprint(readings, settings)
    if not force:
        info = _current(out, fp)
        if info is not None:
            return BuildResult(out, False, len(info["entries"]), sum(len(e["texts"]) for e in info["entries"]),
                               FilterCounts(**info["filter_counts"]))
    tensors: dict[str, np.ndarray] = {}
    entries = []
    total = FilterCounts()
    with single_blas_thread():
        for r in tqdm(readings, desc="gaze maps", unit="reading", disable=not show_progress(progress)):
            key = f"{r.dicom_id}/{r.reading_id}"
            if key in tensors:
                raise DataError(f"duplicate gaze reading {r.reading_id!r} for image {r.dicom_id!r}")
            maps, counts = reading_patch_maps(r, geometry, grid, opts, min_fraction)
            total = total + counts
            tensors[key] = np.ascontiguousarray(maps.astype(np.float16))
            entries.append({"key": key, "dicom_id": r.dicom_id, "reading_id": r.reading_id,
                            "texts": reading_texts(r)})
    info = dict(settings, fingerprint=fp, entries=entries, filter_counts=dataclasses.asdict(total))
    _write(out, tensors, info)
    return BuildResult(out, True, len(entries), sum(len(e["texts"]) for e in entries), total)


def build_authors_cache(
    items: Mapping[str, str | Path],
    out: str | Path,
    geometry: ImageGeometry,
    grid: int,
    force: bool = False,
    progress: bool = False,
) -> BuildResult:
    """Cache the authors' pre-rendered heatmaps; ``items`` maps dicom_id -> gaze item folder.

    The reading id is the folder name. Rebuilt only when a file of a folder or the settings change.
    """
    out = Path(out)
    settings = {"format": FORMAT, "source": "authors", "image_size": geometry.size, "grid": int(grid)}
    h = Fingerprint(settings)
    for dicom_id, folder in sorted(items.items()):
        folder = Path(folder)
        if not folder.is_dir():
            raise DataError("authors' heatmap folder not found", folder)
        h.add_json([dicom_id, folder.name])
        for f in sorted(folder.iterdir()):
            if f.is_file():
                h.add_file(f)
    fp = h.hexdigest()
    if not force:
        info = _current(out, fp)
        if info is not None:
            return BuildResult(out, False, len(info["entries"]), sum(len(e["texts"]) for e in info["entries"]),
                               FilterCounts())
    tensors: dict[str, np.ndarray] = {}
    entries = []
    for dicom_id, folder in tqdm(list(items.items()), desc="authors' heatmaps", unit="item", disable=not show_progress(progress)):
        rows = authors_rows(folder, geometry, grid)
        key = f"{dicom_id}/{Path(folder).name}"
        tensors[key] = np.ascontiguousarray(np.stack([m for _, m in rows]).astype(np.float16))
        entries.append({"key": key, "dicom_id": dicom_id, "reading_id": Path(folder).name,
                        "texts": [t for t, _ in rows]})
    info = dict(settings, fingerprint=fp, entries=entries, filter_counts=dataclasses.asdict(FilterCounts()))
    _write(out, tensors, info)
    return BuildResult(out, True, len(entries), sum(len(e["texts"]) for e in entries), FilterCounts())


def single_blas_thread() -> AbstractContextManager:
    """Limit BLAS to one thread: the renderer's matrix products are tiny, and multi-threaded
    OpenBLAS on a busy machine makes them 10-20x slower. No-op without threadpoolctl."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # threadpoolctl comes with scikit-learn; tolerate its absence
        return nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _current(out: Path, fp: str) -> dict | None:
    """The metadata of ``out`` if it exists and has fingerprint ``fp``, else None."""
    if not out.is_file():
        return None
    try:
        info = read_metadata(out)
    except DataError:
        return None
    return info if info.get("fingerprint") == fp else None


def _write(out: Path, tensors: dict[str, np.ndarray], info: dict) -> None:
    """Atomic write: temp file in the same folder, then os.replace."""
    with atomic_path(out) as tmp:
        save_file(tensors, str(tmp), metadata={META_KEY: json.dumps(info)})


class GazeCache:
    """A built cache in memory: ``cache.rows(dicom_id)`` is the sample's ``gaze`` field."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.info = read_metadata(self.path)
        try:
            tensors = load_file(str(self.path))
        except (OSError, SafetensorError) as err:
            raise DataError(f"cannot read gaze cache: {err}", self.path) from None
        self.grid: int = int(self.info["grid"])
        self.image_size: int = int(self.info["image_size"])
        self._by_image: dict[str, GazeRows] = {}
        for e in self.info["entries"]:
            maps = tensors.get(e["key"])
            if maps is None or maps.shape != (len(e["texts"]), self.grid * self.grid):
                raise DataError(f"gaze cache entry {e['key']!r} is missing or has the wrong shape", self.path)
            rows = [(t, m.astype(np.float32)) for t, m in zip(e["texts"], maps)]
            self._by_image.setdefault(e["dicom_id"], []).append((e["reading_id"], rows))

    @property
    def fingerprint(self) -> str:
        return str(self.info["fingerprint"])

    def __contains__(self, dicom_id: object) -> bool:
        return dicom_id in self._by_image

    def __len__(self) -> int:
        return len(self._by_image)

    def dicom_ids(self) -> list[str]:
        return list(self._by_image)

    def require(self, grid: int, image_size: int) -> None:
        """Raise ConfigError unless the cache was built for this patch grid and image size."""
        if (self.grid, self.image_size) != (int(grid), int(image_size)):
            raise ConfigError(
                f"{self.path}: gaze cache built for grid {self.grid} / image size {self.image_size}, "
                f"but the model needs grid {grid} / image size {image_size}; rebuild it with "
                f"`cogaze gaze build DATA_DIR --grid {grid} --image-size {image_size}`"
            )

    def rows(self, dicom_id: str) -> GazeRows:
        """Per reading of this image: (reading_id, [(text, patch_map float32 (grid*grid,)), ...]); [] if none."""
        return self._by_image.get(dicom_id, [])
