"""Labelled images for downstream tasks: lazily loaded, already preprocessed pixel tensors.

Tasks never read image files themselves: an :class:`ImageItems` pairs labels, views, context
sentences and optional reports with a ``load(i)`` that returns image ``i`` as a (3, S, S) float
tensor (and its (1, S, S) mask for segmentation). Build one from in-memory tensors
(:meth:`ImageItems.from_tensors`) or from a downstream split (:meth:`ImageItems.from_downstream`,
which reads each file and applies the caller's geometry: ``preprocess`` for the image and
``preprocess_mask`` for its mask, so both go through the same resize/crop;
:meth:`ImageItems.from_geometry` wires ``cogaze.data.geometry.ImageGeometry`` for both).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from cogaze.data.downstream import DownstreamSet, decode_mask
from cogaze.data.geometry import ImageGeometry
from cogaze.data.images import read_image
from cogaze.data.pixels import ModelImages
from cogaze.data.records import CHEXPERT_CLASSES, ImageRecord
from cogaze.errors import DataError

Preprocess = Callable[[np.ndarray], Tensor]
"""uint8 grayscale (H, W) -> float (3, S, S) tensor (cogaze.data.geometry provides one)."""
PreprocessMask = Callable[[np.ndarray], Tensor]
"""uint8 0/1 mask (H, W) -> float (1, S, S) or (S, S) tensor, same geometry as the image, nearest."""


def check_label_matrix(labels: np.ndarray, class_names: Sequence[str], what: str = "labels") -> np.ndarray:
    """``labels`` as an int64 (N, C) 0/1 matrix; a DataError when its width is not len(class_names)."""
    arr = np.asarray(labels)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[1] != len(class_names):
        raise DataError(
            f"{what}: label matrix of shape {tuple(np.shape(labels))} does not match "
            f"{len(class_names)} class names {list(class_names)}"
        )
    if arr.size and not np.isin(arr, (0, 1)).all():
        raise DataError(f"{what}: labels must be 0 or 1")
    return arr.astype(np.int64)


class _Reindexed:
    """``load`` of a subset: item ``j`` of the subset is item ``idx[j]`` of the parent."""

    def __init__(self, load: Callable[[int], tuple[Tensor, Tensor | None]], idx: list[int]):
        self.load, self.idx = load, idx

    def __call__(self, j: int) -> tuple[Tensor, Tensor | None]:
        return self.load(self.idx[j])


@dataclass
class ImageItems:
    """N labelled images. ``labels`` is (N, C) 0/1 over ``class_names`` (C = 1 for a binary set)."""

    ids: list[str]
    labels: np.ndarray
    class_names: tuple[str, ...]
    load: Callable[[int], tuple[Tensor, Tensor | None]]
    """Index -> (pixels (3, S, S), mask (1, S, S) or None)."""
    views: list[str] = field(default_factory=list)
    contexts: list[str] = field(default_factory=list)
    """Indication / context sentence per image (passed as ``indications``), empty when absent."""
    reports: list[str] | None = None
    name: str = ""
    histories: list[str] = field(default_factory=list)
    """History per image (MIMIC-style records), empty when absent."""

    def __post_init__(self) -> None:
        self.class_names = tuple(self.class_names)
        self.labels = check_label_matrix(self.labels, self.class_names, self.name or "images")
        n = len(self.ids)
        if self.labels.shape[0] != n:
            raise DataError(f"{self.name or 'images'}: {self.labels.shape[0]} label rows for {n} images")
        self.views = list(self.views) or ["PA"] * n
        self.contexts = list(self.contexts) or [""] * n
        self.histories = list(self.histories) or [""] * n
        for what, seq in (("views", self.views), ("contexts", self.contexts), ("histories", self.histories),
                          ("reports", self.reports)):
            if seq is not None and len(seq) != n:
                raise DataError(f"{self.name or 'images'}: {len(seq)} {what} for {n} images")

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def binary(self) -> bool:
        return len(self.class_names) == 1

    def subset(self, indices: Sequence[int]) -> ImageItems:
        """The items at ``indices`` (in that order)."""
        idx = [int(i) for i in indices]
        return ImageItems(
            ids=[self.ids[i] for i in idx],
            labels=self.labels[idx] if idx else self.labels[:0],
            class_names=self.class_names,
            load=_Reindexed(self.load, idx),
            views=[self.views[i] for i in idx],
            contexts=[self.contexts[i] for i in idx],
            reports=None if self.reports is None else [self.reports[i] for i in idx],
            name=self.name,
            histories=[self.histories[i] for i in idx],
        )

    def batch(self, indices: Sequence[int], with_masks: bool = False) -> tuple[Tensor, Tensor | None]:
        """Stacked pixels (B, 3, S, S) and, when asked, masks (B, 1, S, S)."""
        pairs = [self.load(int(i)) for i in indices]
        pixels = torch.stack([p for p, _ in pairs]).float()
        if not with_masks:
            return pixels, None
        masks = []
        for (p, m), i in zip(pairs, indices):
            if m is None:
                raise DataError(f"{self.name or 'images'}: image {self.ids[int(i)]} has no mask")
            masks.append(m.reshape(1, *p.shape[-2:]).float())
        return pixels, torch.stack(masks)

    @classmethod
    def from_tensors(
        cls,
        pixels: Tensor,
        labels: np.ndarray,
        class_names: Sequence[str],
        *,
        ids: Sequence[str] | None = None,
        masks: Tensor | None = None,
        views: Sequence[str] = (),
        contexts: Sequence[str] = (),
        reports: Sequence[str] | None = None,
        name: str = "",
    ) -> ImageItems:
        """Items over in-memory pixels (N, 3, S, S) and optional masks (N, 1, S, S)."""
        n = int(pixels.shape[0])
        if masks is not None and int(masks.shape[0]) != n:
            raise DataError(f"{name or 'images'}: {int(masks.shape[0])} masks for {n} images")

        def load(i: int) -> tuple[Tensor, Tensor | None]:
            return pixels[i], None if masks is None else masks[i]

        return cls(
            ids=list(ids) if ids is not None else [str(i) for i in range(n)],
            labels=labels,
            class_names=tuple(class_names),
            load=load,
            views=list(views),
            contexts=list(contexts),
            reports=None if reports is None else list(reports),
            name=name,
        )

    @classmethod
    def from_downstream(
        cls,
        dataset: DownstreamSet,
        preprocess: Preprocess,
        preprocess_mask: PreprocessMask | None = None,
    ) -> ImageItems:
        """Items over a downstream split; images are read on demand (a missing file: DataError).

        With ``preprocess_mask`` each image's mask (:func:`decode_mask` at the original size) goes
        through it, so image and mask share the geometry.
        """
        records = list(dataset.records)

        def load(i: int) -> tuple[Tensor, Tensor | None]:
            record = records[i]
            if record.image_path is None:
                raise DataError(f"{record.dataset} {record.image_id}: no image path (loaded without an image root)")
            image = read_image(record.image_path)
            pixels = preprocess(image)
            if preprocess_mask is None:
                return pixels, None
            mask = decode_mask(record, image.shape[0], image.shape[1])
            return pixels, preprocess_mask(mask)

        return cls(
            ids=[r.image_id for r in records],
            labels=dataset.label_matrix(),
            class_names=dataset.class_names,
            load=load,
            views=[r.view for r in records],
            contexts=[r.context for r in records],
            name=f"{dataset.dataset} {dataset.split}",
        )

    @classmethod
    def from_geometry(cls, dataset: DownstreamSet, geometry: ImageGeometry, with_masks: bool = False) -> ImageItems:
        """:meth:`from_downstream` with the project geometry: images through
        ``geometry.transform_image``, masks (if asked) through ``geometry.transform_mask``."""

        def image(arr: np.ndarray) -> Tensor:
            return torch.from_numpy(geometry.transform_image(arr))

        def mask(arr: np.ndarray) -> Tensor:
            return torch.from_numpy(geometry.transform_mask(arr)).float()[None]

        return cls.from_downstream(dataset, image, mask if with_masks else None)

    @classmethod
    def from_records(
        cls,
        records: Sequence[ImageRecord],
        preprocess: Preprocess | None,
        class_names: Sequence[str] = CHEXPERT_CLASSES,
        name: str = "",
        images: ModelImages | None = None,
    ) -> ImageItems:
        """Items over MIMIC-style image records (MIMIC-CXR or the phantom): binarised labels of
        ``class_names`` (spec 1.3), indication and history as context, the findings section as the
        report (the impression when findings are empty).

        ``images`` (files or a prepared store, :class:`~cogaze.data.pixels.ModelImages`) replaces
        ``preprocess(read_image(path))`` when given (pass ``preprocess=None`` then)."""
        records = list(records)
        unknown = [c for c in class_names if c not in CHEXPERT_CLASSES]
        if unknown:
            raise DataError(f"classes {unknown} are not CheXbert observations {list(CHEXPERT_CLASSES)}")
        columns = [CHEXPERT_CLASSES.index(c) for c in class_names]

        def load(i: int) -> tuple[Tensor, Tensor | None]:
            record = records[i]
            if images is not None:
                return images.pixels(record.dicom_id, record.image_path), None
            if record.image_path is None or preprocess is None:
                raise DataError(f"image {record.dicom_id}: no image path")
            return preprocess(read_image(record.image_path)), None

        labels = np.array([r.labels[columns] for r in records], dtype=np.int64).reshape(len(records), len(columns))
        return cls(
            ids=[r.dicom_id for r in records],
            labels=labels,
            class_names=tuple(class_names),
            load=load,
            views=[r.view for r in records],
            contexts=[r.indication.strip() for r in records],
            histories=[r.history.strip() for r in records],
            reports=[(r.findings.strip() or r.impression.strip()) for r in records],
            name=name,
        )
