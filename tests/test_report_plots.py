"""Report plots: loss curves from metrics.jsonl, ROC curves, ablation means with 95 % CIs."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from cogaze.errors import DataError
from cogaze.html.images import PNG_SIGNATURE, figure_png
from cogaze.html.plots import (
    ablation_bars,
    ablation_rows,
    loss_curves,
    loss_terms,
    mean_ci,
    read_metrics_jsonl,
    roc_curves,
)


def _write_metrics(path):
    lines = []
    for step in range(1, 11):  # 10 train steps, 2 epochs of 5
        lines.append({"step": step, "epoch": (step - 1) // 5, "batch": (step - 1) % 5, "split": "train",
                      "contrastive": 3.0 / step, "gaze": 1.0 / step, "loss": 4.0 / step, "lr": 1e-4})
    for epoch, step in ((0, 5), (1, 10)):  # val at epoch ends: no gaze term logged
        lines.append({"step": step, "epoch": epoch, "split": "val", "contrastive": 2.0 - epoch,
                      "loss": 2.5 - epoch, "retrieval_top1": 0.2})
    path.write_text("\n".join(json.dumps(r) for r in lines) + "\n\n", encoding="utf-8")
    return path


def _lines_by_title(fig):
    return {ax.get_title(): {ln.get_label(): ln for ln in ax.get_lines()} for ax in fig.axes if ax.get_visible()}


def test_loss_curves_points_per_term_and_split(tmp_path):
    path = _write_metrics(tmp_path / "metrics.jsonl")
    records = read_metrics_jsonl(path)
    assert len(records) == 12
    assert loss_terms(records) == ["contrastive", "gaze", "loss"]  # not step/epoch/batch/lr/val-only keys
    fig = loss_curves(path)
    lines = _lines_by_title(fig)
    assert set(lines) == {"contrastive", "gaze guidance", "total loss"}  # readable titles, not raw keys
    lines = {"contrastive": lines["contrastive"], "gaze": lines["gaze guidance"], "loss": lines["total loss"]}
    train = lines["contrastive"]["train"]
    assert list(train.get_xdata()) == list(range(1, 11))
    np.testing.assert_allclose(train.get_ydata(), [3.0 / s for s in range(1, 11)])
    val = lines["loss"]["val"]
    assert list(val.get_xdata()) == [5, 10] and list(val.get_ydata()) == [2.5, 1.5]
    assert set(lines["gaze"]) == {"train"}  # no val gaze records: no val line
    assert len(lines["gaze"]["train"].get_xdata()) == 10
    png = figure_png(fig)
    assert png.startswith(PNG_SIGNATURE) and len(png) > 2000


def test_loss_curves_by_epoch_and_chosen_terms(tmp_path):
    path = _write_metrics(tmp_path / "m.jsonl")
    fig = loss_curves(path, x="epoch", terms=["loss"])
    lines = _lines_by_title(fig)
    assert list(lines) == ["total loss"]
    assert list(lines["total loss"]["train"].get_xdata()) == [0] * 5 + [1] * 5
    with pytest.raises(ValueError, match="no numeric 'step'"):
        loss_curves([{"split": "train", "loss": 1.0}])
    with pytest.raises(ValueError, match="no metrics records"):
        loss_curves([])


def test_read_metrics_jsonl_errors_name_file_and_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"step": 1, "split": "train", "loss": 1}\n{"step": 2, "split": \n', encoding="utf-8")
    with pytest.raises(DataError, match=r"bad\.jsonl, line 2: malformed JSON"):
        read_metrics_jsonl(bad)
    bad.write_text('[1, 2]\n', encoding="utf-8")
    with pytest.raises(DataError, match="line 1: expected a JSON object"):
        read_metrics_jsonl(bad)
    bad.write_text('{"step": 1, "loss": 1}\n', encoding="utf-8")
    with pytest.raises(DataError, match="line 1: record has no 'split'"):
        read_metrics_jsonl(bad)
    with pytest.raises(DataError, match="cannot read"):
        read_metrics_jsonl(tmp_path / "missing.jsonl")


def test_roc_curves_match_sklearn_auc():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, size=(60, 3))
    y[:, 2] = 0  # no positives: no curve, named in the figure
    score = y + rng.normal(0, 0.8, size=y.shape)
    fig = roc_curves(y, score, ["Edema", "Cardiomegaly", "Fracture"])
    ax = fig.axes[0]
    labels = [ln.get_label() for ln in ax.get_lines()]
    assert labels[0] == "chance" and len(labels) == 3
    for c, name in enumerate(["Edema", "Cardiomegaly"]):
        assert labels[c + 1] == f"{name} (AUC {roc_auc_score(y[:, c], score[:, c]):.3f})"
    curve = ax.get_lines()[1]
    assert curve.get_xdata()[0] == 0 and curve.get_xdata()[-1] == 1 and curve.get_ydata()[-1] == 1
    assert any("Fracture" in t.get_text() for t in ax.texts)
    assert figure_png(fig).startswith(PNG_SIGNATURE)
    with pytest.raises(ValueError, match="same"):
        roc_curves(y, score[:, :2])
    with pytest.raises(ValueError, match="binary"):
        roc_curves(y * 2, score)


def test_mean_ci_hand_computed():
    mean, half = mean_ci([1.0, 2.0, 3.0])
    # sd = 1, sem = 1/sqrt(3), t_{0.975, 2} = 4.302653
    assert mean == 2.0
    assert half == pytest.approx(4.302653 / np.sqrt(3), rel=1e-6)
    m1, h1 = mean_ci([0.7])
    assert m1 == 0.7 and np.isnan(h1)
    with pytest.raises(ValueError):
        mean_ci([])


def test_ablation_rows_and_bars():
    results = {
        "CoGaze": {"sAUC": [0.70, 0.72, 0.74], "P@1": [0.5, 0.6, 0.7]},
        "w/o gaze": {"sAUC": [0.60, 0.61, 0.62]},
        "single run": {"sAUC": [0.55], "P@1": [0.4]},
    }
    rows, cols = ablation_rows(results)
    assert cols == ["variant", "sAUC", "P@1", "seeds"]
    half = 4.302653 * 0.02 / np.sqrt(3)
    assert rows[0]["sAUC"] == f"0.720 [{0.72 - half:.3f}, {0.72 + half:.3f}]" and rows[0]["seeds"] == "3"
    assert rows[1]["P@1"] == "\u2014"
    assert rows[2]["sAUC"] == "0.550" and rows[2]["seeds"] == "1"  # one run: no interval
    assert ablation_rows({"v": {"gaze IG": [-0.00001]}})[0][0]["gaze IG"] == "0.000"  # never "-0.000"
    fig = ablation_bars(results)
    ax = [a for a in fig.axes if a.get_title() == "sAUC"][0]
    heights = [p.get_height() for p in ax.patches]
    np.testing.assert_allclose(heights, [0.72, 0.61, 0.55])
    segments = ax.collections[0].get_segments()  # the vertical error bars: only the multi-seed variants
    assert len(segments) == 2
    np.testing.assert_allclose(segments[0][:, 1], [0.72 - half, 0.72 + half], atol=1e-9)
    np.testing.assert_allclose(segments[0][:, 0], [0, 0])
    assert [t.get_text() for t in ax.get_xticklabels()] == list(results)
    assert figure_png(fig).startswith(PNG_SIGNATURE)
