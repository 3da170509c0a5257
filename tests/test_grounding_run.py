"""`cogaze evaluate grounding` / `api.evaluate_run_grounding`: a run's sentence maps against phantom sentence
boxes and MS-CXR-style box CSVs, with the images' own proportions checked."""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

import pytest

from cogaze.api.grounding import evaluate_run_grounding, load_regions
from cogaze.cli import main
from cogaze.data.dataset import load_dataset
from cogaze.data.grounding import load_phantom_grounding
from cogaze.errors import ConfigError, DataError
from cogaze.explain.baselines import EncoderPredictor
from cogaze.explain.evaluate_grounding import evaluate_grounding, grounding_units
from cogaze.tasks.pretrain.pretrained import load_pretrained


def _box_csv(data: Path, out: Path, scale: float = 1.0, height_scale: float | None = None,
             extra: list[dict] | None = None) -> Path:
    """The phantom's finding boxes in MS-CXR's schema (label_text = the finding's name), sizes scaled."""
    with open(data / "phantom" / "boxes.csv", newline="") as f:
        boxes = [b for b in csv.DictReader(f) if b["x1"]]  # findings without a box (e.g. devices) skipped
    side = 64  # the serve_runs phantom's image size
    hs = scale if height_scale is None else height_scale
    rows = [{"dicom_id": b["dicom_id"], "category_name": b["finding"], "label_text": b["finding"].lower(),
             "path": "ignored", "x": float(b["x1"]) * scale, "y": float(b["y1"]) * hs,
             "w": (float(b["x2"]) - float(b["x1"])) * scale, "h": (float(b["y2"]) - float(b["y1"])) * hs,
             "image_width": round(side * scale), "image_height": round(side * hs)} for b in boxes]
    rows += extra or []
    with open(out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return out


def test_cli_equals_the_library_on_the_phantom(serve_runs, tmp_path):
    data, run = serve_runs["data"], serve_runs["run"]
    out = tmp_path / "g.json"
    assert main(["evaluate", "grounding", str(run), str(data), "--split", "all", "--json", str(out), "-q"]) == 0
    got = json.loads(out.read_text())
    records = list(load_dataset(data).records)
    units = grounding_units(records, load_phantom_grounding(data, with_masks=False))
    encoder = load_pretrained(run)
    direct = evaluate_grounding(units, {"CoGaze": EncoderPredictor(encoder, encoder.geometry)})
    assert got["sentences"] == len(units) > 0 and got["regions_unmatched"] == 0
    for key in ("pointing", "own_box", "cc_sentences", "cnr"):
        assert got["table"]["CoGaze"][key]["mean"] == pytest.approx(direct["CoGaze"][key].mean, nan_ok=True)
    assert set(got["table"]) == {"CoGaze", "text-free map", "centre bias", "fitted prior", "true gaze (upper bound)"}
    assert got["table"]["true gaze (upper bound)"]["pointing"]["mean"] > 0.9  # the phantom's gaze sits on the finding


def test_ms_cxr_boxes_scaled_copies_and_unknown_images(serve_runs, tmp_path, caplog):
    data, run = serve_runs["data"], serve_runs["run"]
    encoder = load_pretrained(run)
    stranger = {"dicom_id": "not-in-the-dataset", "category_name": "Pneumonia", "label_text": "pneumonia",
                "path": "x", "x": 1, "y": 1, "w": 5, "h": 5, "image_width": 64, "image_height": 64}
    plain = _box_csv(data, tmp_path / "ms_cxr.csv", extra=[stranger])
    with caplog.at_level(logging.WARNING, logger="cogaze"):
        res = evaluate_run_grounding(encoder, data, boxes=plain, split="all")
    assert res.regions_unmatched == 1 and "not-in-the-dataset" in caplog.text
    assert "true gaze (upper bound)" not in res.table  # finding names are not dictated sentences
    assert res.table["centre bias"]["pointing"].n == res.sentences > 0
    # boxes drawn on a 4x larger copy of each image (MIMIC-CXR's full size vs a downsized copy): same scores
    big = evaluate_run_grounding(encoder, data, boxes=_box_csv(data, tmp_path / "big.csv", scale=4.0), split="all")
    for name in ("CoGaze", "centre bias"):
        for key in ("pointing", "hit10", "own_box"):
            assert big.table[name][key].mean == pytest.approx(res.table[name][key].mean, nan_ok=True)


def test_boxes_drawn_on_other_proportions_are_an_error(serve_runs, tmp_path):
    data, run = serve_runs["data"], serve_runs["run"]
    wide = _box_csv(data, tmp_path / "wide.csv", scale=1.0, height_scale=0.75)
    with pytest.raises(DataError, match=r"wide\.csv.*64 x 48 image.*64 x 64"):
        evaluate_run_grounding(load_pretrained(run), data, boxes=wide, split="all")


def test_no_region_on_the_split_is_an_error(serve_runs, tmp_path):
    data, run = serve_runs["data"], serve_runs["run"]
    only = _box_csv(data, tmp_path / "none.csv")
    with open(only, newline="") as f:
        rows = list(csv.DictReader(f))
    test_ids = {r.dicom_id for r in load_dataset(data).records if r.split == "test"}
    kept = [r for r in rows if r["dicom_id"] not in test_ids]
    with open(only, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(kept)
    with pytest.raises(DataError, match="none of the .* regions .* the test split"):
        evaluate_run_grounding(load_pretrained(run), data, boxes=only, split="test")


def test_ground_truth_source_is_one_and_known(tmp_path):
    with pytest.raises(ConfigError, match="not a phantom"):
        load_regions(tmp_path)
    with pytest.raises(ConfigError, match="not both"):
        load_regions(tmp_path, boxes=tmp_path / "a.csv", reflacx=tmp_path)


def test_reflacx_ellipses_of_the_phantom_end_to_end(serve_runs, tmp_path):
    """The phantom writes REFLACX's anomaly_location_ellipses.csv (ellipse inscribed in each finding's box);
    `--reflacx` reads them back onto the same boxes and scores them."""
    from cogaze.data.grounding import load_reflacx_ellipses

    data, run = serve_runs["data"], serve_runs["run"]
    ellipses = load_reflacx_ellipses(data / "reflacx")
    with open(data / "phantom" / "boxes.csv", newline="") as f:
        boxes = {(b["dicom_id"], (float(b["x1"]), float(b["y1"]), float(b["x2"]), float(b["y2"])))
                 for b in csv.DictReader(f) if b["x1"]}
    assert ellipses and all(e.shape == "ellipse" and (e.dicom_id, e.box) in boxes for e in ellipses)
    out = tmp_path / "r.json"
    assert main(["evaluate", "grounding", str(run), str(data), "--reflacx", str(data / "reflacx"), "--split", "all",
                 "--json", str(out), "-q"]) == 0
    got = json.loads(out.read_text())
    labels = {(e.dicom_id, e.text) for e in ellipses}
    assert got["sentences"] == len(labels) and "REFLACX" in got["source"]
    assert "true gaze (upper bound)" not in got["table"]  # label names are not dictated sentences



def test_images_missing_from_the_dataset_stop_or_are_skipped(serve_runs, tmp_path, caplog):
    """A partial download (e.g. only some of MIMIC-CXR-JPG): an error naming the file by default; with
    --on-error skip the image is left out and its regions are counted as not scored."""
    import shutil

    data = tmp_path / "data"
    shutil.copytree(serve_runs["data"], data)
    with open(data / "phantom" / "boxes.csv", newline="") as f:
        victim = next(b["dicom_id"] for b in csv.DictReader(f) if b["x1"])
    (image,) = list((data / "files").rglob(f"{victim}.*"))
    image.unlink()
    boxes = _box_csv(data, tmp_path / "b.csv")
    args = ["evaluate", "grounding", str(serve_runs["run"]), str(data), "--boxes", str(boxes), "--split", "all"]
    assert main([*args, "-q"]) == 1
    with caplog.at_level(logging.WARNING, logger="cogaze"):
        assert main([*args, "--on-error", "skip", "--json", str(tmp_path / "g.json")]) == 0
    got = json.loads((tmp_path / "g.json").read_text())
    assert got["regions_unmatched"] >= 1 and victim in caplog.text
