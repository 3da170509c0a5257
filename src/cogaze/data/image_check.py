"""Checking image files before they are used: readable header, plausible size, decodable pixels.

``cogaze data validate`` opens every image header and (unless ``--fast``) decodes every image, in
parallel with a progress bar; ``--on-error skip`` runs (pretraining, ``data prepare``) use the same
check to leave broken images out with a count. A check fails (a :class:`~cogaze.errors.DataError`
naming the file) for a missing, empty, truncated or non-image file, an image whose shorter side is below
:attr:`ImageLimits.min_side` or whose pixel count is above :attr:`ImageLimits.max_pixels` (Pillow's
decompression-bomb limit by default), and for DICOM files without decodable pixel data.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from cogaze.data.images import DECODE_PIXEL_LIMIT, MIN_IMAGE_SIDE, image_size, read_image, read_image_scaled
from cogaze.errors import DataError, Problems
from cogaze.logs import show_progress

MAX_IMAGE_PIXELS = DECODE_PIXEL_LIMIT
"""Pillow's ``Image.MAX_IMAGE_PIXELS``: above it Pillow warns of a decompression bomb, above twice it refuses."""


@dataclass(frozen=True)
class ImageLimits:
    """Plausible image sizes: shorter side >= ``min_side``, width x height <= ``max_pixels``."""

    min_side: int = MIN_IMAGE_SIDE
    max_pixels: int = MAX_IMAGE_PIXELS

    def check(self, width: int, height: int, path: str | Path) -> None:
        """Raise a DataError naming ``path`` when (width, height) is outside the limits."""
        if min(width, height) < self.min_side:
            raise DataError(f"image is only {width}x{height} pixels (shorter side below the minimum of "
                            f"{self.min_side})", path)
        if width * height > self.max_pixels:
            raise DataError(f"image is {width}x{height} = {width * height:,} pixels, above the limit of "
                            f"{self.max_pixels:,}", path)


def check_image(path: str | Path, decode: bool = True, limits: ImageLimits | None = None,
                shortest_edge: int | None = None) -> tuple[int, int]:
    """(width, height) of an image that passes the checks, else a DataError naming the file.

    ``decode=False`` reads the header only (fast; a file truncated after its header passes).
    ``shortest_edge``: decode as model input of that size would (DCT-scaled JPEG decode), not at full size.
    """
    path = Path(path)
    limits = limits or ImageLimits()
    if path.is_file() and path.stat().st_size == 0:
        raise DataError("image file is empty (0 bytes)", path)
    width, height = image_size(path)
    limits.check(width, height, path)
    if decode:
        if shortest_edge is None:
            arr = read_image(path)
            if arr.shape != (height, width):
                raise DataError(f"decoded pixels are {arr.shape[1]}x{arr.shape[0]}, the header says "
                                f"{width}x{height}", path)
        else:
            read_image_scaled(path, shortest_edge)
    return width, height


def _job(args: tuple[int, str, bool, int, int, int | None]) -> tuple[int, str | None]:
    index, path, decode, min_side, max_pixels, edge = args
    try:
        check_image(path, decode, ImageLimits(min_side, max_pixels), edge)
    except DataError as err:
        return index, err.message
    except Exception as err:  # noqa: BLE001 - a decoder bug on one odd file must not stop the whole check
        return index, f"cannot read image: {type(err).__name__}: {err}"
    return index, None


def check_images(paths: Sequence[str | Path], decode: bool = True, limits: ImageLimits | None = None,
                 shortest_edge: int | None = None, workers: int = 0, progress: bool = True,
                 desc: str = "check images") -> list[DataError | None]:
    """Check every image (see :func:`check_image`) in ``workers`` processes (0 = one per CPU core) with a
    progress bar; returns, per path in order, None or the DataError naming the file."""
    limits = limits or ImageLimits()
    jobs = [(i, str(p), decode, limits.min_side, limits.max_pixels, shortest_edge) for i, p in enumerate(paths)]
    out: list[DataError | None] = [None] * len(jobs)
    workers = min(workers or os.cpu_count() or 1, max(len(jobs), 1))
    with tqdm(total=len(jobs), desc=desc, unit="img", disable=not show_progress(progress)) as bar:
        results: Iterator[tuple[int, str | None]]
        if workers <= 1:
            results = map(_job, jobs)
        else:
            ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
            pool = ctx.Pool(workers)
            results = pool.imap_unordered(_job, jobs, chunksize=8)
        try:
            for index, message in results:
                if message is not None:
                    out[index] = DataError(message, paths[index])
                bar.update(1)
        finally:
            if workers > 1:
                pool.close()
                pool.join()
    return out


def drop_broken_images(records: Sequence, problems: Problems, decode: bool = True,
                       limits: ImageLimits | None = None, shortest_edge: int | None = None, workers: int = 0,
                       progress: bool = True) -> list:
    """The records whose image passes :func:`check_image`; each failure is reported under ``problems``'
    policy (raise, or skip: logged and counted) naming the image id and file."""
    with_path = [r for r in records if r.image_path is not None]
    paths = list(dict.fromkeys(r.image_path for r in with_path))
    errors = dict(zip(paths, check_images(paths, decode, limits, shortest_edge, workers, progress)))
    kept = []
    for rec in records:
        error = errors.get(rec.image_path) if rec.image_path is not None else None
        if error is None:
            kept.append(rec)
            continue
        key = getattr(rec, "dicom_id", None) or getattr(rec, "image_id", "?")
        problems.report(DataError(f"image {key}: {error.message}", error.path))
    return kept
