"""Backbones, tokenizer and preprocessing by hub id from a local Hugging Face cache (offline), as by folder."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import torch
from transformers import GPT2Config

from cogaze.cli import main
from cogaze.config import load_config
from cogaze.errors import ConfigError
from cogaze.models.backbones import BackboneConfig, PreprocessConfig, build_text_trunk, build_vision_backbone
from cogaze.models.cogaze import ModelConfig
from cogaze.models.pretrained import image_geometry
from cogaze.models.tokenizer import train_tokenizer
from cogaze.resources import config_path
from cogaze.tasks.pretrain.config import PretrainConfig
from cogaze.tasks.pretrain.pretrained import load_pretrained
from fixture_trees import build_dataset
from hub_cache import (
    CXR_BERT,
    RAD_DINO,
    RAD_DINO_PROCESSOR,
    put,
    rad_dino_processor,
    tiny_cxr_bert,
    tiny_rad_dino,
    use_cache,
)
from pretrain_helpers import FINDINGS


def _vision(preprocess: dict | None = None) -> ModelConfig:
    return ModelConfig(vision=BackboneConfig(source=RAD_DINO, model_type="dinov2",
                                             preprocess=PreprocessConfig(**(preprocess or {}))))


def test_rad_dino_hub_id_reads_its_processor_config(tmp_path, monkeypatch):
    cache = use_cache(monkeypatch, tmp_path)
    put(cache, RAD_DINO, tiny_rad_dino(tmp_path / "rd", image_size=518, processor=RAD_DINO_PROCESSOR))
    geometry = image_geometry(_vision())
    assert geometry.size == 518 and geometry.mean == (0.5307,) * 3 and geometry.std == (0.2583,) * 3
    white = geometry.transform_image(np.full((600, 700), 255, np.uint8))  # shortest edge 600 -> 518, centre crop
    assert white.shape == (3, 518, 518)
    assert np.allclose(white, (1 - 0.5307) / 0.2583, atol=1e-5)
    model = build_vision_backbone(BackboneConfig(source=RAD_DINO, model_type="dinov2"))
    assert model.config.image_size == 518 and not model.training


def test_hub_id_without_processor_config_is_refused_not_normalised(tmp_path, monkeypatch):
    cache = use_cache(monkeypatch, tmp_path)
    put(cache, RAD_DINO, tiny_rad_dino(tmp_path / "rd", image_size=518, processor=None))
    with pytest.raises(ConfigError) as err:
        image_geometry(_vision())
    text = str(err.value)
    assert "no preprocessor_config.json" in text and RAD_DINO in text and "never guesses" in text
    for key in ("preprocess.size", "preprocess.crop", "preprocess.mean", "preprocess.std"):
        assert f"model.vision.{key}" in text
    # passed explicitly, the values are used as given
    explicit = image_geometry(_vision(preprocess={"size": 518, "crop": 518, "mean": [0.5307], "std": [0.2583]}))
    assert explicit.size == 518 and explicit.mean == (0.5307,) * 3 and explicit.std == (0.2583,) * 3
    with pytest.raises(ConfigError, match="std not set"):
        image_geometry(_vision(preprocess={"size": 518, "mean": [0.5]}))
    with pytest.raises(ConfigError, match="crop=500 must equal size=518"):
        image_geometry(_vision(preprocess={"size": 518, "crop": 500, "mean": [0.5], "std": [0.2]}))


def test_processor_config_that_cogaze_cannot_reproduce_is_refused(tmp_path, monkeypatch):
    cache = use_cache(monkeypatch, tmp_path)
    cases = {
        "resample": ({"resample": 2}, "bicubic"),
        "no crop": ({"do_center_crop": False}, "no centre crop"),
        "squash": ({"size": {"height": 518, "width": 518}}, "unsupported size"),
        "no mean": ({"image_mean": None}, "image_mean must list"),
    }
    for name, (change, message) in cases.items():
        processor = {k: v for k, v in {**RAD_DINO_PROCESSOR, **change}.items() if v is not None}
        put(cache, RAD_DINO, tiny_rad_dino(tmp_path / name, image_size=518, processor=processor))
        with pytest.raises(Exception, match=message) as err:
            image_geometry(_vision())
        assert "preprocessor_config.json" in str(err.value), name
    put(cache, RAD_DINO, tiny_rad_dino(tmp_path / "size", image_size=224, processor=RAD_DINO_PROCESSOR))
    with pytest.raises(ConfigError, match="crops 518 px but the backbone config says image_size 224"):
        image_geometry(_vision())


def test_cxr_bert_layout_gives_its_bert_trunk(tmp_path, monkeypatch, caplog):
    cache = use_cache(monkeypatch, tmp_path)
    saved = tiny_cxr_bert(tmp_path / "cxr", layers=6)
    put(cache, CXR_BERT, tmp_path / "cxr")
    spec = BackboneConfig(source=CXR_BERT, model_type="bert")
    with caplog.at_level(logging.INFO, logger="cogaze.models"):
        trunk = build_text_trunk(spec, num_layers=4, vocab_size=300, pad_token_id=0)
    assert type(trunk).__name__ == "BertModel" and trunk.config.num_hidden_layers == 4
    for key, value in trunk.state_dict().items():
        if key.startswith("embeddings.word_embeddings"):
            assert value.shape == (300, 16)  # new rows for the cogaze tokenizer
        else:
            assert torch.equal(value, saved["bert." + key]), key  # every other trunk tensor is CXR-BERT's
    assert "cls_projection_head.* (6 tensors)" in caplog.text and "cls.* (" in caplog.text
    assert "bert.encoder.layer.4-5" in caplog.text and "word embeddings sized for the cogaze tokenizer" in caplog.text
    # a checkpoint whose trunk is not found under the expected names is refused, not left at random init
    renamed = {k.replace("bert.", "roberta.", 1): v for k, v in saved.items()}
    from safetensors.torch import save_file

    save_file(renamed, str(tmp_path / "cxr" / "model.safetensors"))
    put(cache, CXR_BERT, tmp_path / "cxr")
    with pytest.raises(ConfigError, match="missing .*encoder.layer.0.*randomly initialised"):
        build_text_trunk(spec, num_layers=4, vocab_size=300, pad_token_id=0)


class _Payload:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))  # would create the marker file if unpickled


def test_pickled_or_damaged_backbone_weights_are_clean_errors(tmp_path):
    from transformers import Dinov2Config

    marker = tmp_path / "EXECUTED"
    pickled = tmp_path / "pickled"
    Dinov2Config(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                 image_size=28, patch_size=14).save_pretrained(pickled)
    torch.save({"embeddings.cls_token": _Payload(str(marker))}, pickled / "pytorch_model.bin")
    with pytest.raises(ConfigError) as err:
        build_vision_backbone(BackboneConfig(source=str(pickled)))
    assert str(pickled / "pytorch_model.bin") in str(err.value) and "pickled Python objects" in str(err.value)
    assert not marker.exists()
    damaged = tmp_path / "damaged"
    tiny_rad_dino(damaged)
    (damaged / "model.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(ConfigError) as err:
        build_vision_backbone(BackboneConfig(source=str(damaged)))
    assert str(damaged / "model.safetensors") in str(err.value) and "not a readable safetensors file" in str(err.value)


def test_mimic_paper_config_resolves_every_hub_id_offline(tmp_path, monkeypatch, capsys):
    """configs/pretrain/mimic-paper.yaml as shipped (sizes scaled down): Rad-DINO, CXR-BERT and the gpt2
    tokenizer all by hub id from the cache, `cogaze pretrain` runs, the run loads with Rad-DINO's statistics."""
    cache = use_cache(monkeypatch, tmp_path)
    put(cache, RAD_DINO, tiny_rad_dino(tmp_path / "rd", image_size=28, processor=rad_dino_processor(28)))
    tiny_cxr_bert(tmp_path / "cxr", layers=6)
    put(cache, CXR_BERT, tmp_path / "cxr")
    train_tokenizer(FINDINGS * 5 + ["fever cough ascites effusion heart"], tmp_path / "gpt2", vocab_size=300)
    GPT2Config(n_layer=1, n_embd=8, n_head=2).save_pretrained(tmp_path / "gpt2")  # the hub repo has both
    put(cache, "gpt2", tmp_path / "gpt2")
    paper = load_config(PretrainConfig, config_path("pretrain/mimic-paper.yaml"))
    assert (paper.model.vision.source, paper.model.text.source, paper.model.tokenizer) == (RAD_DINO, CXR_BERT, "gpt2")
    data = build_dataset(tmp_path / "ds")
    run = tmp_path / "run"
    small = ["model.dim=16", "model.num_latents=4", "model.perceiver_depth=1", "model.perceiver_heads=2",
             "model.perceiver_dim_head=8", "model.max_text_length=64", "data.batch_size=2", "data.num_workers=0",
             "trainer.max_epochs=1", "trainer.accumulate_grad_batches=1"]
    assert main(["pretrain", "--config", str(config_path("pretrain/mimic-paper.yaml")), "--data", str(data),
                 "--run-dir", str(run), *small]) == 0
    capsys.readouterr()
    saved = json.loads((run / "checkpoints" / "last.json").read_text())
    assert (run / "checkpoints" / saved["path"] / "model.safetensors").is_file()
    assert (run / "tokenizer" / "tokenizer.json").is_file()  # the hub tokenizer copied into the run
    encoder = load_pretrained(run)
    assert encoder.geometry.size == 28 and encoder.geometry.mean == (0.5307,) * 3
    assert encoder.model.text_encoder.config.num_hidden_layers == 6
