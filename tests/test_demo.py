"""`cogaze demo --quick` end to end: every stage runs, the page is valid and self-contained."""

import json

import yaml

from cogaze.cli import main
from html_check import check_page


def test_demo_quick(tmp_path):
    out = tmp_path / "demo"
    assert main(["demo", "--quick", "--out", str(out), "--strict"]) == 0
    timings = json.loads((out / "timings.json").read_text())
    stages = timings["stages"]
    assert len(stages) == 12 and all(v["status"] == "ok" for v in stages.values()), stages
    results = json.loads((out / "results.json").read_text())
    assert results["pretrain"]["summary"]["epochs"] == 2
    backbone = results["backbone"]
    assert backbone["best_epoch"] == 1 and backbone["train_images"] > 0 and len(backbone["history"]) == 1
    # the pretraining run loaded the demo's own frozen backbone folder
    assert "model.safetensors" in {p.name for p in (out / "backbone").iterdir()}
    run_config = yaml.safe_load((out / "pretrain" / "config.yaml").read_text())
    assert run_config["model"]["vision"]["source"] == str(out / "backbone")
    assert run_config["model"]["train_vision"] is False and run_config["model"]["vision"]["cache_features"] is True
    assert set(results["linear_probe"]) == {"pretrained", "random_init", "frozen backbone + random CoGaze layers"}
    for system in ("CoGaze decoder", "most common report", "nearest neighbour"):
        assert 0.0 <= results["report_generation"][system]["BLEU_4"] <= 1.0
    for system in ("CoGaze decoder (structured)", "most common structured report", "nearest neighbour"):
        assert 0.0 <= results["structured_reports"][system]["BLEU"] <= 1.0
    assert {"CoGaze", "centre bias", "uniform"} <= set(results["gaze"])
    assert set(results["ablations"]) == {"CoGaze (full)", "without gaze", "without context", "single positive",
                                         "gaze as binary mask"}
    html = (out / "report.html").read_text(encoding="utf-8")
    check_page(html)
    for section in ("Phantom dataset", "Vision backbone", "Pretraining", "Zero-shot classification", "Image-to-report retrieval",
                    "Linear probe", "Segmentation", "Report generation", "Structured reports", "Where the radiologist looks",
                    "Ablations"):
        assert section in html
    assert "http://" not in html and "https://" not in html
