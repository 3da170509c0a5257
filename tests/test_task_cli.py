"""The task verbs (zeroshot, retrieve, finetune, train-report, generate) end to end on one tiny phantom
with one tiny pretraining run, through ``cogaze.cli.main``; plus tasks.phantom_sets and bad input."""

import csv
import json

import numpy as np
import pytest

from cogaze.cli import main
from cogaze.data.dataset import load_dataset
from cogaze.data.geometry import ImageGeometry
from cogaze.data.phantom.generate import generate_phantom
from cogaze.errors import ConfigError, DataError
from cogaze.metrics.reports_csv import read_reports_csv
from cogaze.tasks.phantom_sets import classification_items, segmentation_items
from tiny_models import TINY


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("tasks")
    data = root / "ph"
    generate_phantom(data, n_patients=30, image_size=64, seed=0)
    tok = root / "tok"
    assert main(["tokenizer", "train", str(data), "--out", str(tok), "--vocab-size", "300"]) == 0
    run = root / "run"
    assert main(["pretrain", "--config", "configs/pretrain/phantom-scratch.yaml", "--data", str(data),
                 "--run-dir", str(run), f"model.tokenizer={tok}", *TINY]) == 0
    return root, data, run


def _in_unit(values):
    values = list(values)
    assert values and all(v is not None and 0.0 <= v <= 1.0 for v in values), values


def test_phantom_sets_masks_follow_image_geometry(setup, tmp_path):
    _, data, _ = setup
    records = load_dataset(data).records
    geometry = ImageGeometry(size=32)
    cls = classification_items(records, geometry, "test", ["edema", "No Finding"])
    assert cls.class_names == ("Edema", "No Finding") and set(cls.views) <= {"PA", "AP"}
    assert cls.labels.tolist() == [list(r.labels[[4, 13]]) for r in records.split("test") if r.view != "LATERAL"]
    seg = segmentation_items(data, records, geometry, "train", "Pleural Effusion")
    # label 1 <=> boxes.csv lists a Pleural Effusion mask for the image; the mask is resized like the image
    with (data / "phantom" / "boxes.csv").open() as fh:
        listed = {r["dicom_id"] for r in csv.DictReader(fh) if r["finding"] == "Pleural Effusion"}
    assert [int(i in listed) for i in seg.ids] == seg.labels[:, 0].tolist() and seg.labels.sum() > 0
    i = int(np.flatnonzero(seg.labels[:, 0])[0])
    pixels, mask = seg.load(i)
    assert pixels.shape == (3, 32, 32) and mask.shape == (1, 32, 32)
    assert 0 < mask.sum() < 32 * 32
    # 64 px -> 32 px: each output pixel covers 2x2 source pixels; covered-area rule >= 0.5
    with np.load(data / "phantom" / "masks" / f"{seg.ids[i]}.npz") as npz:
        keys = [k for k in npz.files if k.startswith("finding_")]
        full = np.zeros((64, 64), bool)
        with (data / "phantom" / "boxes.csv").open() as fh:
            mine = [r["mask_key"] for r in csv.DictReader(fh)
                    if r["dicom_id"] == seg.ids[i] and r["finding"] == "Pleural Effusion"]
        for k in keys:
            if k in mine:
                full |= npz[k].astype(bool)
    expected = full.reshape(32, 2, 32, 2).mean(axis=(1, 3)) >= 0.5
    assert np.array_equal(mask[0].numpy() > 0.5, expected)
    with pytest.raises(ConfigError, match="unknown finding"):
        segmentation_items(data, records, geometry, "train", "Broken Heart")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "phantom").mkdir()
    (bad / "phantom" / "boxes.csv").write_text((data / "phantom" / "boxes.csv").read_text())
    (bad / "phantom" / "masks").mkdir()
    with pytest.raises(DataError, match=r"mask file not found: .*\.npz"):
        segmentation_items(bad, records, geometry, "train", "Edema")


def test_zeroshot_and_retrieve(setup, capsys):
    root, data, run = setup
    out = root / "zs.json"
    assert main(["zeroshot", "--checkpoint", str(run), "--data", str(data), "--split", "train",
                 "--out", str(out), "batch_size=16"]) == 0
    res = json.loads(out.read_text())
    assert res["task"] == "zeroshot" and res["config"]["negative_class"] == "No Finding"
    assert res["class_names"] and "No Finding" not in res["class_names"]
    _in_unit(v["AUROC"] for v in res["per_class"].values())
    _in_unit([res["metrics"]["AUROC"], res["metrics"]["F1"]])
    assert "AUROC" in capsys.readouterr().out

    out = root / "ret" / "r.json"
    assert main(["retrieve", "--checkpoint", str(run), "--data", str(data), "--split", "train",
                 "--per-class", "2", "--seed", "3", "--classes", "Edema,Pleural Effusion,Cardiomegaly",
                 "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    _in_unit(res["metrics"][k] for k in ("P@1", "R@1", "P@5", "R@5", "P@10", "R@10"))
    assert res["metrics"]["R@10"] == 1.0  # 6 queries, 2 relevant each: all within the top 10
    sample = json.loads((root / "ret" / "r_sample.json").read_text())
    assert sample["seed"] == 3 and len(sample["sample"]) == 6 and sample["sample"] == res["sample"]
    # the written sample replays exactly
    again = root / "ret" / "again.json"
    assert main(["retrieve", "--checkpoint", str(run), "--data", str(data), "--split", "train",
                 "--sample", str(root / "ret" / "r_sample.json"), "--out", str(again)]) == 0
    assert json.loads(again.read_text())["metrics"] == res["metrics"]


def test_finetune_classification_and_segmentation(setup):
    root, data, run = setup
    out = root / "cls.json"
    assert main(["finetune", "--task", "classification", "--checkpoint", str(run), "--data", str(data),
                 "--classes", "Edema,No Finding", "--fractions", "50,100", "--seeds", "2", "--out", str(out),
                 "epochs=2"]) == 0
    res = json.loads(out.read_text())
    assert res["mode"] == "linear_probe" and set(res["summary"]) == {"50%", "100%"}
    assert len(res["runs"]) == 4 and {r["seed"] for r in res["runs"]} == {0, 1}
    _in_unit(row["AUROC"]["mean"] for row in res["summary"].values())

    out = root / "seg.json"
    assert main(["finetune", "--task", "segmentation", "--finding", "edema", "--checkpoint", str(run),
                 "--data", str(data), "--fractions", "100", "--seeds", "1", "--out", str(out),
                 "epochs=1", "channels=[8,8]"]) == 0
    res = json.loads(out.read_text())
    assert res["empty_policy"] == "score" and res["config"]["finetune_encoder"] is False
    _in_unit([res["metrics"]["dice_micro@100%"], res["metrics"]["dice_per_image@100%"]])


def test_train_report_and_generate(setup):
    root, data, run = setup
    rep = root / "rep"
    assert main(["train-report", "--checkpoint", str(run), "--data", str(data),
                 "--config", "configs/report/phantom-tiny.yaml", "--run-dir", str(rep),
                 "train.epochs=1", "decoder.num_beams=1", "decoder.max_new_tokens=8"]) == 0
    summary = json.loads((rep / "train_summary.json").read_text())
    assert len(summary["history"]) == 1 and summary["n_train"] > 0
    out = root / "gen" / "reports.csv"
    assert main(["generate", "--report-run", str(rep), "--checkpoint", str(run), "--data", str(data),
                 "--split", "test", "--out", str(out), "--baselines"]) == 0
    test_ids = [r.dicom_id for r in load_dataset(data).records.split("test") if r.view != "LATERAL"]
    for name in ("reports.csv", "reports_most_common.csv", "reports_nearest_neighbour.csv"):
        path = root / "gen" / name
        with path.open() as fh:
            assert csv.DictReader(fh).fieldnames == ["dicom_id", "reference_report", "generated_report"]
        pairs = read_reports_csv(path, empty_generated="keep")
        assert len(pairs) == len(test_ids)
    records = load_dataset(data).records.split("train")
    train_findings = [r.findings.strip() for r in records if r.view != "LATERAL" and r.findings.strip()]
    common = read_reports_csv(root / "gen" / "reports_most_common.csv")
    top = max(train_findings, key=train_findings.count)
    assert set(common.hypotheses) == {top}
    nearest = read_reports_csv(root / "gen" / "reports_nearest_neighbour.csv")
    assert set(nearest.hypotheses) <= set(train_findings)
    assert json.loads((root / "gen" / "reports.json").read_text())["n_reports"] == len(test_ids)


def test_train_report_and_generate_structured(setup, tmp_path, capsys):
    from cogaze.data.srrg import read_srrg_json
    from cogaze.data.structured import parse_structured

    root, data, run = setup
    free, structured = tmp_path / "free", tmp_path / "structured"
    fast = ["train.epochs=1", "decoder.num_beams=1", "decoder.max_new_tokens=8"]
    assert main(["train-report", "--checkpoint", str(run), "--data", str(data), "--config",
                 "configs/report/phantom-tiny.yaml", "--run-dir", str(free), *fast]) == 0
    # a free-text config with --task structured is refused before any work
    assert main(["train-report", "--task", "structured", "--checkpoint", str(run), "--data", str(data), "--config",
                 "configs/report/phantom-tiny.yaml", "--run-dir", str(tmp_path / "x")]) == 1
    assert "task: findings" in capsys.readouterr().err
    assert main(["train-report", "--task", "structured", "--checkpoint", str(run), "--data", str(data),
                 "--config", "configs/report/phantom-tiny-structured.yaml", "--init-from", str(free),
                 "--run-dir", str(structured), *fast]) == 0
    summary = json.loads((structured / "train_summary.json").read_text())
    srrg = read_srrg_json(data / "srrg" / "srrg_findings.json")
    assert summary["task"] == "structured" and summary["n_train"] == len(srrg["train"])
    assert summary["init_from"] == str(free)
    out = tmp_path / "gen" / "structured.csv"
    assert main(["generate", "--task", "structured", "--report-run", str(structured), "--checkpoint", str(run),
                 "--data", str(data), "--out", str(out), "--baselines"]) == 0
    assert "--structured" in capsys.readouterr().out
    pairs = read_reports_csv(out, empty_generated="keep")
    assert pairs.ids == [it.id for it in srrg["test"]] and pairs.references == [it.findings for it in srrg["test"]]
    assert all(not parse_structured(r).problems for r in pairs.references)
    common = read_reports_csv(tmp_path / "gen" / "structured_most_common.csv")
    assert len(set(common.hypotheses)) == 1 and parse_structured(common.hypotheses[0]).sections
    assert main(["evaluate", "reports", "--structured", str(tmp_path / "gen" / "structured_most_common.csv"),
                 "--bootstrap", "0", "--no-radgraph"]) == 0
    assert main(["generate", "--report-run", str(structured), "--checkpoint", str(run), "--data", str(data),
                 "--out", str(tmp_path / "y.csv")]) == 1  # a structured run needs --task structured


def test_bad_input(setup, tmp_path, capsys):
    root, data, run = setup
    rep = root / "rep_kind"
    rep.mkdir()
    (rep / "config.yaml").write_text("variant: decoder\ntrain:\n  epochs: 1\n")
    for ckpt, message in ((rep, "is a report-generation run"), (tmp_path, "not a cogaze pretraining run"),
                          (tmp_path / "nope", "not a folder")):
        assert main(["zeroshot", "--checkpoint", str(ckpt), "--data", str(data)]) == 1
        assert message in capsys.readouterr().err
    empty = tmp_path / "prompts.yaml"
    empty.write_text("Edema: []\nNo Finding: [a normal chest x-ray]\n")
    assert main(["zeroshot", "--checkpoint", str(run), "--data", str(data), "--prompts", str(empty)]) == 1
    assert "empty prompt list" in capsys.readouterr().err
    assert main(["finetune", "--task", "segmentation", "--finding", "Broken Heart", "--checkpoint", str(run),
                 "--data", str(data)]) == 1
    assert "unknown finding" in capsys.readouterr().err
    assert main(["zeroshot", "--checkpoint", str(run)]) == 1
    assert "either --data" in capsys.readouterr().err
    assert main(["generate", "--report-run", str(tmp_path), "--checkpoint", str(run), "--data", str(data)]) == 1
    assert "cogaze train-report --run-dir" in capsys.readouterr().err


def _shenzhen_tree(tmp_path, n=6):
    """A Shenzhen-layout downstream set (split files + PNGs), labels alternating 0/1 in every split."""
    from PIL import Image

    split, images = tmp_path / "split", tmp_path / "CXR_png"
    split.mkdir()
    images.mkdir()
    rng = np.random.default_rng(0)
    k = 0
    for name in ("train", "val", "test"):
        lines = []
        for i in range(n):
            label = i % 2
            file = f"CHNCXR_{k:04d}_{label}.png"
            Image.fromarray(rng.integers(0, 255, (40, 48), dtype=np.uint8)).save(images / file)
            lines.append(f"{file},{label}")
            k += 1
        (split / f"ShenzhenCXR_{name}_data.txt").write_text("\n".join(lines) + "\n")
    return split, images


def test_downstream_dataset_source(setup, tmp_path):
    root, _, run = setup
    split, images = _shenzhen_tree(tmp_path)
    src = ["--checkpoint", str(run), "--dataset", "shenzhen", "--split-dir", str(split), "--image-root", str(images)]
    out = tmp_path / "zs.json"
    assert main(["zeroshot", *src, "--out", str(out)]) == 0  # paper prompts: tuberculosis vs normal
    res = json.loads(out.read_text())
    assert res["n_images"] == 6 and res["config"]["prompts"] == "paper"
    (name,) = res["class_names"]
    assert res["config"]["prompt_classes"] == {name: "tuberculosis"}
    _in_unit([res["per_class"][name]["AUROC"], res["per_class"][name]["accuracy"]])
    out = tmp_path / "cls.json"
    assert main(["finetune", "--task", "classification", *src, "--fractions", "100", "--seeds", "1",
                 "--out", str(out), "epochs=1"]) == 0
    res = json.loads(out.read_text())
    assert res["runs"][0]["n_train"] == 6
    _in_unit([res["metrics"]["AUROC@100%"], res["summary"]["100%"]["AUROC"]["mean"]])
    assert main(["zeroshot", "--checkpoint", str(run), "--dataset", "shenzhen"]) == 1


def _tbx11k_tree(tmp_path):
    """A TBX11K-layout set (stem split files + PNGs + data.csv) with TB boxes on every tb image."""
    from PIL import Image

    split, images = tmp_path / "tbx_split", tmp_path / "tbx_images"
    split.mkdir()
    images.mkdir()
    rng = np.random.default_rng(1)
    rows = [["fname", "bbox", "target"]]
    k = 0
    for name in ("train_1", "train_10", "train", "val", "test"):
        stems = []
        for i in range(4):
            stem = f"tb{k:04d}" if i % 2 else f"h{k:04d}"
            Image.fromarray(rng.integers(0, 255, (48, 48), dtype=np.uint8)).save(images / f"{stem}.png")
            stems.append(stem)
            if i % 2:
                rows.append([f"{stem}.png", "{'xmin': 8, 'ymin': 10, 'width': 20, 'height': 16}", "tb"])
            else:
                rows.append([f"{stem}.png", "none", "healthy"])
            k += 1
        (split / f"{name}.txt").write_text("\n".join(stems) + "\n")
    box_table = tmp_path / "data.csv"
    with box_table.open("w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    return split, images, box_table


def test_tbx11k_segmentation_needs_its_box_table(setup, tmp_path, capsys):
    """Without data.csv every TBX11K mask would be empty (a Dice of 100 % on nothing): refused, naming
    the option; with it Dice is computed on the real boxes."""
    _, _, run = setup
    split, images, box_table = _tbx11k_tree(tmp_path)
    src = ["--checkpoint", str(run), "--dataset", "tbx11k", "--split-dir", str(split), "--image-root", str(images)]
    out = tmp_path / "seg.json"
    args = ["finetune", "--task", "segmentation", *src, "--fractions", "100", "--seeds", "1", "--out", str(out),
            "epochs=1"]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "--box-table" in err and "empty" in err and not out.exists()
    assert main([*args, "--box-table", str(box_table)]) == 0
    res = json.loads(out.read_text())
    dice = [v for k, v in res["metrics"].items() if k.lower().startswith("dice")]
    assert dice and all(0.0 <= d < 1.0 for d in dice), res["metrics"]  # real masks: not the all-empty 1.0


def test_registry_is_the_one_dataset_list():
    from cogaze.data.downstream import REGISTRY, DatasetSpec, SideTables, get_dataset, register

    assert get_dataset("TBX11K").mask_table == "box_table" and get_dataset("nih").tables == ("data_entry",)
    with pytest.raises(ConfigError, match="known: nih, siim, rsna, tbx11k, shenzhen"):
        get_dataset("chexpert")
    with pytest.raises(ValueError, match="already registered"):
        register(REGISTRY["rsna"])
    assert SideTables(box_table="x.csv").given() == ["box_table"]
    assert isinstance(REGISTRY["siim"], DatasetSpec) and "segmentation" in REGISTRY["siim"].tasks
    with pytest.raises(ConfigError, match="does not support segmentation"):
        get_dataset("shenzhen").check_task("segmentation")
