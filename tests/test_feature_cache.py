"""Frozen-encoder feature cache (model.vision.cache_features): same loss as images, reuse, rebuild, errors."""

import json
import os
import pickle

import numpy as np
import pytest
import torch

from cogaze.config import load_config
from cogaze.data.dataset import load_dataset
from cogaze.data.pixels import ModelImages
from cogaze.errors import ConfigError, DataError
from cogaze.models.backbones import BackboneConfig, build_vision_backbone
from cogaze.models.cogaze import CoGazeModel, resolve_text_vocab
from cogaze.models.pretrained import image_geometry
from cogaze.models.tokenizer import load_tokenizer, train_tokenizer
from cogaze.tasks.pretrain.collate import PretrainCollator
from cogaze.tasks.pretrain.config import PretrainConfig
from cogaze.tasks.pretrain.feature_cache import FeatureCache, build_feature_cache
from cogaze.tasks.pretrain.pipeline import build_samples, pretrain
from cogaze.tasks.pretrain.pretrained import load_pretrained
from cogaze.tasks.pretrain.samples import PretrainSamples
from fixture_trees import build_dataset

TINY = [
    "model.vision.config.image_size=64", "model.vision.config.embedding_size=8",
    "model.vision.config.hidden_sizes=[8,16,32]", "model.text.config.hidden_size=32",
    "model.text.config.intermediate_size=64", "model.dim=32", "model.num_latents=4",
    "model.perceiver_depth=1", "model.perceiver_dim_head=8",
    "data.batch_size=2", "trainer.max_epochs=1", "trainer.matmul_precision=highest",  # CPU "medium" = bf16 matmuls
]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("fc")
    ds = build_dataset(root / "ds")
    train_tokenizer(["no focal consolidation pleural effusion", "fever cough"] * 5, root / "tok", vocab_size=300)
    return ds, root / "tok"


def _config(tok, *extra):
    return load_config(PretrainConfig, "configs/pretrain/phantom-scratch.yaml", [f"model.tokenizer={tok}", *TINY, "model.train_vision=false", *extra])


def _first_loss(run):
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    return next(r for r in rows if r["split"] == "train")


def test_training_from_cache_matches_images_and_cache_is_reused(data, tmp_path, caplog):
    ds, tok = data
    plain, cached = tmp_path / "plain", tmp_path / "cached"
    pretrain(_config(tok), ds, plain)
    with caplog.at_level("INFO", logger="cogaze.pretrain"):
        pretrain(_config(tok, "model.vision.cache_features=true"), ds, cached)
    assert "vision feature cache" in caplog.text and "(built)" in caplog.text
    a, b = _first_loss(plain), _first_loss(cached)
    for key in ("loss", "contrastive", "cls_vision", "cls_report", "gaze"):
        # fp16 storage of the backbone tokens: step-1 losses agree to 1e-3 relative.
        assert b[key] == pytest.approx(a[key], rel=1e-3), key
    assert not (plain / "vision_features").exists()
    folder = cached / "vision_features"
    info = json.loads((folder / "index.json").read_text())
    assert info["dtype"] == "float16" and sorted(info["ids"]) == ["d1", "d2", "d3"]  # train + val images
    assert info["shape"] == [3, 1 + (64 // 16) ** 2, 32]

    # The cache holds what the trained model's frozen backbone gives (same seed-built weights).
    enc = load_pretrained(cached)
    cache = FeatureCache(folder)
    rec = next(r for r in load_dataset(ds).records if r.dicom_id == "d1")
    px = ModelImages(image_geometry(enc.model.config)).pixels(rec.dicom_id, rec.image_path)  # training's decode
    with torch.no_grad():
        want = enc.model.encode_images(px[None])[0]
    assert torch.allclose(cache.features("d1"), want, atol=2e-3, rtol=1e-3)

    # Second run on the same folder: reused (array untouched); another image size: rebuilt.
    array = folder / info["array"]
    before = array.stat().st_mtime_ns
    records = load_dataset(ds).records
    caplog.clear()
    with caplog.at_level("INFO", logger="cogaze.pretrain"):
        train, val = build_samples(_config(tok, "model.vision.cache_features=true"), records, cached)
    assert "up to date" in caplog.text and array.stat().st_mtime_ns == before
    assert set(train[0]) >= {"vision_features"} and "pixel_values" not in train[0]
    assert train[0]["vision_features"].dtype == torch.float32 and len(val) == 1
    train, _ = build_samples(_config(tok, "model.vision.cache_features=true", "model.vision.config.image_size=96"),
                             records, cached)
    info2 = json.loads((folder / "index.json").read_text())
    assert info2["shape"] == [3, 1 + 6 ** 2, 32] and info2["fingerprint"] != info["fingerprint"]
    assert not array.exists() and train[0]["vision_features"].shape == (37, 32)


def test_fp32_cache_gives_exactly_the_image_loss(data, tmp_path):
    ds, tok = data
    config = _config(tok)
    tokenizer = load_tokenizer(str(tok))
    torch.manual_seed(0)
    model = CoGazeModel(resolve_text_vocab(config.model, tokenizer)).train()
    records = load_dataset(ds).records.split("train")
    geometry = image_geometry(config.model)
    result = build_feature_cache(records, model.vision_backbone, geometry, tmp_path / "f32", batch_size=len(records),
                                 dtype="float32")
    assert result.rebuilt and result.images == 2
    plain = PretrainSamples(records, geometry)
    cached = PretrainSamples(records, geometry, features=FeatureCache(tmp_path / "f32"))
    col = PretrainCollator(tokenizer, 32)
    torch.manual_seed(3)  # same dropout masks for both
    a = model(col([plain[i] for i in range(2)]))
    torch.manual_seed(3)
    b = model(col([cached[i] for i in range(2)]))
    assert model.vision_backbone.training is False
    for key, value in a.losses.items():
        assert torch.equal(value, b.losses[key]), key  # fp32 store, same encoder batch: bit-identical


def test_corrupt_or_missing_cache_files(data, tmp_path):
    ds, _ = data
    records = load_dataset(ds).records.split("train")
    spec = BackboneConfig(model_type="dinov2", config={"hidden_size": 16, "num_hidden_layers": 1,
                          "num_attention_heads": 2, "intermediate_size": 32, "image_size": 28, "patch_size": 14})
    torch.manual_seed(0)
    backbone = build_vision_backbone(spec)
    geometry = image_geometry(type("C", (), {"vision": spec})())
    folder = tmp_path / "fc"
    first = build_feature_cache(records, backbone, geometry, folder)
    assert first.rebuilt and not build_feature_cache(records, backbone, geometry, folder).rebuilt
    array = next(folder.glob("features-*.npy"))
    good = FeatureCache(folder).features("d2").clone()

    array.write_bytes(array.read_bytes()[:200])  # truncated
    with pytest.raises(DataError, match=r"features-.*\.npy.*corrupt feature cache array"):
        FeatureCache(folder)
    again = build_feature_cache(records, backbone, geometry, folder)
    assert again.rebuilt and torch.equal(FeatureCache(folder).features("d2"), good)

    next(folder.glob("features-*.npy")).unlink()
    with pytest.raises(DataError, match="feature cache array not found"):
        FeatureCache(folder)
    (folder / "index.json").write_text("{not json")
    with pytest.raises(DataError, match=r"index.json: corrupt feature cache index"):
        FeatureCache(folder)
    assert build_feature_cache(records, backbone, geometry, folder).rebuilt
    with pytest.raises(DataError, match="image d9 is not in the feature cache"):
        FeatureCache(folder).features("d9")
    opened = FeatureCache(folder)
    opened.features("d1")  # map open; a pickled copy (DataLoader worker) reopens its own
    clone = pickle.loads(pickle.dumps(opened))
    assert clone._array is None and torch.equal(clone.features("d1"), opened.features("d1"))
    # Changed weights (another seed) -> another fingerprint -> rebuilt.
    torch.manual_seed(1)
    assert build_feature_cache(records, build_vision_backbone(spec), geometry, folder).rebuilt
    # A changed image file -> rebuilt.
    os.utime(records[0].image_path, ns=(1, 1))
    assert build_feature_cache(records, build_vision_backbone(spec), geometry, folder).rebuilt
    assert np.load(next(folder.glob("features-*.npy")), mmap_mode="r").dtype == np.float16


def test_cache_refused_with_trained_backbone(data, tmp_path):
    ds, tok = data
    config = _config(tok, "model.vision.cache_features=true", "model.train_vision=true")
    with pytest.raises(ConfigError, match="trained backbone .*cannot be cached"):
        build_samples(config, load_dataset(ds).records, tmp_path)
    with pytest.raises(ConfigError, match="cannot be cached"):
        pretrain(config, ds, tmp_path / "run")
    with pytest.raises(ConfigError, match="only the frozen vision backbone"):
        CoGazeModel(resolve_text_vocab(_config(tok, "model.text.cache_features=true").model,
                                       type("T", (), {"__len__": lambda s: 300, "pad_token_id": 0})()))


def test_runs_share_caches_and_preloaded_records(data, tmp_path, caplog):
    """Two runs (e.g. ablations) on one dataset: one feature cache and one gaze cache, built once; the
    second run takes the already-loaded records and gives the same step-1 losses as the first."""
    ds, tok = data
    records = load_dataset(ds).records
    shared = tmp_path / "caches"
    shared.mkdir()
    kw = {"gaze_cache": shared / "gaze.safetensors", "feature_cache": shared / "vision_features"}
    with caplog.at_level("INFO", logger="cogaze.pretrain"):
        pretrain(_config(tok, "model.vision.cache_features=true"), ds, tmp_path / "a", **kw)
    assert caplog.text.count("(built)") == 2  # gaze + feature cache
    array = next((shared / "vision_features").glob("*.npy"), None) or next(
        p for p in (shared / "vision_features").iterdir() if p.name != "index.json")
    before = array.stat().st_mtime_ns
    caplog.clear()
    with caplog.at_level("INFO", logger="cogaze.pretrain"):
        pretrain(_config(tok, "model.vision.cache_features=true"), ds, tmp_path / "b", records=records, **kw)
    assert "(built)" not in caplog.text and caplog.text.count("up to date") == 2
    assert array.stat().st_mtime_ns == before
    assert not (tmp_path / "b" / "vision_features").exists() and not (tmp_path / "b" / "gaze.safetensors").exists()
    assert _first_loss(tmp_path / "a") == _first_loss(tmp_path / "b")
