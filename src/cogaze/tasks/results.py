"""Typed task results: metrics (with mean ± std over seeds), an atomic results JSON and a text table."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cogaze.io import atomic_write_text


@dataclass
class MeanStd:
    """Mean and sample standard deviation (ddof = 1; 0 for a single value) of a metric over runs."""

    mean: float
    std: float
    values: list[float]

    def __str__(self) -> str:
        return f"{100 * self.mean:.2f} ± {100 * self.std:.2f}"


def mean_std(values: list[float]) -> MeanStd:
    """:class:`MeanStd` of ``values`` (NaNs kept, so a failed run is visible rather than dropped)."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0:
        return MeanStd(float("nan"), float("nan"), [])
    std = float(arr.std(ddof=1)) if arr.size > 1 else 0.0
    return MeanStd(float(arr.mean()), std, [float(v) for v in arr])


def _plain(obj: Any) -> Any:
    """JSON-ready copy: numpy scalars/arrays to Python, NaN/inf to None, paths to str."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _plain(getattr(obj, f.name)) for f in dataclasses.fields(obj) if f.metadata.get("json", True)}
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _plain(obj.tolist())
    if isinstance(obj, np.generic):
        return _plain(obj.item())
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def write_json_atomic(data: Any, path: str | Path) -> Path:
    """Write ``data`` as indented JSON via a temp file and ``os.replace`` (never a half-written file)."""
    return atomic_write_text(path, json.dumps(_plain(data), indent=2, allow_nan=False) + "\n")


def _fmt(value: Any) -> str:
    if isinstance(value, MeanStd):
        return str(value)
    if isinstance(value, float):
        return "nan" if not math.isfinite(value) else f"{100 * value:.2f}"
    return str(value)


def format_table(header: list[str], rows: list[list[Any]]) -> str:
    """A plain aligned text table; floats in [0, 1] are shown as percentages."""
    cells = [header] + [[_fmt(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


@dataclass
class TaskResult:
    """What every task returns: headline metrics plus the config that produced them."""

    task: str
    dataset: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of every field."""
        return _plain(self)

    def write_json(self, path: str | Path) -> Path:
        """Write the result JSON atomically; returns the path."""
        return write_json_atomic(self.to_dict(), path)

    def table(self) -> str:
        """Metrics as a text table (percent)."""
        return format_table(["metric", "value (%)"], [[k, v] for k, v in self.metrics.items()])


@dataclass
class ZeroShotResult(TaskResult):
    """Zero-shot classification: AUROC and F1 per finding (one-vs-normal) and their means."""

    class_names: list[str] = field(default_factory=list)
    per_class: dict[str, dict[str, float]] = field(default_factory=dict)
    n_images: int = 0
    ids: list[str] = field(default_factory=list)
    """Image ids, in the order of ``labels`` and ``scores``."""
    labels: dict[str, list[int]] = field(default_factory=dict)
    """Per class: the true binary label of every image (for ROC curves)."""
    scores: dict[str, list[float]] = field(default_factory=dict)
    """Per class: the zero-shot probability of every image (for ROC curves)."""

    def table(self) -> str:
        keys = sorted({k for v in self.per_class.values() for k in v})
        rows = [[name, *[self.per_class[name].get(k, float("nan")) for k in keys]] for name in self.per_class]
        rows.append(["mean", *[self.metrics.get(k, float("nan")) for k in keys]])
        return format_table(["class", *keys], rows)


@dataclass
class RetrievalResult(TaskResult):
    """Image -> report retrieval: P@K and R@K; ``sample`` holds the (id, label) pairs used."""

    sample: list[dict[str, str]] = field(default_factory=list)
    seed: int | None = None


@dataclass
class SeededResult(TaskResult):
    """A task trained at several label fractions and seeds: per-run metrics and mean ± std."""

    runs: list[dict[str, Any]] = field(default_factory=list)
    """One entry per (fraction, seed): ``{"fraction", "seed", "val": {...}, "test": {...}, ...}``."""
    summary: dict[str, dict[str, MeanStd]] = field(default_factory=dict)
    """``{"<fraction>%": {metric: MeanStd over seeds}}`` on the test split."""

    def table(self) -> str:
        keys = sorted({k for v in self.summary.values() for k in v})
        rows = [[frac, *[self.summary[frac].get(k, "-") for k in keys]] for frac in self.summary]
        return format_table(["fraction", *keys], rows)


@dataclass
class ClassificationResult(SeededResult):
    """Supervised classification (linear probe or full fine-tuning)."""

    mode: str = "linear_probe"


@dataclass
class SegmentationResult(SeededResult):
    """Segmentation: micro Dice and per-image Dice (with the empty-mask policy stated); ``examples``
    (not written to JSON): test predictions of the last run, when asked for."""

    empty_policy: str = "score"
    examples: list[SegmentationExample] = field(default_factory=list, metadata={"json": False})


@dataclass
class SegmentationExample:
    """One test image's predicted mask probability and true mask, both (S, S) at the model's input size."""

    id: str
    probability: np.ndarray
    mask: np.ndarray
