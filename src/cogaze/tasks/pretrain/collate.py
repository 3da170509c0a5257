"""Samples -> batch (docs/batch.md), tokenising every text with the cogaze tokenizer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from cogaze.data.geometry import ImageGeometry
from cogaze.data.pixels import normalise_batch
from cogaze.data.records import view_index
from cogaze.errors import DataError
from cogaze.models.tokenizer import REPORT_PREFIX, TRANSCRIPT_PREFIX, context_string


def batch_ids(samples: Sequence[dict[str, Any]]) -> str:
    """A short description of a batch's dicom ids for error messages."""
    ids = [str(s.get("dicom_id", "?")) for s in samples]
    return ", ".join(ids[:5]) + (" ..." if len(ids) > 5 else "")


def finish_batch(batch: dict[str, Any], geometry: ImageGeometry) -> dict[str, Any]:
    """Turn a collated ``image_u8`` (uint8 (B, S, S)) into normalised ``pixel_values`` on its device."""
    if "image_u8" in batch:
        batch["pixel_values"] = normalise_batch(batch.pop("image_u8"), geometry)
    return batch


class PretrainCollator:
    """Callable collate_fn: list of sample dicts -> batch dict of tensors (plus id lists).

    Extra keys beyond docs/batch.md: ``dicom_ids`` and ``study_keys`` (lists) for retrieval metrics.
    A sample carrying ``vision_features`` (cached frozen-encoder tokens) is collated into
    ``vision_features``, one carrying ``image_u8`` (uint8 (S, S)) into ``image_u8`` (B, S, S), instead
    of ``pixel_values`` (``cogaze.data.pixels.normalise_batch`` turns ``image_u8`` into them).
    """

    def __init__(self, tokenizer: Any, max_length: int = 300):
        self.tokenizer = tokenizer
        self.max_length = max_length

    def _tok(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        enc = self.tokenizer(texts, padding="longest", truncation=True, max_length=self.max_length,
                             return_tensors="pt", add_special_tokens=False)
        return enc["input_ids"], enc["attention_mask"]

    def __call__(self, samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
        if not samples:
            raise DataError("cannot collate an empty list of samples")
        batch: dict[str, Any] = {}
        key = next((k for k in ("vision_features", "image_u8") if k in samples[0]), "pixel_values")
        try:
            batch[key] = torch.stack([torch.as_tensor(s[key]) for s in samples])
        except (KeyError, RuntimeError) as err:
            raise DataError(f"samples {batch_ids(samples)}: missing or mismatched {key}: {err}") from None
        batch["view_ids"] = torch.tensor([view_index(s.get("view")) for s in samples], dtype=torch.long)
        batch["report_ids"], batch["report_mask"] = self._tok([REPORT_PREFIX + (s.get("report") or "") for s in samples])
        ctx = [context_string(s.get("indication", ""), s.get("history", "")) for s in samples]
        batch["context_ids"], batch["context_mask"] = self._tok([c for c, _ in ctx])
        batch["has_context"] = torch.tensor([h for _, h in ctx], dtype=torch.bool)
        batch["labels"] = torch.stack([torch.as_tensor(np.asarray(s["labels"], dtype=np.float32)) for s in samples])
        keys = [tuple(s["study_key"]) for s in samples]
        index: dict[tuple, int] = {}
        batch["study_index"] = torch.tensor([index.setdefault(k, len(index)) for k in keys], dtype=torch.long)
        texts, maps, owner, reading = [], [], [], []
        reading_ids: dict[tuple[int, str], int] = {}
        for i, s in enumerate(samples):
            for reading_id, rows in s.get("gaze") or []:
                r = reading_ids.setdefault((i, str(reading_id)), len(reading_ids))
                for text, patch_map in rows:
                    texts.append(TRANSCRIPT_PREFIX + text)
                    maps.append(torch.as_tensor(np.asarray(patch_map, dtype=np.float32)))
                    owner.append(i)
                    reading.append(r)
        if texts:
            batch["gaze_text_ids"], batch["gaze_text_mask"] = self._tok(texts)
            if len({m.shape for m in maps}) != 1 or any(not torch.isfinite(m).all() for m in maps):
                raise DataError(f"gaze maps of batch {batch_ids(samples)} differ in size or hold NaN/inf")
            batch["gaze_maps"] = torch.stack(maps)
        else:
            batch["gaze_text_ids"] = torch.zeros(0, 1, dtype=torch.long)
            batch["gaze_text_mask"] = torch.zeros(0, 1, dtype=torch.long)
            batch["gaze_maps"] = torch.zeros(0, 0)
        batch["gaze_owner"] = torch.tensor(owner, dtype=torch.long)
        batch["gaze_reading"] = torch.tensor(reading, dtype=torch.long)
        batch["dicom_ids"] = [str(s.get("dicom_id", i)) for i, s in enumerate(samples)]
        batch["study_keys"] = keys
        return batch
