"""``cogaze evaluate reports`` / ``compare`` end to end on a slice of the SRRG CSV."""

from __future__ import annotations

import csv
import json

import pytest

from cogaze.cli import main


@pytest.fixture()
def small_csvs(shared_data, tmp_path):
    with open(shared_data / "srrg_cogaze_distilgpt2_generated.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))[:40]
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    for path, better in ((a, False), (b, True)):
        with open(path, "w", encoding="utf-8", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=["dicom_id", "reference_report", "generated_report"])
            w.writeheader()
            for r in reversed(rows) if better else rows:  # different row order: compare aligns by id
                r = dict(r)
                if better:
                    r["generated_report"] = r["reference_report"]
                w.writerow(r)
    return a, b


def test_reports_writes_json_with_every_key(small_csvs, tmp_path, capsys, monkeypatch):
    # METEOR itself is covered in test_metrics_nlg / the compare test; here Java is hidden to keep this
    # test fast, which also exercises --skip-missing.
    from cogaze.metrics import meteor

    monkeypatch.setattr(meteor.shutil, "which", lambda name: None)
    out = tmp_path / "out.json"
    assert main(["evaluate", "reports", str(small_csvs[0]), "--json", str(out), "--bootstrap", "50"]) == 1
    assert "apt-get install" in capsys.readouterr().err
    assert main(["evaluate", "reports", str(small_csvs[0]), "--json", str(out), "--bootstrap", "50",
                 "--skip-missing"]) == 0
    data = json.loads(out.read_text())
    for key in ("BLEU_1", "BLEU_2", "BLEU_3", "BLEU_4", "ROUGE_L", "CIDEr", "CE_14_micro_F1",
                "CE_14_macro_F1", "CE_5_micro_F1", "CE_5_macro_F1", "CIDEr_CI", "CE_5_micro_F1_CI"):
        assert key in data, key
    assert "METEOR" in data["unavailable"]
    assert data["protocol"] == "reference" and data["labeler"] == "rule" and data["n_pairs"] == 40
    lo, hi = data["BLEU_4_CI"]
    assert lo <= data["BLEU_4"] <= hi
    assert "METEOR" in capsys.readouterr().out


@pytest.mark.slow
def test_compare_better_system(small_csvs, tmp_path, capsys):
    a, b = small_csvs
    out = tmp_path / "cmp.json"
    assert main(["evaluate", "compare", str(a), str(b), "--permutations", "200", "--json", str(out)]) == 0
    tests = {t["name"]: t for t in json.loads(out.read_text())["tests"]}
    assert tests["BLEU_4"]["b"] == pytest.approx(1.0, abs=1e-6) and tests["BLEU_4"]["p_value"] < 0.05
    assert tests["METEOR"]["delta"] > 0 and tests["METEOR"]["p_value"] < 0.05
    assert "p" in capsys.readouterr().out


def test_bad_csv_is_a_clean_error(tmp_path, capsys):
    p = tmp_path / "bad.csv"
    p.write_text("dicom_id,reference_report\nx,y\n")
    assert main(["evaluate", "reports", str(p)]) == 1
    assert "bad.csv, line 1: missing column(s) 'generated_report'" in capsys.readouterr().err


def test_shared_meteor_process_gives_the_same_scores(small_csvs):
    """One JVM reused over several evaluations (the demo's three systems) scores like a fresh one each."""
    from cogaze.metrics.meteor import java_available
    from cogaze.metrics.report_eval import evaluate_pairs, start_meteor
    from cogaze.metrics.reports_csv import read_reports_csv

    if not java_available():
        pytest.skip("METEOR needs Java")
    pairs = [read_reports_csv(p) for p in small_csvs]
    fresh = [evaluate_pairs(p, n_boot=20, seed=3) for p in pairs]
    meteor = start_meteor()
    try:
        shared = [evaluate_pairs(p, n_boot=20, seed=3, meteor=meteor) for p in pairs]
        assert meteor._proc.poll() is None  # left running for the caller
    finally:
        meteor.close()
    assert 0 < fresh[0]["METEOR"] < 1
    # system B copies every reference: METEOR 1 exactly, as pycocoevalcap (the jar gives exact
    # matches no fragmentation penalty when it aggregates)
    assert fresh[1]["METEOR"] == pytest.approx(1.0, abs=1e-12)
    for f, s in zip(fresh, shared):
        for key in ("METEOR", "METEOR_CI", "BLEU_4", "CE_14_micro_F1"):
            assert s[key] == pytest.approx(f[key], abs=1e-9), key
    assert shared[1]["METEOR"] > shared[0]["METEOR"]
