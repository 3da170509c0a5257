"""Examples of the report task and their frozen-encoder features (computed once: the encoder is frozen)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from cogaze.errors import DataError, Problems
from cogaze.models.interface import VisionLanguageEncoder

log = logging.getLogger("cogaze.html")


@dataclass
class ReportItem:
    """One image with its context and target report. Give ``pixel_values`` or precomputed ``latents``."""

    dicom_id: str
    subject_id: str
    target: str
    view: str = "UNKNOWN"
    indication: str = ""
    history: str = ""
    pixel_values: Tensor | None = None
    latents: Tensor | None = None
    """(m, D) precomputed vision latents (then ``pooled`` = their mean and ``logits`` may be given)."""
    logits: Tensor | None = None
    context_format: str = "mimic"
    """How the encoder reads the context: 'mimic' (indication + history) or 'srrg' (history only)."""


@dataclass
class FeatureBank:
    """Frozen-encoder outputs of N items."""

    latents: Tensor  # (N, m, D)
    pooled: Tensor  # (N, D)
    logits: Tensor | None  # (N, 14) or None
    memory: str = "vision"  # what ``latents`` hold (ReportGenConfig.memory)

    def __len__(self) -> int:
        return self.latents.shape[0]


def drop_empty_targets(items: Sequence[ReportItem], problems: Problems | None = None) -> list[ReportItem]:
    """Items with a non-empty target; each dropped one is a counted skip (or raises under on_error='raise')."""
    problems = problems or Problems("skip")
    kept = []
    for item in items:
        if item.target.strip():
            kept.append(item)
        else:
            problems.report(DataError(f"empty findings for image {item.dicom_id}: skipped from training"))
    if len(kept) < len(items):
        log.warning("skipped %d training item(s) with empty findings", len(items) - len(kept))
    return kept


MEMORIES = ("vision", "vision+context")


@torch.no_grad()
def precompute_features(encoder: VisionLanguageEncoder | None, items: Sequence[ReportItem],
                        batch_size: int = 16, memory: str = "vision") -> FeatureBank:
    """Encode every item once (eval mode, no grad); items with ``latents`` are used as given.

    ``memory`` (ReportGenConfig.memory): the bank's ``latents`` are the vision latents (``"vision"``) or
    the vision latents followed by the latents that queried the image (``"vision+context"``, 2m rows);
    ``pooled`` is always the mean of the vision latents.
    """
    if memory not in MEMORIES:
        raise DataError(f"memory must be one of {', '.join(MEMORIES)}, got {memory!r}")
    if encoder is not None and hasattr(encoder, "eval"):
        encoder.eval()
    latents: list[Tensor | None] = [it.latents for it in items]
    pooled: list[Tensor | None] = [None if it.latents is None else it.latents.float().mean(0) for it in items]
    logits: list[Tensor | None] = [it.logits for it in items]
    todo = [i for i, it in enumerate(items) if it.latents is None]
    if memory != "vision" and len(todo) < len(items):
        raise DataError("precomputed item latents are vision latents only: memory='vision+context' needs the encoder")
    if todo and encoder is None:
        raise DataError(f"item {items[todo[0]].dicom_id} has neither latents nor an encoder to compute them")
    # one context format per batch, so a batch is one encoder call
    batches = []
    for fmt in dict.fromkeys(items[i].context_format for i in todo):
        same = [i for i in todo if items[i].context_format == fmt]
        batches += [(fmt, same[k : k + batch_size]) for k in range(0, len(same), batch_size)]
    for fmt, idx in batches:
        assert encoder is not None  # todo is non-empty here
        batch = [items[i] for i in idx]
        if any(it.pixel_values is None for it in batch):
            bad = next(it for it in batch if it.pixel_values is None)
            raise DataError(f"item {bad.dicom_id} has neither pixel_values nor latents")
        extra = {} if fmt == "mimic" else {"context_format": fmt}  # encoders without context formats keep working
        feats = encoder.encode_images(
            torch.stack([it.pixel_values for it in batch if it.pixel_values is not None]), [it.view for it in batch],
            [it.indication for it in batch], [it.history for it in batch], **extra,
        )
        rows = feats.latents
        if memory == "vision+context":
            if feats.context_latents is None:
                raise DataError("memory='vision+context' but the encoder returns no context latents")
            rows = torch.cat([feats.latents, feats.context_latents], dim=1)
        for j, i in enumerate(idx):
            latents[i] = rows[j].float()
            pooled[i] = feats.latents[j].float().mean(0)
            logits[i] = None if feats.logits is None else feats.logits[j].float()
    stacked = torch.stack(latents)  # type: ignore[arg-type]
    has_logits = all(lg is not None for lg in logits)
    return FeatureBank(stacked, torch.stack(pooled), torch.stack(logits) if has_logits else None,  # type: ignore[arg-type]
                       memory)
