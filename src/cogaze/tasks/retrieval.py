"""Image -> report retrieval on a class-balanced sample (MIMIC-5x200, spec 5.7).

The sample: test images positive for exactly one of the chosen classes (that class is the label),
``per_class`` of each drawn with a seeded generator from the eligible ids sorted by id (so the
draw does not depend on input order). Queries are the sampled images (pooled vision latents),
the gallery their reports (``encode_texts(kind="report")``), ranked by cosine. A report is relevant
when its label equals the query's. P@K = mean fraction of relevant reports in the top K;
R@K = fraction of queries with at least one relevant report in the top K (hit rate).
The sampled (id, label) pairs are stored in the result (and :func:`write_sample`) so a run can be
repeated exactly with ``RetrievalConfig.sample_file``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from cogaze.config import config_to_dict, help_field
from cogaze.errors import ConfigError, DataError
from cogaze.models.interface import VisionLanguageEncoder
from cogaze.tasks import _metrics as M
from cogaze.tasks.common import batches, check_encoder, encode_items, l2_normalise
from cogaze.tasks.items import ImageItems, check_label_matrix
from cogaze.tasks.results import RetrievalResult, write_json_atomic

RETRIEVAL_CLASSES: tuple[str, ...] = ("Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Pleural Effusion")
"""The five MIMIC-5x200 classes (spec 5.7)."""


@dataclass
class RetrievalConfig:
    """Image -> report retrieval settings."""

    classes: list[str] = help_field(help="label columns to sample from (one label per item)",
                                    default_factory=lambda: list(RETRIEVAL_CLASSES))
    per_class: int = help_field(200, help="items sampled per class (5x200: 200)")
    seed: int = help_field(0, help="seed of the per-class draw")
    ks: list[int] = help_field(help="cut-offs K for P@K and R@K", default_factory=lambda: [1, 5, 10])
    sample_file: str | None = help_field(None, help="reuse a sample written by an earlier run (JSON)")
    batch_size: int = help_field(32, help="images / reports per encoder call")
    device: str = help_field("cpu", help="torch device for the encoder")


def single_label_sample(ids: Sequence[str], labels: np.ndarray, class_names: Sequence[str],
                        per_class: int, seed: int) -> list[dict[str, str]]:
    """``per_class`` (id, label) pairs per class among items positive for exactly one class.

    Raises DataError when a class has fewer eligible items than ``per_class``.
    """
    y = check_label_matrix(labels, class_names, "retrieval labels")
    if len(ids) != len(y):
        raise DataError(f"{len(ids)} ids for {len(y)} label rows")
    if len(set(ids)) != len(ids):
        raise DataError("retrieval ids must be unique")
    single = y.sum(axis=1) == 1
    rng = np.random.default_rng(seed)
    out: list[dict[str, str]] = []
    for col, name in enumerate(class_names):
        eligible = sorted(ids[int(i)] for i in np.flatnonzero(single & (y[:, col] == 1)))
        if len(eligible) < per_class:
            raise DataError(f"class {name!r} has {len(eligible)} single-label items, fewer than {per_class}")
        picked = sorted(rng.choice(len(eligible), size=per_class, replace=False).tolist())
        out.extend({"id": eligible[i], "label": name} for i in picked)
    return out


def write_sample(sample: list[dict[str, str]], path: str | Path, seed: int | None = None) -> Path:
    """Write the sampled (id, label) pairs as JSON (atomically)."""
    return write_json_atomic({"seed": seed, "sample": sample}, path)


def read_sample(path: str | Path) -> list[dict[str, str]]:
    """The (id, label) pairs of a sample file written by :func:`write_sample`."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"sample file not found: {path}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        sample = data["sample"]
        return [{"id": str(s["id"]), "label": str(s["label"])} for s in sample]
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise DataError(f"not a retrieval sample file ({err})", path) from None


def select_columns(items: ImageItems, classes: Sequence[str]) -> np.ndarray:
    """The label columns ``classes`` of ``items`` (ConfigError naming a missing one)."""
    missing = [c for c in classes if c not in items.class_names]
    if missing:
        raise ConfigError(f"classes {missing} are not label columns of {items.name or 'the items'}: "
                          f"{list(items.class_names)}")
    return items.labels[:, [items.class_names.index(c) for c in classes]]


@torch.no_grad()
def run_retrieval(encoder: VisionLanguageEncoder, items: ImageItems,
                  config: RetrievalConfig | None = None) -> RetrievalResult:
    """Sample (or reuse a sample), embed images and reports, and score P@K / R@K."""
    config = config or RetrievalConfig()
    encoder = check_encoder(encoder, config.device)
    if items.reports is None:
        raise DataError(f"{items.name or 'items'}: retrieval needs a report per image")
    if config.sample_file:
        sample = read_sample(config.sample_file)
    else:
        labels = select_columns(items, config.classes)
        sample = single_label_sample(items.ids, labels, config.classes, config.per_class, config.seed)
    position = {id_: i for i, id_ in enumerate(items.ids)}
    unknown = [s["id"] for s in sample if s["id"] not in position]
    if unknown:
        raise DataError(f"sample names {len(unknown)} ids absent from the items, e.g. {unknown[:3]}")
    chosen = items.subset([position[s["id"]] for s in sample])
    images = l2_normalise(encode_items(encoder, chosen, config.batch_size, device=config.device))
    reports = chosen.reports or []
    texts = torch.cat([encoder.encode_texts([reports[i] for i in idx], kind="report").detach().float().cpu()
                       for idx in batches(len(reports), config.batch_size)])
    similarity = (images @ l2_normalise(texts).T).numpy()
    query = np.array([s["label"] for s in sample])
    metrics = M.retrieval_at_k(similarity, query, query, tuple(config.ks))
    n_classes = len(set(query.tolist()))
    metrics["chance_P@1"] = float(np.mean([np.mean(query == q) for q in query])) if len(query) else float("nan")
    return RetrievalResult(
        task="retrieval",
        dataset=items.name,
        metrics=metrics,
        config=config_to_dict(config) | {"n_queries": len(sample), "n_classes": n_classes},
        sample=sample,
        seed=None if config.sample_file else config.seed,
    )
