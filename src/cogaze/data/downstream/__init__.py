"""Downstream dataset loaders (spec 5.4-5.7, 8): split files -> typed records.

One module per dataset; all return a :class:`DownstreamSet`. :func:`load_downstream` picks the loader
by name through the registry (:mod:`cogaze.data.downstream.registry`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from cogaze.data.downstream.common import (
    FRACTIONS,
    Box,
    DownstreamRecord,
    DownstreamSet,
    MaskSource,
    check_fraction,
)
from cogaze.data.downstream.masks import boxes_to_mask, decode_mask, decode_source, rle_decode, rle_encode
from cogaze.data.downstream.nih import NIH_CLASSES, load_nih, read_data_entry
from cogaze.data.downstream.registry import (
    REGISTRY,
    DatasetSpec,
    SideTables,
    dataset_names,
    get_dataset,
    register,
)
from cogaze.data.downstream.rsna import RSNA_CLASSES, load_rsna
from cogaze.data.downstream.shenzhen import SHENZHEN_CLASSES, load_shenzhen
from cogaze.data.downstream.siim import SIIM_CLASSES, load_siim, read_label_table
from cogaze.data.downstream.tbx11k import TBX11K_CATEGORIES, TBX11K_CLASSES, load_tbx11k, read_box_table
from cogaze.errors import OnError, Problems

DATASETS: tuple[str, ...] = dataset_names()

SPLIT_FRACTIONS: dict[str, tuple[tuple[str, int], ...]] = {n: REGISTRY[n].split_fractions for n in DATASETS}
"""The (split, fraction) pairs each dataset ships split files for."""


def load_downstream(
    name: str,
    split_dir: str | Path,
    split: str,
    fraction: int = 100,
    *,
    image_root: str | Path | None = None,
    check_images: bool = True,
    on_error: OnError = "raise",
    problems: Problems | None = None,
    data_entry_csv: str | Path | None = None,
    label_table: str | Path | Mapping[str, str | Path] | None = None,
    box_table: str | Path | None = None,
) -> DownstreamSet:
    """Load dataset ``name`` (one of :data:`DATASETS`) through its registry entry; side tables a dataset
    does not read are ignored.

    ``data_entry_csv``: NIH ``Data_Entry_2017*.csv``; ``label_table``: SIIM (id, file, RLE) table(s);
    ``box_table``: TBX11K ``data.csv``.
    """
    tables = SideTables(data_entry=data_entry_csv, label_table=label_table, box_table=box_table)
    return get_dataset(name).load(split_dir, split, fraction, image_root=image_root, tables=tables,
                                  on_error=on_error, check_images=check_images, problems=problems)


__all__ = [
    "REGISTRY",
    "DatasetSpec",
    "SideTables",
    "dataset_names",
    "get_dataset",
    "register",
    "DATASETS",
    "FRACTIONS",
    "NIH_CLASSES",
    "RSNA_CLASSES",
    "SHENZHEN_CLASSES",
    "SIIM_CLASSES",
    "SPLIT_FRACTIONS",
    "TBX11K_CATEGORIES",
    "TBX11K_CLASSES",
    "Box",
    "DownstreamRecord",
    "DownstreamSet",
    "MaskSource",
    "boxes_to_mask",
    "check_fraction",
    "decode_mask",
    "decode_source",
    "load_downstream",
    "load_nih",
    "load_rsna",
    "load_shenzhen",
    "load_siim",
    "load_tbx11k",
    "read_box_table",
    "read_data_entry",
    "read_label_table",
    "rle_decode",
    "rle_encode",
]
