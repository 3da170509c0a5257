"""`cogaze demo --quick` end to end: every stage runs, the page is valid and self-contained."""

import json

from tests.html_check import check_page

from cogaze.cli import main


def test_demo_quick(tmp_path):
    out = tmp_path / "demo"
    assert main(["demo", "--quick", "--out", str(out), "--strict"]) == 0
    timings = json.loads((out / "timings.json").read_text())
    stages = timings["stages"]
    assert len(stages) == 11 and all(v["status"] == "ok" for v in stages.values()), stages
    results = json.loads((out / "results.json").read_text())
    assert results["pretrain"]["summary"]["epochs"] == 2
    for system in ("CoGaze decoder", "most common report", "nearest neighbour"):
        assert 0.0 <= results["report_generation"][system]["BLEU_4"] <= 1.0
    assert {"CoGaze", "centre bias", "uniform"} <= set(results["gaze"])
    assert set(results["ablations"]) == {"CoGaze (full)", "without gaze", "without context", "single positive",
                                         "gaze as binary mask"}
    html = (out / "report.html").read_text(encoding="utf-8")
    check_page(html)
    for section in ("Phantom dataset", "Pretraining", "Zero-shot classification", "Image-to-report retrieval",
                    "Linear probe", "Segmentation", "Report generation", "Where the radiologist looks",
                    "Ablations"):
        assert section in html
    assert "http://" not in html and "https://" not in html
