"""Records -> pretraining samples (docs/batch.md): the last step of the data side.

A :class:`PretrainSamples` is a map-style dataset (``len``/``[]``, usable by a torch DataLoader):
sample ``i`` reads record ``i``'s image (from its file or a prepared image store), passes it through the
shared image geometry and attaches the gaze rows of the image (from a built gaze cache, or rendered on
the fly from the record's readings). Nothing after this point touches a file.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from cogaze.data.geometry import ImageGeometry
from cogaze.data.images import read_image
from cogaze.data.pixels import ModelImages
from cogaze.data.records import ImageRecord, RecordSet
from cogaze.errors import DataError
from cogaze.gaze.cache import GazeCache
from cogaze.gaze.targets import reading_rows
from cogaze.tasks.pretrain.feature_cache import FeatureCache


class PretrainSamples:
    """Sample dicts for pretraining, one per record, in record order.

    ``gaze_cache``: a built :class:`~cogaze.gaze.cache.GazeCache` (checked against ``geometry`` and
    ``grid``); without one, gaze rows are rendered from ``record.gaze`` on the fly when ``grid`` is given,
    and no gaze is attached when it is not. ``use_gaze=False`` drops gaze entirely (ablation). ``features``: a built
    :class:`~cogaze.tasks.pretrain.feature_cache.FeatureCache`; samples then carry ``vision_features`` (float32,
    (1+P, Dv), read from the memory map) instead of ``pixel_values`` and no image is read.

    ``images``: where images come from (:class:`~cogaze.data.pixels.ModelImages`: files or a prepared
    store). Given one, samples carry ``image_u8`` (uint8 (S, S), resized and cropped, not normalised;
    the collator stacks them and ``cogaze.data.pixels.normalise_batch`` finishes them on the device)
    instead of ``pixel_values`` (float32 (3, S, S), full decode, normalised here: the default).
    """

    def __init__(
        self,
        records: RecordSet | Sequence[ImageRecord],
        geometry: ImageGeometry,
        grid: int | None = None,
        gaze_cache: GazeCache | None = None,
        use_gaze: bool = True,
        features: FeatureCache | None = None,
        images: ModelImages | None = None,
    ) -> None:
        self.records = list(records)
        self.geometry = geometry
        self.grid = grid
        self.gaze_cache = gaze_cache
        self.use_gaze = use_gaze
        self.features = features
        self.images = images
        if images is not None and images.geometry != geometry:
            raise ValueError("images must use the samples' geometry")
        if gaze_cache is not None:
            gaze_cache.require(grid if grid is not None else gaze_cache.grid, geometry.size)
            self.grid = gaze_cache.grid
        for rec in self.records:
            if rec.image_path is None and (images is None or images.store is None):
                raise DataError(f"record {rec.dicom_id} has no image path")
            if features is not None and rec.dicom_id not in features:
                raise DataError(f"image {rec.dicom_id} is not in the feature cache", features.folder)

    def __len__(self) -> int:
        return len(self.records)

    def label_matrix(self) -> np.ndarray:
        """Binarised labels (n, 14) straight from the records (no image is read)."""
        return RecordSet(self.records).label_matrix()

    def gaze_rows(self, rec: ImageRecord) -> list[tuple[str, list[tuple[str, np.ndarray]]]]:
        """The ``gaze`` field of ``rec``'s sample."""
        if not self.use_gaze:
            return []
        if self.gaze_cache is not None:
            return self.gaze_cache.rows(rec.dicom_id)
        if self.grid is None or not rec.gaze:
            return []
        return [(r.reading_id, reading_rows(r, self.geometry, self.grid)) for r in rec.gaze]

    def __getitem__(self, index: int) -> dict[str, Any]:
        rec = self.records[index]
        if self.features is not None:
            image = ("vision_features", self.features.features(rec.dicom_id))
        elif self.images is not None:
            image = ("image_u8", torch.from_numpy(self.images.u8(rec.dicom_id, rec.image_path)[0]))
        else:
            pixels = self.geometry.transform_image(read_image(rec.image_path))  # type: ignore[arg-type]
            image = ("pixel_values", torch.from_numpy(pixels))
        return {
            "dicom_id": rec.dicom_id,
            "study_key": rec.study_key,
            image[0]: image[1],
            "view": rec.view,
            "report": rec.findings,
            "indication": rec.indication,
            "history": rec.history,
            "labels": torch.from_numpy(rec.labels.astype(np.float32)),
            "gaze": self.gaze_rows(rec),
        }
