"""Plots for run reports: loss curves from metrics.jsonl, per-class ROC curves, ablation bars (95 % CIs over seeds).

Each plot returns a matplotlib :class:`~matplotlib.figure.Figure` on the Agg canvas (inspect its
lines, or embed it with :meth:`cogaze.html.page.ReportPage.add_figure`; PNG bytes via
:func:`cogaze.html.images.figure_png`).
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from sklearn.metrics import auc, roc_curve

from cogaze.errors import DataError
from cogaze.html.images import new_figure
from cogaze.metrics.stats import format_mean_ci, mean_ci

NON_LOSS_KEYS = frozenset({"step", "epoch", "batch", "split", "lr", "time", "seconds"})
"""Numeric keys of a metrics record that are never plotted as loss terms."""


def read_metrics_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Records of a metrics.jsonl file (one JSON object per line; blank lines ignored).

    Raises DataError naming the file and line for unreadable files, malformed JSON, non-objects,
    or a record without a ``split``.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"cannot read metrics file: {err}", path) from None
    records = []
    for i, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(f"malformed JSON: {err.msg}", path, i) from None
        if not isinstance(rec, dict):
            raise DataError(f"expected a JSON object, got {type(rec).__name__}", path, i)
        if not isinstance(rec.get("split"), str):
            raise DataError("record has no 'split' string", path, i)
        records.append(rec)
    return records


LOSS_TITLES = {"contrastive": "contrastive", "cls_vision": "classification (image)",
               "cls_report": "classification (report)", "gaze": "gaze guidance", "loss": "total loss"}
"""Panel titles of the pretraining loss terms (other terms are titled by their key)."""


def _is_number(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def loss_terms(records: Sequence[Mapping[str, Any]]) -> list[str]:
    """The loss terms to plot: numeric keys of the train records (all records when there is no train
    split), minus :data:`NON_LOSS_KEYS`, in first-seen order."""
    train = [r for r in records if r.get("split") == "train"] or list(records)
    terms: list[str] = []
    for rec in train:
        terms.extend(k for k, v in rec.items() if k not in NON_LOSS_KEYS and _is_number(v) and k not in terms)
    return terms


def loss_curves(metrics: str | Path | Sequence[Mapping[str, Any]], x: str = "step",
                terms: Sequence[str] | None = None, ncols: int = 3) -> Figure:
    """One panel per loss term, one line per split (train as a line, other splits with markers).

    ``metrics`` is a metrics.jsonl path or its records. A record lacking ``x`` raises ValueError;
    a record lacking a term is left out of that term's line.
    """
    records = read_metrics_jsonl(metrics) if isinstance(metrics, (str, Path)) else list(metrics)
    if not records:
        raise ValueError("no metrics records to plot")
    for i, rec in enumerate(records):
        if not _is_number(rec.get(x)):
            raise ValueError(f"metrics record {i} has no numeric {x!r}: {dict(rec)}")
    terms = list(terms) if terms is not None else loss_terms(records)
    if not terms:
        raise ValueError("metrics records hold no numeric loss term")
    splits = list(dict.fromkeys(str(r.get("split")) for r in records))
    ncols = max(1, min(ncols, len(terms)))
    nrows = math.ceil(len(terms) / ncols)
    fig = new_figure(width=3.6 * ncols + 0.4, height=2.7 * nrows + 0.3)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for k, term in enumerate(terms):
        ax = axes[k // ncols][k % ncols]
        for split in splits:
            pts = [(float(r[x]), float(r[term])) for r in records if r.get("split") == split and _is_number(r.get(term))]
            if not pts:
                continue
            xs, ys = zip(*pts)
            style = {"linewidth": 1.4} if split == "train" else {"marker": "o", "markersize": 4, "linewidth": 1.6}
            ax.plot(xs, ys, label=split, **style)
        ax.set_title(LOSS_TITLES.get(term, term), fontsize=10)
        ax.set_xlabel(x, fontsize=9)
        ax.tick_params(labelsize=8)
        ax.grid(True, alpha=0.3)
        if ax.get_lines():
            ax.legend(fontsize=8, frameon=False)
    for k in range(len(terms), nrows * ncols):
        axes[k // ncols][k % ncols].set_visible(False)
    return fig


def roc_curves(y_true: Any, y_score: Any, class_names: Sequence[str] | None = None,
               title: str = "ROC curves") -> Figure:
    """ROC curve per class (scikit-learn ``roc_curve``) with its AUC in the legend.

    ``y_true`` (N, C) binary and ``y_score`` (N, C); 1-D inputs are one class. Classes whose truth
    has a single value have no ROC curve: they are named in the figure instead of dropped silently.
    """
    yt = np.asarray(y_true, dtype=float)
    ys = np.asarray(y_score, dtype=float)
    if yt.ndim == 1:
        yt, ys = yt[:, None], ys.reshape(-1, 1) if ys.ndim == 1 else ys
    if yt.shape != ys.shape or yt.ndim != 2:
        raise ValueError(f"y_true {yt.shape} and y_score {ys.shape} must have the same (N, C) shape")
    if not np.all(np.isin(yt, (0.0, 1.0))):
        raise ValueError("y_true must be binary (0/1)")
    if not np.all(np.isfinite(ys)):
        raise ValueError("y_score contains NaN or infinite values")
    names = list(class_names) if class_names is not None else [f"class {c}" for c in range(yt.shape[1])]
    if len(names) != yt.shape[1]:
        raise ValueError(f"{len(names)} class names for {yt.shape[1]} classes")
    fig = new_figure(width=7.2, height=4.4)
    ax = fig.add_subplot(1, 1, 1)
    ax.plot([0, 1], [0, 1], linestyle="--", color="0.6", linewidth=1, label="chance")
    skipped = []
    for c, name in enumerate(names):
        if len(np.unique(yt[:, c])) < 2:
            skipped.append(name)
            continue
        fpr, tpr, _ = roc_curve(yt[:, c], ys[:, c])
        ax.plot(fpr, tpr, linewidth=1.5, label=f"{name} (AUC {auc(fpr, tpr):.3f})")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_aspect("equal")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(title, fontsize=11)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, frameon=False, loc="center left", bbox_to_anchor=(1.02, 0.5))
    if skipped:
        ax.text(0.98, 0.02, "no curve (one label value): " + ", ".join(skipped), transform=ax.transAxes,
                ha="right", va="bottom", fontsize=7, color="0.35", wrap=True)
    return fig


Ablations = Mapping[str, Mapping[str, Sequence[float]]]
"""{variant: {metric: per-seed values}}."""


def _metrics_of(results: Ablations) -> list[str]:
    out: list[str] = []
    for per_metric in results.values():
        out.extend(m for m in per_metric if m not in out)
    return out


def ablation_rows(results: Ablations, metrics: Sequence[str] | None = None,
                  digits: int = 3) -> tuple[list[dict[str, str]], list[str]]:
    """(rows, columns) for :meth:`ReportPage.add_table`: one row per variant, each cell
    ``mean [95 % CI]`` over seeds where there are two or more, the bare mean for a single run, and a
    ``seeds`` column (the most runs of the variant's metrics)."""
    metrics = list(metrics) if metrics is not None else _metrics_of(results)
    rows = []
    for variant, per_metric in results.items():
        row = {"variant": variant}
        seeds = 0
        for m in metrics:
            vals = per_metric.get(m)
            if vals is None or len(vals) == 0:
                row[m] = "\u2014"
                continue
            seeds = max(seeds, len(vals))
            mean, half = mean_ci(vals)
            row[m] = format_mean_ci(mean, mean - half, mean + half, digits)  # NaN half (1 run): the mean
        row["seeds"] = str(seeds)
        rows.append(row)
    return rows, ["variant", *metrics, "seeds"]


def ablation_bars(results: Ablations, metrics: Sequence[str] | None = None, ncols: int = 2) -> Figure:
    """One panel per metric: a bar per variant at its mean, error bars = 95 % CI over seeds where a
    variant has two or more runs (none drawn for a single run)."""
    metrics = list(metrics) if metrics is not None else _metrics_of(results)
    if not results or not metrics:
        raise ValueError("no ablation results to plot")
    variants = list(results)
    ncols = max(1, min(ncols, len(metrics)))
    nrows = math.ceil(len(metrics) / ncols)
    fig = new_figure(width=3.4 * ncols + 0.4, height=2.9 * nrows + 0.4)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    colours = [f"C{i % 10}" for i in range(len(variants))]
    for k, m in enumerate(metrics):
        ax = axes[k // ncols][k % ncols]
        means, halves = [], []
        for v in variants:
            vals = results[v].get(m)
            mean, half = mean_ci(vals) if vals else (float("nan"), float("nan"))
            means.append(mean)
            halves.append(half)
        pos = np.arange(len(variants))
        ax.bar(pos, means, color=colours, alpha=0.85)
        with_ci = [i for i, h in enumerate(halves) if math.isfinite(h)]
        if with_ci:
            ax.errorbar(pos[with_ci], [means[i] for i in with_ci], yerr=[halves[i] for i in with_ci],
                        fmt="none", ecolor="black", capsize=4, elinewidth=1)
        ax.set_xticks(pos, variants, rotation=20, ha="right", fontsize=8)
        ax.set_title(m, fontsize=10)
        ax.tick_params(axis="y", labelsize=8)
        ax.grid(True, axis="y", alpha=0.3)
    for k in range(len(metrics), nrows * ncols):
        axes[k // ncols][k % ncols].set_visible(False)
    return fig
