"""MIMIC-CXR-JPG loader on hand-written fixture trees, and every bad-input case."""

import gzip
import shutil

import pytest

from cogaze.data import CHEXPERT_CLASSES
from cogaze.data.mimic import load_mimic, parse_label
from cogaze.errors import DataError, Problems
from fixture_trees import IMAGES, build_mimic, study_folder

META = "mimic-cxr-2.0.0-metadata.csv"
LABELS = "mimic-cxr-2.0.0-chexpert.csv"


def _lines(path):
    return path.read_text().splitlines()


def _rewrite(path, lines):
    path.write_text("\n".join(lines) + "\n")


def test_load_fixture_tree(tmp_path):
    rs = load_mimic(build_mimic(tmp_path))
    assert [r.dicom_id for r in rs] == ["d1", "d2", "d3", "d4"]
    d1, d2, d3, d4 = rs
    assert (d1.subject_id, d1.study_id, d1.view, d1.split) == ("10000032", "50414267", "PA", "train")
    assert d1.image_path == study_folder(tmp_path, "10000032", "50414267") / "d1.jpg"
    assert d2.view == "LATERAL" and d3.split == "val" and d4.view == "UNKNOWN"  # blank view -> UNKNOWN
    assert d1.findings.startswith("There is no focal consolidation") and d1.findings == d2.findings
    assert d1.impression == "No acute cardiopulmonary process."
    assert d1.indication == "___F with new onset ascites // eval for infection" and d1.comparison == "None."
    assert d3.history == "Fever and cough." and d3.findings == "Enlarged heart. Small left pleural effusion."
    # d4's report has an IMPRESSION but no FINDINGS: by default the impression is its report text
    assert d4.findings == "Mild pulmonary edema." and d4.impression == "Mild pulmonary edema."
    idx = {c: i for i, c in enumerate(CHEXPERT_CLASSES)}
    assert d1.raw_labels[idx["No Finding"]] == 1 and sum(d1.raw_labels) == 1
    # 1.0 -> 1, -1.0 -> 3, 0.0 -> 2, blank -> 0
    assert (d3.raw_labels[idx["Cardiomegaly"]], d3.raw_labels[idx["Pleural Effusion"]],
            d3.raw_labels[idx["Edema"]], d3.raw_labels[idx["Atelectasis"]]) == (1, 3, 2, 0)
    assert d3.labels[idx["Pleural Effusion"]] == 1 and d3.labels[idx["Edema"]] == 0
    s = rs.summary()
    assert s["per_split"] == {"train": 2, "val": 1, "test": 1} and s["studies"] == 3 and s["patients"] == 3


def test_parse_label_coding():
    assert [parse_label(v, "Edema") for v in ("1.0", "0.0", "-1.0", "", "1", " -1 ")] == [1, 2, 3, 0, 1, 3]
    assert parse_label("0.0", "No Finding") == 0 and parse_label("1.0", "No Finding") == 1
    with pytest.raises(ValueError, match="uncertain"):
        parse_label("-1.0", "No Finding")
    with pytest.raises(ValueError, match="'2.0' is not one of"):
        parse_label("2.0", "Edema")


def test_gz_and_negbio(tmp_path):
    build_mimic(tmp_path)
    for name in (META, LABELS):
        with open(tmp_path / name, "rb") as src, gzip.open(tmp_path / f"{name}.gz", "wb") as dst:
            shutil.copyfileobj(src, dst)
        (tmp_path / name).unlink()
    (tmp_path / f"{LABELS}.gz").rename(tmp_path / "mimic-cxr-2.0.0-negbio.csv.gz")
    assert len(load_mimic(tmp_path)) == 4


def test_truncated_gz(tmp_path):
    build_mimic(tmp_path)
    data = gzip.compress((tmp_path / META).read_bytes())
    (tmp_path / META).unlink()
    (tmp_path / f"{META}.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"metadata\.csv\.gz: cannot read CSV"):
        load_mimic(tmp_path)


def test_missing_files_and_columns(tmp_path):
    build_mimic(tmp_path)
    (tmp_path / "mimic-cxr-2.0.0-split.csv").unlink()
    with pytest.raises(DataError, match="mimic-cxr-2.0.0-split.csv .* not found"):
        load_mimic(tmp_path)
    build_mimic(tmp_path)
    lines = _lines(tmp_path / META)
    _rewrite(tmp_path / META, [lines[0].replace("ViewPosition", "View")] + lines[1:])
    with pytest.raises(DataError, match=r"metadata\.csv, line 1: missing required column\(s\) 'ViewPosition'"):
        load_mimic(tmp_path)
    with pytest.raises(DataError, match="MIMIC-CXR folder not found"):
        load_mimic(tmp_path / "nowhere")


def test_ragged_row_and_empty_csv(tmp_path):
    build_mimic(tmp_path)
    lines = _lines(tmp_path / META)
    lines[2] += ",extra"
    _rewrite(tmp_path / META, lines)
    with pytest.raises(DataError, match=r"metadata\.csv, line 3: expected 12 fields, found 13"):
        load_mimic(tmp_path)
    (tmp_path / META).write_text("")
    with pytest.raises(DataError, match=r"metadata\.csv, line 1: empty CSV"):
        load_mimic(tmp_path)


def test_bad_label_value_raise_and_skip(tmp_path):
    build_mimic(tmp_path)
    lines = _lines(tmp_path / LABELS)
    # rows sorted by subject: line 2 = study 50414267 (images d1, d2)
    lines[1] = lines[1].replace("1.0", "2.0")
    _rewrite(tmp_path / LABELS, lines)
    with pytest.raises(DataError, match=r"chexpert\.csv, line 2: label 'No Finding': '2.0'"):
        load_mimic(tmp_path)
    problems = Problems("skip")
    rs = load_mimic(tmp_path, problems=problems)
    assert [r.dicom_id for r in rs] == ["d3", "d4"]
    assert problems.n_skipped == 3  # the label row, then each of its two images
    assert "line 2" in str(problems.skipped[0]) and "label row (mimic-cxr-2.0.0-chexpert.csv, line 2)" in str(
        problems.skipped[1])


def test_duplicate_dicom_id(tmp_path):
    build_mimic(tmp_path)
    lines = _lines(tmp_path / META)
    _rewrite(tmp_path / META, lines + [lines[1]])
    with pytest.raises(DataError, match=r"metadata\.csv, line 6: duplicate dicom_id 'd1' \(first at line 2\)"):
        load_mimic(tmp_path)
    problems = Problems("skip")
    assert len(load_mimic(tmp_path, problems=problems)) == 4 and problems.n_skipped == 1


def test_missing_image_report_label_and_split_rows(tmp_path):
    build_mimic(tmp_path)
    (study_folder(tmp_path, "10000764", "57375967") / "d3.jpg").unlink()
    with pytest.raises(DataError, match=r"metadata\.csv, line 4: image not found: files/p10/p10000764/s57375967/d3"):
        load_mimic(tmp_path)
    problems = Problems("skip")
    assert [r.dicom_id for r in load_mimic(tmp_path, problems=problems)] == ["d1", "d2", "d4"]
    assert problems.n_skipped == 1

    build_mimic(tmp_path)
    folder = study_folder(tmp_path, "11000011", "53186466")
    (folder.parent / f"{folder.name}.txt").unlink()
    with pytest.raises(DataError, match=r"line 5: study 53186466: .*s53186466\.txt: report file not found"):
        load_mimic(tmp_path)
    (folder.parent / f"{folder.name}.txt").write_text("   \n")
    with pytest.raises(DataError, match=r"line 5: .*empty report"):
        load_mimic(tmp_path)

    build_mimic(tmp_path)
    _rewrite(tmp_path / LABELS, _lines(tmp_path / LABELS)[:-1])  # drop the last study (11000011/53186466)
    with pytest.raises(DataError, match=r"line 5: study 53186466 \(subject 11000011\) has no row in the label"):
        load_mimic(tmp_path)

    build_mimic(tmp_path)
    split = tmp_path / "mimic-cxr-2.0.0-split.csv"
    _rewrite(split, _lines(split)[:2])  # only d1 has a split row
    problems = Problems("skip")
    assert [r.dicom_id for r in load_mimic(tmp_path, problems=problems)] == ["d1"]
    assert problems.n_skipped == 3 and "has no row in mimic-cxr-2.0.0-split.csv" in str(problems.skipped[0])


def test_bad_split_name(tmp_path):
    build_mimic(tmp_path)
    split = tmp_path / "mimic-cxr-2.0.0-split.csv"
    _rewrite(split, [line.replace("validate", "dev") for line in _lines(split)])
    with pytest.raises(DataError, match=r"split\.csv, line 4: unknown split 'dev'"):
        load_mimic(tmp_path)


def test_unknown_view_warns_with_line(tmp_path):
    images = [IMAGES[0], ("d2", "10000032", "50414267", "OBLIQUE-X", "train", (40, 30))]
    build_mimic(tmp_path, images=images)
    problems = Problems("raise")
    rs = load_mimic(tmp_path, problems=problems)
    assert rs.get("d2").view == "UNKNOWN" and problems.n_skipped == 0
    assert len(problems.warnings) == 1
    assert "metadata.csv, line 3: unknown view position 'OBLIQUE-X' mapped to UNKNOWN" in problems.warnings[0]


def test_impression_only_policy_counted(tmp_path, caplog):
    root = build_mimic(tmp_path)
    problems = Problems()
    with caplog.at_level("WARNING", logger="cogaze"):
        rs = load_mimic(root, problems=problems)
    d4 = [r for r in rs if r.dicom_id == "d4"][0]
    assert d4.findings == d4.impression == "Mild pulmonary edema."
    msg = [w for w in problems.warnings if "IMPRESSION but no FINDINGS" in w]
    assert len(msg) == 1 and "1 study (1 images" in msg[0] and "IMPRESSION is used" in msg[0]
    assert "data.impression_only=use" in caplog.text  # logged, e.g. in the pretraining log
    skipped = Problems()
    rs = load_mimic(root, problems=skipped, impression_only="skip")
    assert [r.dicom_id for r in rs] == ["d1", "d2", "d3"]
    assert any("their images are left out" in w for w in skipped.warnings)
    with pytest.raises(ValueError, match="impression_only must be one of use, skip"):
        load_mimic(root, impression_only="maybe")


def test_report_without_findings_or_impression_is_counted(tmp_path):
    from fixture_trees import REPORTS

    reports = dict(REPORTS)
    reports["57375967"] = "FINAL REPORT\nINDICATION: Cough.\n"
    problems = Problems()
    load_mimic(build_mimic(tmp_path, reports=reports), problems=problems)
    assert any("neither FINDINGS nor IMPRESSION" in w for w in problems.warnings)


def test_data_validate_reports_impression_only_studies(tmp_path, capsys):
    from cogaze.cli import main

    root = build_mimic(tmp_path)
    main(["data", "validate", str(root)])
    out = capsys.readouterr().out
    assert "warning: 1 study (1 images; e.g. 53186466) have an IMPRESSION but no FINDINGS section" in out
    main(["data", "validate", str(root), "--impression-only", "skip"])
    assert "their images are left out" in capsys.readouterr().out
