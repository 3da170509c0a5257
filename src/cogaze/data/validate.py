"""``cogaze data validate``: load a dataset folder with every check, then open (and decode) every image.

Beyond the loaders' checks (every CSV row, report, transcript and fixation), it opens every image
header and, unless ``decode=False``, decodes every image (in parallel, with a progress bar), flags
images below the minimum side or above the pixel limit (:class:`~cogaze.data.image_check.ImageLimits`),
and flags empty train / val / test splits (a warning) and a dataset without any usable image (an error).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cogaze.data.dataset import LoadedDataset, load_dataset
from cogaze.data.image_check import ImageLimits, drop_broken_images
from cogaze.data.records import SPLITS, RecordSet
from cogaze.errors import DataError, OnError


@dataclass
class Validation:
    """What :func:`validate_dataset` found: the loaded dataset (broken images dropped), images checked,
    empty splits. ``problems`` of ``loaded`` hold every error (skipped items) and warning."""

    loaded: LoadedDataset
    images_checked: int
    decoded: bool
    empty_splits: list[str] = field(default_factory=list)

    @property
    def n_errors(self) -> int:
        return self.loaded.problems.n_skipped


def validate_dataset(directory: str | Path, on_error: OnError = "skip", impression_only: str = "use",
                     decode: bool = True, limits: ImageLimits | None = None, workers: int = 0,
                     progress: bool = True) -> Validation:
    """Load ``directory`` and check every image (see the module docstring).

    Every problem is reported under ``on_error`` (``skip``: collected in ``loaded.problems``, the
    offending item left out; ``raise``: the first one raises).
    """
    loaded = load_dataset(directory, on_error=on_error, impression_only=impression_only)
    problems = loaded.problems
    n_images = len({r.image_path for r in loaded.records if r.image_path is not None})
    kept = drop_broken_images(list(loaded.records), problems, decode=decode, limits=limits, workers=workers,
                              progress=progress)
    loaded.records = RecordSet(kept)
    if not len(loaded.records):
        what = "its metadata CSV lists no images" if not n_images else "none of its images is usable"
        problems.report(DataError(f"the dataset has no images: {what}", directory))
    empty = [name for name in SPLITS if not len(loaded.records.split(name))]
    if empty and len(loaded.records):
        problems.warn(f"{directory}: empty split(s): {', '.join(empty)} (no usable images; pretraining needs "
                      "train, and val for validation; the tasks evaluate on test)")
    return Validation(loaded, n_images, decode, empty)
