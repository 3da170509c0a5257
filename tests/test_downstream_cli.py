"""``cogaze data downstream NAME``: counts printed from split files, errors without tracebacks."""

from __future__ import annotations

import json

from cogaze.cli import main


def test_rsna_counts_table(shared_data, capsys):
    assert main(["data", "downstream", "rsna", "--split-dir", str(shared_data / "benchx_split/RSNA")]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0] + line.split()[1]: line.split() for line in out.splitlines()[2:]}
    assert lines["train100%"][2:4] == ["18678", "4208"]
    assert lines["train1%"][2:4] == ["186", "42"]
    assert lines["test100%"][2:4] == ["4003", "902"]


def test_json_output_for_one_split(shared_data, capsys):
    argv = ["data", "downstream", "tbx11k", "--split-dir", str(shared_data / "benchx_split/TBX11K"),
            "--split", "test", "--json"]
    assert main(argv) == 0
    (summary,) = json.loads(capsys.readouterr().out)
    assert summary["rows"] == 1260 and summary["categories"] == {"h": 598, "s": 542, "tb": 120}


def test_nih_without_data_entry_notes_train(shared_data, capsys):
    assert main(["data", "downstream", "nih", "--split-dir", str(shared_data / "benchx_split/NIH_Chest_Xray")]) == 0
    out = capsys.readouterr().out
    assert "AP=300 PA=485" in out and "6075" in out and "--data-entry" in out


def test_missing_image_is_a_clear_error_or_a_counted_skip(tmp_path, capsys):
    split = tmp_path / "split"
    split.mkdir()
    (split / "ShenzhenCXR_val_data.txt").write_text("CHNCXR_0001_0.png,0\nCHNCXR_0002_1.png,1\n")
    images = tmp_path / "CXR_png"
    images.mkdir()
    (images / "CHNCXR_0001_0.png").write_bytes(b"")
    argv = ["data", "downstream", "shenzhen", "--split-dir", str(split), "--image-root", str(images), "--split", "val"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "ShenzhenCXR_val_data.txt, line 2" in err and "CHNCXR_0002_1.png" in err and "Traceback" not in err
    assert main(argv + ["--on-error", "skip", "--json"]) == 0
    (summary,) = json.loads(capsys.readouterr().out)
    assert summary["rows"] == 1 and summary["skipped"] == 1


def test_cli_dataset_names_match_the_loaders():
    from cogaze.commands.downstream import dataset_names
    from cogaze.data.downstream import DATASETS, REGISTRY

    assert dataset_names() == DATASETS == tuple(REGISTRY) == ("nih", "siim", "rsna", "tbx11k", "shenzhen")
