"""``cogaze ablate``: two variants x two seeds x one epoch on a tiny phantom through the CLI; the CSV/JSON
summaries agree with the per-seed scores; unknown variants fail before any training."""

import csv
import json
import math

import pytest
from scipy import stats

from cogaze.cli import main
from cogaze.data.phantom.generate import generate_phantom
from cogaze.tasks.ablation import VARIANTS, resolve_variants, summarise, variant_slug

# A self-contained tiny config (Dinov2 + BERT from config dicts), so the test does not depend on the
# shipped phantom-tiny.yaml's backbone.
TINY_YAML = """
model:
  vision: {source: "", model_type: dinov2, config: {hidden_size: 32, num_hidden_layers: 1,
           num_attention_heads: 2, intermediate_size: 64, image_size: 28, patch_size: 7}}
  text: {source: "", model_type: bert, config: {hidden_size: 32, num_hidden_layers: 1, num_attention_heads: 2,
         intermediate_size: 64, max_position_embeddings: 320}}
  train_vision: false
  text_layers: 1
  dim: 32
  num_latents: 4
  perceiver_depth: 1
  perceiver_heads: 2
  perceiver_dim_head: 8
  perceiver_ff_mult: 2
data: {batch_size: 8}
trainer: {max_epochs: 1, accelerator: cpu, devices: "1", seed: 100}
"""


def test_summarise_is_the_student_t_interval():
    s = summarise([0.5, 0.7, 0.9])
    half = stats.t.ppf(0.975, 2) * 0.2 / math.sqrt(3)  # sd of (0.5, 0.7, 0.9) is 0.2
    assert s["mean"] == pytest.approx(0.7) and s["n"] == 3
    assert s["ci_low"] == pytest.approx(0.7 - half) and s["ci_high"] == pytest.approx(0.7 + half)
    assert summarise([0.4]) == {"mean": 0.4, "ci_low": 0.4, "ci_high": 0.4, "n": 1}
    assert summarise([0.2, float("nan"), 0.4])["n"] == 2


def test_variant_names_and_slugs():
    assert resolve_variants(None) == list(VARIANTS)
    assert resolve_variants(["without-gaze", "CoGaze (full)", "WITHOUT GAZE"]) == ["without gaze", "CoGaze (full)"]
    assert variant_slug("gaze as binary mask") == "gaze-as-binary-mask"


def test_ablate_cli_two_variants_two_seeds(tmp_path, capsys):
    data = tmp_path / "ph"
    generate_phantom(data, n_patients=30, image_size=64, seed=0, gaze_fraction=1.0)  # test images with gaze
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(TINY_YAML)
    out = tmp_path / "abl"
    assert main(["ablate", str(data), "--out", str(out), "--config", str(cfg), "--seeds", "2", "--epochs", "1",
                 "--variant", "cogaze-full", "--variant", "without gaze", "--probe-epochs", "2"]) == 0
    printed = capsys.readouterr().out
    assert "CoGaze (full)" in printed and "without gaze" in printed and "retrieval P@1" in printed
    # runs where they should be, with the config's seed + k
    for slug in ("cogaze-full", "without-gaze"):
        for k in (0, 1):
            assert (out / slug / f"seed-{k}" / "summary.json").is_file()
            assert f"seed: {100 + k}" in (out / slug / f"seed-{k}" / "config.yaml").read_text()
    assert (out / "tokenizer").is_dir()
    result = json.loads((out / "ablations.json").read_text())
    assert result["seeds"] == [100, 101] and result["epochs"] == 1
    assert set(result["runs"]) == {"CoGaze (full)", "without gaze"}
    with (out / "ablations.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    metrics = {"retrieval P@1", "zero-shot AUROC", "linear-probe AUROC"}
    assert metrics <= {r["metric"] for r in rows}
    # the phantom's sentence boxes add the grounding scores
    assert {"pointing game", "text specificity", "sentence-map CC"} <= {r["metric"] for r in rows}
    for runs in result["runs"].values():
        assert all(r["pointing game"] is None or 0.0 <= r["pointing game"] <= 1.0 for r in runs)
    # one gaze cache for every run
    assert (out / "caches" / "gaze.safetensors").is_file()
    assert not list(out.glob("*/seed-*/gaze.safetensors"))
    assert len(rows) == sum(len(v) for v in result["summary"].values())
    for row in rows:
        per_seed = [r[row["metric"]] for r in result["runs"][row["variant"]]]
        assert len(per_seed) == 2
        if None in per_seed:  # a NaN score (this tiny phantom's test split lacks positives) is not counted
            assert int(row["n"]) == 2 - per_seed.count(None)
            continue
        mean, low, high = float(row["mean"]), float(row["ci_low"]), float(row["ci_high"])
        assert int(row["n"]) == 2
        assert mean == pytest.approx(sum(per_seed) / 2, abs=1e-9)
        assert min(per_seed) - 1e-9 <= mean <= max(per_seed) + 1e-9
        assert low <= mean <= high
        half = stats.t.ppf(0.975, 1) * abs(per_seed[0] - per_seed[1]) / 2  # sd/sqrt(2) = |a-b|/2
        assert high - mean == pytest.approx(half, abs=1e-9)
        assert result["summary"][row["variant"]][row["metric"]]["mean"] == pytest.approx(mean)
    for variant, runs in result["runs"].items():
        assert all(0.0 <= r[m] <= 1.0 for r in runs for m in metrics if r[m] is not None)
        nss = [r["gaze NSS"] for r in runs]  # seeds differ here, so the interval check above is not trivial
        assert None not in nss and nss[0] != nss[1]
        assert result["summary"][variant]["gaze NSS"]["ci_low"] < result["summary"][variant]["gaze NSS"]["ci_high"]


def test_ablate_unknown_variant_is_a_usage_error(tmp_path, capsys):
    code = main(["ablate", str(tmp_path), "--out", str(tmp_path / "o"), "--variant", "without-attention"])
    err = capsys.readouterr().err
    assert code == 2
    assert "unknown ablation variant 'without-attention'" in err and "without-gaze" in err
    assert "gaze-as-binary-mask" in err
    assert not (tmp_path / "o").exists()
