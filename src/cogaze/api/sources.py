"""Where task images come from: a cogaze dataset folder or a registered downstream dataset.

A :class:`DataSource` names one of the two (a phantom / MIMIC-CXR-layout folder, or a downstream dataset
in its original layout with its split files, image folder and side tables) and builds the
:class:`~cogaze.tasks.items.ImageItems` a task needs with the encoder's geometry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cogaze.data.downstream import SideTables, get_dataset
from cogaze.errors import ConfigError


def open_store(store: str | Path | None, data_dir: str | Path | None) -> Any:
    """The ImageStore at ``store`` (None without one); a store holds a dataset folder's images."""
    if not store:
        return None
    if not data_dir:
        raise ConfigError("--store holds the images of a cogaze dataset folder: use it with --data")
    from cogaze.data.store import ImageStore

    return ImageStore(store)


@dataclass
class DataSource:
    """Exactly one of ``data_dir`` (a cogaze dataset folder) and ``dataset`` (+ ``split_dir``, ``image_root``,
    ``tables``)."""

    data_dir: str | Path | None = None
    dataset: str | None = None
    split_dir: str | Path | None = None
    image_root: str | Path | None = None
    tables: SideTables = field(default_factory=SideTables)
    store: str | Path | None = None
    """A prepared image store of ``data_dir`` (``cogaze data prepare``): images are read from it."""
    _records: Any = field(default=None, init=False, repr=False)
    _store: Any = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if bool(self.data_dir) == bool(self.dataset):
            raise ConfigError("give either --data DIR (a cogaze dataset folder) or a downstream dataset "
                              "(--dataset NAME --split-dir ... --image-root ...)")
        if self.dataset:
            spec = get_dataset(self.dataset)  # unknown names fail here, before any model loads
            self.dataset = spec.name
            if not (self.split_dir and self.image_root):
                raise ConfigError(f"--dataset {self.dataset} needs --split-dir and --image-root")
        self._store = open_store(self.store, self.data_dir)

    @property
    def records(self) -> Any:
        """The dataset folder's records (loaded once)."""
        if self._records is None:
            from cogaze.data.dataset import load_dataset

            assert self.data_dir is not None
            self._records = load_dataset(self.data_dir).records
        return self._records

    def downstream_set(self, split: str, fraction: int = 100) -> Any:
        """The downstream dataset's records of ``split`` at ``fraction`` percent of the labels."""
        assert self.dataset and self.split_dir is not None
        return get_dataset(self.dataset).load(self.split_dir, split, fraction, image_root=self.image_root,
                                              tables=self.tables)

    def classification(self, encoder: Any, split: str, classes: list[str] | None = None, fraction: int = 100) -> Any:
        """Classification items of ``split`` (a dataset's label columns, or ``classes`` of a dataset folder)."""
        from cogaze.tasks.items import ImageItems

        if self.dataset:
            return ImageItems.from_geometry(self.downstream_set(split, fraction), encoder.geometry)
        from cogaze.tasks.phantom_sets import classification_items

        return classification_items(self.records, encoder.geometry, split, classes, self._store)

    def segmentation(self, encoder: Any, split: str, finding: str, fraction: int = 100) -> Any:
        """Segmentation items of ``split``: a dataset's masks (refused when the split has none), or the
        phantom masks of ``finding``."""
        from cogaze.tasks.items import ImageItems

        if self.dataset:
            spec = get_dataset(self.dataset)
            data = self.downstream_set(split, fraction)
            spec.check_masks(data, self.tables)
            return ImageItems.from_geometry(data, encoder.geometry, with_masks=True)
        from cogaze.tasks.phantom_sets import segmentation_items

        assert self.data_dir is not None
        return segmentation_items(self.data_dir, self.records, encoder.geometry, split, finding, self._store)
