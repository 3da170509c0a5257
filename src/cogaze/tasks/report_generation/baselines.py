"""Baselines and similar-case retrieval: most common training report, nearest neighbour (spec 1.8)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import torch
from torch import Tensor
from torch.nn import functional as F


def most_common_report(train_targets: Sequence[str]) -> str:
    """The most frequent training report (ties: the first seen)."""
    counts = Counter(t.strip() for t in train_targets if t.strip())
    return counts.most_common(1)[0][0] if counts else ""


def nearest_training_index(query: Tensor, query_subjects: Sequence[str], bank: Tensor,
                           bank_subjects: Sequence[str]) -> list[int | None]:
    """Per query, the index of the most cosine-similar bank row of a *different* patient (None if none).

    ``query`` (Q, D) and ``bank`` (N, D) are pooled vision latents (mean of the latents, spec 1.8).
    """
    if bank.shape[0] == 0:  # no training bank (e.g. generation for arbitrary images): no similar case
        return [None] * int(query.shape[0])
    sims = F.normalize(query.float(), dim=-1) @ F.normalize(bank.float(), dim=-1).T
    subjects = list(bank_subjects)
    for q, subject in enumerate(query_subjects):
        same = torch.tensor([s == subject for s in subjects], dtype=torch.bool)
        sims[q, same] = float("-inf")
    best = sims.argmax(dim=1).tolist()
    return [None if torch.isinf(sims[q, b]) else b for q, b in enumerate(best)]


def nearest_neighbour_reports(query: Tensor, query_subjects: Sequence[str], bank: Tensor,
                              bank_subjects: Sequence[str], bank_targets: Sequence[str]) -> list[str]:
    """Report of the most similar training image of another patient ('' if there is none)."""
    idx = nearest_training_index(query, query_subjects, bank, bank_subjects)
    return ["" if i is None else bank_targets[i] for i in idx]


def predicted_diseases(logits: Tensor | None, threshold: float, names: Sequence[str]) -> list[list[str]]:
    """Per row, names with sigmoid(logit) >= threshold in class order (empty lists without logits)."""
    if logits is None:
        return []
    probs = torch.sigmoid(logits.float())
    return [[names[j] for j in range(probs.shape[1]) if probs[i, j] >= threshold] for i in range(probs.shape[0])]
