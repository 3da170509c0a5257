"""Backbone pretraining (the phantom's Rad-DINO stand-in): it learns, selects the best epoch, saves a
folder that ``model.vision.source`` loads with the same weights, is deterministic, rejects bad input;
``configs/pretrain/phantom-tiny.yaml`` trains on top of it, frozen and from the feature cache."""

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from cogaze.cli import main
from cogaze.config import load_config
from cogaze.data.dataset import load_dataset
from cogaze.data.phantom.generate import generate_phantom
from cogaze.data.records import BLANK
from cogaze.errors import ConfigError, DataError
from cogaze.models.backbones import BackboneConfig, build_vision_backbone, vision_tokens
from cogaze.models.pretrained import image_geometry
from cogaze.models.tokenizer import train_tokenizer
from cogaze.tasks.backbone import BackboneTrainConfig, mean_auroc, train_backbone
from cogaze.tasks.pretrain.config import PretrainConfig
from cogaze.tasks.pretrain.pipeline import pretrain
from cogaze.tasks.pretrain.pretrained import load_pretrained

SMALL = {"num_channels": 3, "embedding_size": 8, "hidden_sizes": [8, 16, 32], "depths": [1, 1, 1],
         "layer_type": "basic", "image_size": 64}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus") / "phantom"
    generate_phantom(root, n_patients=30, seed=11, image_size=64, gaze_fraction=0.3, subtlety=0.0,
                     val_fraction=0.2, test_fraction=0.0)
    recs = load_dataset(root).records
    return root, list(recs.split("train")), list(recs.split("val"))


def _cfg(**kw):
    return BackboneTrainConfig(**{"config": dict(SMALL), "batch_size": 8, "epochs": 4, "lr": 3e-3, **kw})


@pytest.fixture(scope="module")
def trained(corpus, tmp_path_factory):
    _, train, val = corpus
    out = tmp_path_factory.mktemp("bb") / "backbone"
    return train_backbone(train, val, out, _cfg()), train, val


def test_mean_auroc_is_sklearn_on_usable_columns():
    y = np.array([[1, 0, 1], [0, 0, 1], [1, 0, 1], [0, 0, 1]])
    s = np.array([[0.9, 0.1, 0.2], [0.2, 0.3, 0.5], [0.4, 0.2, 0.1], [0.5, 0.9, 0.3]])
    # column 0: positives {0.9, 0.4} vs negatives {0.2, 0.5}: 3 of 4 pairs ordered -> 0.75; 1 and 2 constant labels
    assert mean_auroc(y, s) == pytest.approx(0.75)
    assert np.isnan(mean_auroc(y[:, 1:], s[:, 1:]))


def test_backbone_learns_and_keeps_its_best_epoch(trained):
    result, train, val = trained
    losses = [h["train_loss"] for h in result.history]
    assert len(losses) == 4 and losses[-1] < 0.9 * losses[0]
    aurocs = [h["val_mean_auroc"] for h in result.history]
    assert result.best_val_auroc == pytest.approx(max(aurocs))
    assert result.best_epoch == 1 + int(np.argmax(aurocs))
    assert (result.n_train, result.n_val) == (len(train), len(val))
    info = json.loads((result.out_dir / "backbone_train.json").read_text())
    assert info["best_epoch"] == result.best_epoch and len(info["history"]) == 4
    assert not [p for p in result.out_dir.parent.iterdir() if p.name.startswith(".")]  # no temp folder left


def test_saved_folder_loads_as_the_frozen_vision_source(trained, corpus):
    result, _, val = trained
    files = {p.name for p in result.out_dir.iterdir()}
    assert {"config.json", "model.safetensors", "train_config.yaml"} <= files
    assert not any(name.endswith((".bin", ".pt", ".pth")) for name in files)  # no pickled weights
    model = build_vision_backbone(BackboneConfig(source=str(result.out_dir), model_type="resnet"))
    saved = load_file(str(result.out_dir / "model.safetensors"))
    state = model.state_dict()
    assert all(torch.equal(state[k], v) for k, v in saved.items() if k in state)
    assert not any(p.requires_grad for p in model.parameters()) and not model.training
    x = torch.randn(2, 3, 64, 64)
    tokens = vision_tokens(model, x)
    assert tokens.shape == (2, 1 + 4 * 4, 32)
    assert torch.equal(tokens, vision_tokens(model, x))


def test_same_seed_same_weights(trained, tmp_path):
    result, train, val = trained
    again = train_backbone(train, val, tmp_path / "again", _cfg())
    a = load_file(str(result.out_dir / "model.safetensors"))
    b = load_file(str(again.out_dir / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    other = train_backbone(train, val, tmp_path / "other", _cfg(seed=1))
    c = load_file(str(other.out_dir / "model.safetensors"))
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_bad_input_is_named(corpus, tmp_path):
    root, train, val = corpus
    with pytest.raises(DataError, match="fewer than one batch"):
        train_backbone(train[:3], val, tmp_path / "b1", _cfg())
    with pytest.raises(DataError, match="no validation images"):
        train_backbone(train, [], tmp_path / "b2", _cfg())
    with pytest.raises(ConfigError, match="image_size"):
        train_backbone(train, val, tmp_path / "b3", BackboneTrainConfig(config={"num_channels": 3}, batch_size=8))
    with pytest.raises(ConfigError, match="epochs"):
        train_backbone(train, val, tmp_path / "b4", _cfg(epochs=0))
    unlabelled = [replace(r, raw_labels=(BLANK,) * 14) for r in train]
    with pytest.raises(DataError, match="positive label"):
        train_backbone(unlabelled, val, tmp_path / "b5", _cfg())
    # a corrupt image names its file
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not a jpeg")
    broken = [replace(train[0], image_path=bad), *train[1:]]
    with pytest.raises(DataError, match="broken.jpg"):
        train_backbone(broken, val, tmp_path / "b6", _cfg())
    # an existing folder that is not a backbone is never overwritten
    keep = tmp_path / "keep"
    keep.mkdir()
    (keep / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="refusing"):
        train_backbone(train, val, keep, _cfg(epochs=1))
    assert (keep / "notes.txt").read_text() == "mine"


def test_cli_trains_and_phantom_tiny_pretrains_on_it(corpus, tmp_path):
    root, _, _ = corpus
    bb = tmp_path / "backbone"
    yaml = tmp_path / "bb.yaml"
    yaml.write_text("config: {num_channels: 3, embedding_size: 8, hidden_sizes: [8, 16, 32], depths: [1, 1, 1], "
                    "layer_type: basic, image_size: 64}\nbatch_size: 8\n")
    assert main(["backbone", "train", str(root), "--out", str(bb), "--config", str(yaml), "epochs=1"]) == 0
    assert json.loads((bb / "backbone_train.json").read_text())["n_train"] > 0
    assert main(["backbone", "train", str(root), "--out", str(bb), "epochs=1", "no_such_key=1"]) == 1

    tok = tmp_path / "tok"
    recs = load_dataset(root).records
    train_tokenizer([r.findings for r in recs if r.findings], tok, vocab_size=300)
    cfg = load_config(PretrainConfig, "configs/pretrain/phantom-tiny.yaml", [
        f"model.tokenizer={tok}", f"model.vision.source={bb}", "model.text.config.hidden_size=32",
        "model.text.config.intermediate_size=64", "model.dim=32", "model.num_latents=4", "model.perceiver_depth=1",
        "data.batch_size=8", "trainer.max_epochs=1"])
    assert cfg.model.vision.cache_features and not cfg.model.train_vision
    assert image_geometry(cfg.model).size == 64  # read from the backbone folder's config
    run = tmp_path / "run"
    summary = pretrain(cfg, root, run)
    assert summary["epochs"] == 1 and (run / "vision_features").is_dir()
    enc = load_pretrained(run)
    frozen = build_vision_backbone(BackboneConfig(source=str(bb), model_type="resnet",
                                                  config=dict(cfg.model.vision.config)))
    x = torch.randn(2, 3, 64, 64)
    tokens = enc.model.encode_images(x)
    assert torch.equal(tokens, vision_tokens(frozen, x))  # the backbone stayed frozen
    # phantom-tiny's tokens: three stages (token_stages: 3) + 16 position channels (token_position: 4), on the
    # second stage's grid (token_grid_stage: 2): stride 8, 8x8 patches at 64 px
    assert tokens.shape == (2, 1 + 8 * 8, 8 + 16 + 32 + 16)

    # Portable run folders: a copy loads from another working directory; a tree moved as a whole loads
    # through the path relative to the run; a missing backbone folder fails at once, naming its paths.
    import os
    import shutil
    import time

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copytree(run, elsewhere / "run-copy", ignore=shutil.ignore_patterns("vision_features"))
    cwd = os.getcwd()
    try:
        os.chdir(elsewhere)
        copy = load_pretrained("run-copy")
        assert torch.equal(copy.model.encode_images(x), enc.model.encode_images(x))
        moved = tmp_path / "moved"
        moved.mkdir()
        shutil.move(str(run), moved / "run")
        shutil.move(str(bb), moved / "backbone")
        assert torch.equal(load_pretrained(moved / "run").model.encode_images(x), enc.model.encode_images(x))
        shutil.rmtree(moved / "backbone")
        start = time.perf_counter()
        with pytest.raises(ConfigError, match="vision backbone folder of this run is missing") as err:
            load_pretrained(moved / "run")
        assert time.perf_counter() - start < 1.0 and str(bb) in str(err.value)
    finally:
        os.chdir(cwd)


def test_missing_backbone_folder_says_how_to_make_one(tmp_path):
    with pytest.raises(ConfigError, match="cogaze backbone train"):
        build_vision_backbone(BackboneConfig(source=str(tmp_path / "runs" / "backbone"), model_type="resnet"))
