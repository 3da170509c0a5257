"""``cogaze label``: chexpert-labeler's output layout, first column or --column, empty rows, errors."""

from __future__ import annotations

import csv

from cogaze.cli import main
from cogaze.data.records import CHEXPERT_CLASSES


def test_label_writes_chexpert_layout(tmp_path, capsys):
    src = tmp_path / "reports.csv"
    with open(src, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["study", "Report Impression"])
        w.writerow(["s1", "No focal consolidation, large pleural effusion, or pneumothorax."])
        w.writerow(["s2", "Heart size normal.\nPossible early pneumonia."])
        w.writerow(["s3", ""])
    out = tmp_path / "labels.csv"
    assert main(["label", str(src), "--out", str(out), "--column", "Report Impression"]) == 0
    captured = capsys.readouterr()
    assert "1 empty report(s) labelled all blank (lines 5)" in captured.err
    rows = list(csv.DictReader(open(out, encoding="utf-8", newline="")))
    assert list(rows[0].keys()) == ["Reports", *CHEXPERT_CLASSES]
    assert [r["Reports"] for r in rows] == ["No focal consolidation, large pleural effusion, or pneumothorax.",
                                             "Heart size normal.\nPossible early pneumonia.", ""]
    assert (rows[0]["Consolidation"], rows[0]["Pleural Effusion"], rows[0]["Pneumothorax"]) == ("0.0",) * 3
    assert rows[0]["No Finding"] == "1.0" and rows[0]["Edema"] == ""
    assert (rows[1]["Cardiomegaly"], rows[1]["Pneumonia"], rows[1]["No Finding"]) == ("0.0", "-1.0", "")
    assert all(rows[2][c] == "" for c in CHEXPERT_CLASSES)


def test_label_first_column_default_and_errors(tmp_path, capsys):
    src = tmp_path / "r.csv"
    src.write_text("text,other\nMild cardiomegaly.,x\n", encoding="utf-8")
    out = tmp_path / "o.csv"
    assert main(["label", str(src), "--out", str(out)]) == 0
    assert "Cardiomegaly" in out.read_text() and "1.0" in out.read_text().splitlines()[1]
    assert main(["label", str(src), "--out", str(out), "--column", "nope"]) == 1
    assert "r.csv, line 1: no column 'nope'; columns found: text, other" in capsys.readouterr().err
    assert main(["label", str(tmp_path / "missing.csv"), "--out", str(out)]) == 1
