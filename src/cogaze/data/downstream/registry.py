"""The downstream dataset registry: one :class:`DatasetSpec` per dataset.

A spec names the loader, the (split, fraction) pairs the dataset ships split files for, its label set,
the side tables it reads and the tasks it supports. Adding a dataset = one loader module + one
:func:`register` call below. Every verb (``data downstream``, ``zeroshot``, ``retrieve``, ``finetune``)
and the public API dispatch through :func:`get_dataset`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cogaze.data.downstream.common import DownstreamSet, TaskKind
from cogaze.data.downstream.nih import NIH_CLASSES, load_nih
from cogaze.data.downstream.rsna import RSNA_CLASSES, load_rsna
from cogaze.data.downstream.shenzhen import SHENZHEN_CLASSES, load_shenzhen
from cogaze.data.downstream.siim import SIIM_CLASSES, load_siim
from cogaze.data.downstream.tbx11k import TBX11K_CLASSES, load_tbx11k
from cogaze.errors import ConfigError

TABLE_OPTIONS: dict[str, str] = {
    "data_entry": "--data-entry (NIH Data_Entry_2017*.csv)",
    "label_table": "--label-table (SIIM id / file name / RLE table; SOURCE=CSV per source split)",
    "box_table": "--box-table (TBX11K data.csv with the TB boxes)",
}
"""Side table key -> how a user passes it on the command line."""


@dataclass(frozen=True)
class SideTables:
    """Dataset-specific tables beside the split files (each used only by the datasets that read it)."""

    data_entry: str | Path | None = None
    label_table: str | Path | Mapping[str, str | Path] | None = None
    box_table: str | Path | None = None

    def given(self) -> list[str]:
        """Keys of the tables that were passed."""
        return [k for k in TABLE_OPTIONS if getattr(self, k) is not None]


Loader = Callable[..., DownstreamSet]
"""``loader(split_dir, split, fraction, image_root=, tables=, on_error=, check_images=, problems=)``."""

ALL_SPLITS: tuple[tuple[str, int], ...] = (("train", 1), ("train", 10), ("train", 100), ("val", 100), ("test", 100))


@dataclass(frozen=True)
class DatasetSpec:
    """What cogaze knows about one downstream dataset."""

    name: str
    title: str
    class_names: tuple[str, ...]
    task: TaskKind
    loader: Loader
    split_fractions: tuple[tuple[str, int], ...] = ALL_SPLITS
    tables: tuple[str, ...] = ()
    """Side tables the loader reads (keys of :data:`TABLE_OPTIONS`)."""
    mask_table: str | None = None
    """Where segmentation masks come from: a side-table key, ``"split"`` (in the split files) or None."""
    tasks: tuple[str, ...] = ("classification", "zeroshot")
    notes: dict[str, str] = field(default_factory=dict)

    def load(self, split_dir: str | Path, split: str, fraction: int = 100, *, image_root: str | Path | None = None,
             tables: SideTables | None = None, **common: Any) -> DownstreamSet:
        """The records of one split at one label fraction."""
        return self.loader(split_dir, split, fraction, image_root=image_root, tables=tables or SideTables(), **common)

    def check_task(self, task: str) -> None:
        """ConfigError unless the dataset supports ``task``."""
        if task not in self.tasks:
            raise ConfigError(f"{self.name} does not support {task}; it supports {', '.join(self.tasks)}")

    def check_masks(self, data: DownstreamSet, tables: SideTables) -> None:
        """Refuse a segmentation split without a single positive mask (it would train on all-zero masks)."""
        self.check_task("segmentation")
        if any(r.has_mask for r in data.records):
            return
        where = data.source or "the split files"
        if self.mask_table in TABLE_OPTIONS and getattr(tables, self.mask_table) is None:
            raise ConfigError(f"{self.name} segmentation needs its masks: pass {TABLE_OPTIONS[self.mask_table]}; "
                              f"without it every mask of {where} would be empty")
        raise ConfigError(f"{self.name} split {data.split} ({where}) has no image with a mask: segmentation "
                          "would train and score on all-zero masks")


REGISTRY: dict[str, DatasetSpec] = {}


def register(spec: DatasetSpec) -> DatasetSpec:
    """Add a dataset to the registry (name must be new)."""
    if spec.name in REGISTRY:
        raise ValueError(f"dataset {spec.name!r} is already registered")
    REGISTRY[spec.name] = spec
    return spec


def get_dataset(name: str) -> DatasetSpec:
    """The spec of dataset ``name`` (case-insensitive); ConfigError listing the known names otherwise."""
    spec = REGISTRY.get(str(name).lower())
    if spec is None:
        raise ConfigError(f"unknown downstream dataset {name!r}; known: {', '.join(REGISTRY)}")
    return spec


def dataset_names() -> tuple[str, ...]:
    """Registered dataset names, in registration order."""
    return tuple(REGISTRY)


register(DatasetSpec(
    "nih", "NIH ChestX-ray14", NIH_CLASSES, "multilabel",
    lambda d, s, f, image_root, tables, **c: load_nih(image_root, tables.data_entry, d, s, f, **c),
    tables=("data_entry",), notes={"train@100": "train.csv is absent upstream: pass --data-entry"}))
register(DatasetSpec(
    "siim", "SIIM-ACR pneumothorax", SIIM_CLASSES, "binary",
    lambda d, s, f, image_root, tables, **c: load_siim(image_root, tables.label_table, d, s, f, **c),
    tables=("label_table",), mask_table="label_table", tasks=("classification", "zeroshot", "segmentation")))
register(DatasetSpec(
    "rsna", "RSNA pneumonia", RSNA_CLASSES, "binary",
    lambda d, s, f, image_root, tables, **c: load_rsna(image_root, d, s, f, **c),
    mask_table="split", tasks=("classification", "zeroshot", "segmentation")))
register(DatasetSpec(
    "tbx11k", "TBX11K tuberculosis", TBX11K_CLASSES, "binary",
    lambda d, s, f, image_root, tables, **c: load_tbx11k(image_root, d, s, f, box_table=tables.box_table, **c),
    tables=("box_table",), mask_table="box_table", tasks=("classification", "zeroshot", "segmentation")))
register(DatasetSpec(
    "shenzhen", "Shenzhen tuberculosis", SHENZHEN_CLASSES, "binary",
    lambda d, s, f, image_root, tables, **c: load_shenzhen(image_root, d, s, f, **c),
    split_fractions=(("train", 100), ("val", 100), ("test", 100))))
