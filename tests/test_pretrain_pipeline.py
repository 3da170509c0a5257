"""`cogaze pretrain` end to end on a fixture dataset folder, then the run loaded as an encoder."""

import json

import torch

from cogaze.cli import main
from cogaze.models.interface import VisionLanguageEncoder
from cogaze.tasks.pretrain.pretrained import load_pretrained
from fixture_trees import build_dataset

TINY = [
    "model.vision.config.image_size=64", "model.vision.config.embedding_size=8",
    "model.vision.config.hidden_sizes=[8,16,32]", "model.text.config.hidden_size=32",
    "model.text.config.intermediate_size=64", "model.dim=32", "model.num_latents=4",
    "model.perceiver_depth=1", "model.perceiver_dim_head=8",
    "data.batch_size=2", "trainer.max_epochs=2",
]


def test_pretrain_cli_run_and_reload(tmp_path, capsys):
    data = build_dataset(tmp_path / "ds")
    tok = tmp_path / "tok"
    assert main(["tokenizer", "train", str(data), "--out", str(tok), "--vocab-size", "300"]) == 0
    run = tmp_path / "run"
    code = main(["pretrain", "--config", "configs/pretrain/phantom-scratch.yaml", "--data", str(data),
                 "--run-dir", str(run), f"model.tokenizer={tok}", *TINY])
    assert code == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["epochs"] == 2 and summary["steps"] >= 2
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert {r["split"] for r in rows} >= {"train"}
    assert all(torch.isfinite(torch.tensor(r["loss"])) for r in rows if "loss" in r)
    val_rows = [r for r in rows if r["split"] == "val"]
    assert len(val_rows) == 2  # the summary names the best-by-val-loss epoch (what load_pretrained uses)
    best = min(val_rows, key=lambda r: r["loss"])
    assert summary["best"]["epoch"] == best["epoch"] + 1
    assert summary["best"]["val"]["loss"] == best["loss"]
    assert summary["best"]["val"]["retrieval_top1"] == best["retrieval_top1"]
    assert (run / "tokenizer").is_dir() and (run / "gaze.safetensors").is_file()

    enc = load_pretrained(run)
    assert isinstance(enc, VisionLanguageEncoder)
    px = torch.randn(3, 3, enc.image_size, enc.image_size)
    feats = enc.encode_images(px, ["PA", "AP", "UNKNOWN"], ["fever", "", ""], ["", "", ""])
    assert feats.pooled.shape == (3, 32) and feats.latents.shape == (3, 4, 32)
    assert feats.patches.shape == (3, enc.grid * enc.grid, 32) and feats.logits.shape == (3, 14)
    again = enc.encode_images(px, ["PA", "AP", "UNKNOWN"], ["fever", "", ""], ["", "", ""])
    assert torch.equal(feats.pooled, again.pooled)
    assert enc.encode_texts(["no effusion", "cardiomegaly"]).shape == (2, 32)
    assert enc.encode_texts(["look at the heart"], kind="transcript").shape == (1, 32)
    sim = enc.patch_text_similarity(px, ["PA"] * 3, ["a", "b", "c"])
    assert sim.shape == (3, enc.grid * enc.grid)

    # cogaze explain on one of the dataset's images: one map per report sentence + scanpath + JSON.
    image = next(p for p in sorted((data / "files").rglob("*.jpg")))
    out = tmp_path / "explain"
    capsys.readouterr()
    assert main(["explain", "--checkpoint", str(run), "--image", str(image), "--view", "PA",
                 "--report", "Small left pleural effusion. Heart size is normal.", "--out", str(out)]) == 0
    explanation = json.loads((out / "explanation.json").read_text())
    printed = json.loads(capsys.readouterr().out)
    assert printed["files"] == [str(out / f) for f in explanation["files"]]  # every file written, listed
    assert sorted(p.name for p in out.iterdir()) == sorted(explanation["files"])
    assert printed["maps"] == 2 and "scanpath.png" in explanation["files"]
    assert main(["explain", "--checkpoint", str(tmp_path), "--image", str(image), "--out", str(out)]) == 1
    assert main(["explain", "--checkpoint", str(run), "--image", str(image), "--view", "SIDEWAYS",
                 "--out", str(out)]) == 1


def test_pretrain_cli_errors(tmp_path, capsys):
    assert main(["pretrain", "--data", str(tmp_path)]) == 1
    assert "--config is required" in capsys.readouterr().err
    assert main(["pretrain", "--config", "configs/pretrain/phantom-scratch.yaml", "--data", str(tmp_path),
                 "model.no_such_key=1"]) == 1
    assert "unknown config key 'model.no_such_key'" in capsys.readouterr().err
