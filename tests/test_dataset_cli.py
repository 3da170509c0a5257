"""Annotation JSON round trip, load_dataset with gaze attached, and `cogaze data validate/summary`."""

import json

import pytest

from cogaze.cli import main
from cogaze.data.annotation import read_annotation_json, write_annotation_json
from cogaze.data.dataset import load_dataset
from cogaze.data.mimic import load_mimic
from cogaze.errors import DataError, Problems
from fixture_trees import build_dataset, build_egd, build_mimic, study_folder

ITEM = {
    "id": "427446c1-881f5cce-85191ce1-91a58ba9-0a57d3f5", "subject_id": 10000032, "study_id": 50414267,
    "anchor_scan": {"image_path": ["p10/p10000032/s50414267/427446c1-881f5cce-85191ce1-91a58ba9-0a57d3f5.jpg"],
                    "view_position": ["PA"]},
    "findings": "No focal consolidation.", "findings_factual_serialization": ["no focal consolidation"],
    "indication_pure": "fever", "history_pure": "", "disease_labels": [0] * 13 + [1],
    "sentence_gaze_heatmap": None,
}


def test_annotation_round_trip(tmp_path):
    records = load_mimic(build_mimic(tmp_path / "mimic"))
    path = write_annotation_json(records, tmp_path / "ann" / "annotation.json", image_root=tmp_path / "mimic")
    data = json.loads(path.read_text())
    assert [len(data[k]) for k in ("train", "val", "test")] == [2, 1, 1]
    assert data["train"][0]["anchor_scan"]["image_path"] == ["files/p10/p10000032/s50414267/d1.jpg"]
    # d4 has no FINDINGS section: its impression is its report text (impression_only="use", the default)
    assert data["test"][0]["findings"] == "Mild pulmonary edema."
    problems = Problems()
    back = read_annotation_json(path, image_root=tmp_path / "mimic", problems=problems)
    assert [r.dicom_id for r in back] == ["d1", "d2", "d3", "d4"]
    assert [back.get(d) for d in ("d1", "d2", "d3")] == [records.get(d) for d in ("d1", "d2", "d3")]
    # with impression_only="skip" d4 is left out before writing (counted in a warning)
    skipped = load_mimic(build_mimic(tmp_path / "mimic2"), impression_only="skip")
    assert [r.dicom_id for r in skipped] == ["d1", "d2", "d3"]


def test_annotation_reference_items(tmp_path):
    dup = dict(ITEM, sentence_gaze_heatmap={"image_dir": "x", "transcript_full_text": "t"})
    empty = dict(ITEM, id="other", findings_factual_serialization=[])
    path = tmp_path / "a.json"
    path.write_text(json.dumps({"train": [ITEM, dup, empty], "val": [], "test": []}))
    problems = Problems()
    rs = read_annotation_json(path, problems=problems)
    (rec,) = rs
    assert (rec.subject_id, rec.study_id, rec.view, rec.indication, rec.split) == (
        "10000032", "50414267", "PA", "fever", "train")
    assert rec.raw_labels[-1] == 1 and rec.has_context
    assert len(problems.warnings) == 2 and "1 repeated item" in problems.warnings[1]


def test_annotation_bad_input(tmp_path):
    path = tmp_path / "a.json"
    path.write_text('{"train": [\n  {"id": 1,}\n]}')
    with pytest.raises(DataError, match=r"a\.json, line 2: malformed JSON"):
        read_annotation_json(path)
    bad_labels = dict(ITEM, disease_labels=[0] * 13 + [7])
    no_findings = {k: v for k, v in ITEM.items() if k != "findings"}
    path.write_text(json.dumps({"train": [bad_labels, dict(no_findings, id="b"), dict(ITEM, id="c")]}))
    with pytest.raises(DataError, match=r"a\.json: train\[0\] \(id 427446c1.*\): label values outside the coding"):
        read_annotation_json(path)
    problems = Problems("skip")
    assert [r.dicom_id for r in read_annotation_json(path, problems=problems)] == ["c"]
    assert problems.n_skipped == 2 and "train[1]: missing field(s) findings" in str(problems.skipped[1])
    path.write_text("[1, 2]")
    with pytest.raises(DataError, match="must be an object with 'train'"):
        read_annotation_json(path)


def test_load_dataset_attaches_gaze(tmp_path):
    loaded = load_dataset(build_dataset(tmp_path))
    assert set(loaded.sources) == {"mimic", "egd", "reflacx"}
    d1 = loaded.records.get("d1")
    assert [g.reading_id for g in d1.gaze] == ["d1", "P101R000001", "P102R000003"]
    assert [g.source for g in d1.gaze] == ["egd", "reflacx", "reflacx"]
    assert loaded.records.get("d3").gaze[0].image_size == (32, 32)  # EGD size read from the record's image
    assert not loaded.records.get("d2").has_gaze
    assert loaded.records.summary()["gaze_readings"] == 4 and loaded.problems.n_skipped == 0


def test_load_dataset_overrides_and_orphans(tmp_path):
    build_mimic(tmp_path / "mimic")
    build_egd(tmp_path / "gaze", readings={"d1": [(0.0, 0.2, 1, 1)], "zz": [(0.0, 0.2, 1, 1)]},
              transcripts={d: {"full_text": "a.", "time_stamped_text": []} for d in ("d1", "zz")})
    with pytest.raises(DataError, match="image size of zz unknown"):
        load_dataset(mimic_root=tmp_path / "mimic", egd_root=tmp_path / "gaze")
    loaded = load_dataset(mimic_root=tmp_path / "mimic", egd_root=tmp_path / "gaze", on_error="skip")
    assert loaded.sources == {"mimic": tmp_path / "mimic", "egd": tmp_path / "gaze"}
    assert loaded.records.get("d1").has_gaze and loaded.problems.n_skipped == 1
    # gaze for an unknown dicom_id is a counted warning, not an error, when its size is known
    build_egd(tmp_path / "gaze2", readings={"zz": [(0.0, 0.2, 1, 1)]},
              transcripts={"zz": {"full_text": "a.", "time_stamped_text": []}})
    (tmp_path / "gaze2" / "master_sheet.csv").write_text(
        "dicom_id,path\nzz,files/p10/p10000032/s50414267/d1.jpg\n")
    loaded = load_dataset(mimic_root=tmp_path / "mimic", egd_root=tmp_path / "gaze2")
    assert "1 gaze reading(s) for 1 dicom_id(s) not in the records ignored (e.g. zz)" in loaded.problems.warnings


def test_cli_validate_and_summary(tmp_path, capsys):
    root = build_dataset(tmp_path / "ds")
    assert main(["data", "validate", str(root)]) == 0
    out = capsys.readouterr().out
    assert "images 4, studies 3, patients 3, with context 3, with gaze 2 (4 readings)" in out
    assert "errors (items skipped): 0" in out and out.rstrip().endswith("OK")
    assert any(line.split() == ["Cardiomegaly", "0", "1", "0", "1"] for line in out.splitlines())
    assert any(line.split() == ["UNKNOWN", "0", "0", "1", "1"] for line in out.splitlines())
    assert main(["data", "summary", str(root), "--json", str(tmp_path / "s.json")]) == 0
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["per_split"] == {"train": 2, "val": 1, "test": 1} and summary["gaze_readings"] == 4
    assert "No Finding" in capsys.readouterr().out


def test_cli_validate_reports_every_problem(tmp_path, capsys):
    root = build_dataset(tmp_path / "ds", egd=False, reflacx=False)
    (study_folder(root, "10000764", "57375967") / "d3.jpg").unlink()
    meta = root / "mimic-cxr-2.0.0-metadata.csv"
    meta.write_text(meta.read_text().replace(",LATERAL,", ",SIDEWAYS,"))
    assert main(["data", "validate", str(root)]) == 1
    captured = capsys.readouterr()
    assert "errors (items skipped): 1" in captured.out
    assert "metadata.csv, line 4: image not found: files/p10/p10000764/s57375967/d3.jpg" in captured.out
    assert "metadata.csv, line 3: unknown view position 'SIDEWAYS' mapped to UNKNOWN" in captured.out
    assert "1 data error(s) found" in captured.err
    assert main(["data", "validate", str(root), "--on-error", "raise"]) == 1
    assert "line 4: image not found" in capsys.readouterr().err
    assert main(["data", "summary", str(tmp_path / "missing")]) == 1
    assert "MIMIC-CXR folder not found" in capsys.readouterr().err
