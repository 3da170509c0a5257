"""`cogaze demo --quick` end to end: every stage runs, the page is valid and self-contained."""

import json

import yaml

from cogaze.cli import main
from html_check import check_page


def _pools():
    import torch
    from threadpoolctl import threadpool_info

    return torch.get_num_threads(), sorted((p["prefix"], p["num_threads"]) for p in threadpool_info())


def test_limit_threads_sets_torch_and_native_pools():
    from threadpoolctl import threadpool_limits

    from cogaze.demo.run import limit_threads

    before = _pools()
    with threadpool_limits(limits=None):
        try:
            limit_threads(1)
            threads, pools = _pools()
            assert threads == 1 and pools and all(n == 1 for _, n in pools)
        finally:
            import torch

            torch.set_num_threads(before[0])
            for prefix, n in before[1]:
                threadpool_limits(limits={prefix: n})
    assert _pools() == before


def test_keep_caller_threads_restores_each_library_on_its_own():
    """torch's libgomp and scikit-learn's can hold different counts; each gets its own back (restoring by
    runtime name once handed torch the other copy's count: CI saw 2 threads after the demo, 1 before)."""
    import sklearn.utils._openmp_helpers  # noqa: F401  (loads scikit-learn's own libgomp)
    import torch
    from threadpoolctl import threadpool_info, threadpool_limits

    from cogaze.demo.run import keep_caller_threads, limit_threads

    start = torch.get_num_threads()
    with threadpool_limits(limits=None):
        try:
            torch.set_num_threads(1)  # torch's libgomp at 1, scikit-learn's left as it was
            before = {p["filepath"]: p["num_threads"] for p in threadpool_info()}
            with keep_caller_threads() as threads:
                assert threads == 1
                limit_threads(2)
                torch.set_num_threads(2)
            assert torch.get_num_threads() == 1
            assert {p["filepath"]: p["num_threads"] for p in threadpool_info()} == before
        finally:
            torch.set_num_threads(start)


def test_demo_quick(tmp_path):
    out = tmp_path / "demo"
    before = _pools()
    assert main(["demo", "--quick", "--out", str(out), "--strict"]) == 0
    assert _pools()[0] == before[0]  # the caller's torch threads are restored (one per process inside the demo)
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
    # sections in pipeline order whichever process built them; stage table likewise; CPU time recorded
    import re

    headings = re.findall(r"<h2>(.*?)</h2>", html)
    assert headings == ["Run", "Phantom dataset", "Vision backbone", "Pretraining", "Zero-shot classification",
                        "Image-to-report retrieval", "Linear probe", "Segmentation", "Report generation",
                        "Structured reports", "Where the radiologist looks", "Does the map follow the sentence?",
                        "Ablations"]
    anchors = re.findall(r'<section id="([^"]+)"', html)
    assert len(set(anchors)) == len(anchors) == len(headings)
    assert list(stages) == re.findall(r"<tr(?: class=\"failed\")?><td>([^<]+)</td><td><span class=\"badge", html)
    assert all(v["cpu_seconds"] is not None and v["cpu_seconds"] >= 0 for v in stages.values())
    assert timings["total_cpu_seconds"] > 0 and timings["workers"] == 2
    # no raw result keys, no negative zero, no internal spec references, one legend per report section
    text = re.sub(r"<[^>]+>", " ", re.sub(r'src="data:[^"]+"', "", html))
    for raw in ("chance_P@1", "@100%", "random_init", "dice_micro", "BLEU_4", "CE_14_micro_F1", "cls_vision"):
        assert raw not in text, raw
    assert "-0.000" not in text and not re.search(r"\bspec \d", text)
    assert html.count('class="legend"') == 1 and "mean AUROC" in html
    assert "1 seed each" in html  # ablations: single runs, no interval claimed
    assert len(re.findall(r"segmentation|true mask", html)) >= 1 and "predicted (p &gt; 0.5)" in html
