"""Similar cases: the training images of a dataset folder nearest to a query image, with their reports.

The index holds the L2-normalised global vision feature (mean of the vision latents, the encoder's
``pooled``) of every frontal image of the chosen splits of a dataset folder, encoded like every task
encodes images (:func:`cogaze.tasks.common.encode_items`, with each image's indication and history as
context). A query is ranked by cosine similarity, the similar-case retrieval the LLM reporter's prompt
uses (the report of the most similar training image). Images of the query's own patient are excluded
when the caller knows it.

An index is saved as ``<name>.safetensors`` (the embeddings) and ``<name>.json`` (ids, subjects,
reports, image paths, where it was built from) so a folder need not be re-encoded on every run.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from cogaze.errors import ConfigError, DataError
from cogaze.io import atomic_path, atomic_write_json
from cogaze.models.interface import VisionLanguageEncoder
from cogaze.tasks.common import encode_items, l2_normalise

INDEX_FORMAT = "cogaze-similar-cases-1"


@dataclass
class SimilarCaseIndex:
    """N cases: ids, patients, reports, image paths and (N, D) L2-normalised image embeddings."""

    ids: list[str]
    subjects: list[str]
    reports: list[str]
    images: list[str | None]
    embeddings: Tensor
    source: dict[str, Any] = field(default_factory=dict)
    """Where it was built from: the dataset folder, the splits, the encoder's run folder."""

    def __post_init__(self) -> None:
        n = len(self.ids)
        if self.embeddings.ndim != 2 or self.embeddings.shape[0] != n:
            raise DataError(f"similar-case index: {tuple(self.embeddings.shape)} embeddings for {n} cases")
        if not (len(self.subjects) == len(self.reports) == len(self.images) == n):
            raise DataError("similar-case index: ids, subjects, reports and images differ in length")
        self.embeddings = l2_normalise(self.embeddings)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def pooled(self) -> Tensor:
        """(N, D) embeddings (the bank the LLM reporter's similar case is drawn from)."""
        return self.embeddings

    def query(self, pooled: Tensor, k: int = 5, subjects: Sequence[str | None] | None = None) -> list[list[dict]]:
        """Per query row of ``pooled`` (Q, D), the ``k`` most cosine-similar cases, best first, as
        ``{"id", "score", "report", "image", "subject"}``; cases of the query's ``subjects`` are skipped."""
        if k < 1:
            raise ConfigError(f"top-k must be at least 1, got {k}")
        q = l2_normalise(pooled.detach().float().cpu())
        if q.shape[-1] != self.embeddings.shape[1]:
            raise ConfigError(f"similar-case index has {self.embeddings.shape[1]}-d embeddings, the encoder "
                              f"gives {q.shape[-1]}-d: the index was built with another model")
        sims = q @ self.embeddings.T
        out: list[list[dict]] = []
        for row in range(sims.shape[0]):
            s = sims[row].clone()
            own = None if subjects is None else subjects[row]
            if own is not None:
                s[torch.tensor([x == own for x in self.subjects], dtype=torch.bool)] = float("-inf")
            # a stable sort: equal scores keep index order, so ties rank the same on every run
            order = torch.sort(s, descending=True, stable=True).indices[: min(k, len(self))].tolist()
            out.append([{"id": self.ids[i], "score": round(float(s[i]), 6), "report": self.reports[i],
                         "image": self.images[i], "subject": self.subjects[i]}
                        for i in order if torch.isfinite(s[i])])
        return out

    def save(self, path: str | Path) -> list[Path]:
        """Write ``<path>.safetensors`` and ``<path>.json`` (atomically); returns both paths."""
        from safetensors.torch import save_file

        base = Path(path)
        tensors, meta = base.with_suffix(".safetensors"), base.with_suffix(".json")
        with atomic_path(tensors) as tmp:
            save_file({"embeddings": self.embeddings.contiguous()}, str(tmp))
        atomic_write_json(meta, {"format": INDEX_FORMAT, "ids": self.ids, "subjects": self.subjects,
                                 "reports": self.reports, "images": self.images, "source": self.source})
        return [tensors, meta]

    @classmethod
    def load(cls, path: str | Path) -> SimilarCaseIndex:
        """An index written by :meth:`save` (``path`` with or without suffix); never unpickles."""
        from safetensors.torch import load_file

        base = Path(path)
        tensors, meta = base.with_suffix(".safetensors"), base.with_suffix(".json")
        for f in (tensors, meta):
            if not f.is_file():
                raise DataError("similar-case index file not found", f)
        try:
            data = json.loads(meta.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise DataError(f"not JSON: {err}", meta) from None
        if not isinstance(data, dict) or data.get("format") != INDEX_FORMAT:
            raise DataError(f"not a similar-case index (format {INDEX_FORMAT} expected)", meta)
        try:
            emb = load_file(str(tensors))["embeddings"]
        except Exception as err:  # safetensors raises its own error types on a bad header
            raise DataError(f"cannot read the embeddings: {err}", tensors) from None
        return cls(list(data["ids"]), list(data["subjects"]), list(data["reports"]), list(data["images"]), emb,
                   dict(data.get("source") or {}))


def build_similar_case_index(encoder: VisionLanguageEncoder, data_dir: str | Path,
                             splits: Sequence[str] = ("train",), store: Any = None,
                             batch_size: int = 32, device: str = "cpu") -> SimilarCaseIndex:
    """The index of the frontal images of ``splits`` of a dataset folder (``cogaze data`` layout), with
    their findings (the impression when findings are empty) as reports; read from the files or a
    prepared image ``store``. DataError when the splits hold no frontal image with a report."""
    from cogaze.data.dataset import load_dataset
    from cogaze.data.pixels import ModelImages
    from cogaze.tasks.items import ImageItems
    from cogaze.tasks.phantom_sets import FRONTAL_VIEWS

    records = load_dataset(data_dir).records
    chosen = [r for s in splits for r in records.split(s) if r.view in FRONTAL_VIEWS
              and (r.image_path is not None or store is not None) and (r.findings.strip() or r.impression.strip())]
    if not chosen:
        raise DataError(f"no frontal image with a report in split(s) {', '.join(splits)}", data_dir)
    items = ImageItems.from_records(chosen, None, name=f"similar cases ({', '.join(splits)})",
                                    images=ModelImages(encoder.geometry, store))  # type: ignore[attr-defined]
    emb = encode_items(encoder, items, batch_size, device=device)
    return SimilarCaseIndex(
        ids=list(items.ids), subjects=[r.subject_id for r in chosen], reports=list(items.reports or []),
        images=[None if r.image_path is None else str(r.image_path) for r in chosen], embeddings=emb,
        source={"data_dir": str(Path(data_dir).resolve()), "splits": list(splits),
                "run_dir": str(getattr(encoder, "run_dir", "") or "")})
