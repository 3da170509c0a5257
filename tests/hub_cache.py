"""A local Hugging Face cache in a temporary folder, filled with tiny random models under hub ids.

``models--org--name/snapshots/<hash>/...`` + ``refs/main``: the layout ``huggingface_hub`` writes, so
hub ids load offline through the same code path a user's cached downloads take.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import torch
from safetensors.torch import save_file
from transformers import BertConfig, BertForMaskedLM, Dinov2Config, Dinov2Model

RAD_DINO = "microsoft/rad-dino"
CXR_BERT = "microsoft/BiomedVLP-CXR-BERT-specialized"
RAD_DINO_PROCESSOR = {  # microsoft/rad-dino's preprocessor_config.json (BitImageProcessor)
    "crop_size": {"height": 518, "width": 518}, "do_center_crop": True, "do_convert_rgb": True,
    "do_normalize": True, "do_rescale": True, "do_resize": True, "image_mean": [0.5307, 0.5307, 0.5307],
    "image_processor_type": "BitImageProcessor", "image_std": [0.2583, 0.2583, 0.2583], "resample": 3,
    "rescale_factor": 0.00392156862745098, "size": {"shortest_edge": 518},
}


def use_cache(monkeypatch, root: Path) -> Path:
    """Point huggingface_hub at ``root`` (offline) for this test; returns the hub cache folder."""
    from huggingface_hub import constants

    cache = root / "hub"
    cache.mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return cache


def put(cache: Path, repo_id: str, folder: Path) -> Path:
    """Copy a saved model folder into the cache under ``repo_id``; returns the snapshot folder."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    commit = hashlib.sha1(repo_id.encode()).hexdigest()
    snapshot = repo / "snapshots" / commit
    if snapshot.exists():
        shutil.rmtree(snapshot)
    shutil.copytree(folder, snapshot)
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(commit)
    return snapshot


def tiny_rad_dino(folder: Path, image_size: int = 28, processor: dict | None = None, seed: int = 0) -> Path:
    """A 1-layer Dinov2 (patch 14) saved like microsoft/rad-dino; ``processor`` = its preprocessor_config.json."""
    torch.manual_seed(seed)
    Dinov2Model(Dinov2Config(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                             image_size=image_size, patch_size=14)).save_pretrained(folder)
    if processor is not None:
        (folder / "preprocessor_config.json").write_text(json.dumps(processor))
    return folder


def rad_dino_processor(size: int) -> dict:
    """Rad-DINO's processor config at another size (tiny test models)."""
    return {**RAD_DINO_PROCESSOR, "crop_size": {"height": size, "width": size}, "size": {"shortest_edge": size}}


def tiny_cxr_bert(folder: Path, layers: int = 6, hidden: int = 16, positions: int = 320, seed: int = 0
                  ) -> dict[str, torch.Tensor]:
    """A BERT saved in CXR-BERT's layout: config ``model_type: cxr-bert`` / ``CXRBertModel`` with remote-code
    ``auto_map``; weights ``bert.*`` (trunk, no pooler), ``cls.*`` (MLM head) and ``cls_projection_head.*``.
    Returns the saved tensors."""
    torch.manual_seed(seed)
    cfg = BertConfig(vocab_size=120, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=2,
                     intermediate_size=2 * hidden, max_position_embeddings=positions)
    state = {k: v.clone().contiguous() for k, v in BertForMaskedLM(cfg).state_dict().items()}
    state.pop("cls.predictions.decoder.weight", None)  # tied to the word embeddings
    state["cls_projection_head.dense_to_hidden.weight"] = torch.randn(hidden, hidden)
    state["cls_projection_head.dense_to_hidden.bias"] = torch.randn(hidden)
    state["cls_projection_head.LayerNorm.weight"] = torch.ones(hidden)
    state["cls_projection_head.LayerNorm.bias"] = torch.zeros(hidden)
    state["cls_projection_head.dense_to_output.weight"] = torch.randn(8, hidden)
    state["cls_projection_head.dense_to_output.bias"] = torch.randn(8)
    folder.mkdir(parents=True, exist_ok=True)
    save_file(state, str(folder / "model.safetensors"))
    config = cfg.to_dict()
    config.update(architectures=["CXRBertModel"], model_type="cxr-bert", projection_size=8,
                  auto_map={"AutoConfig": "configuration_cxrbert.CXRBertConfig",
                            "AutoModel": "modeling_cxrbert.CXRBertModel"})
    (folder / "config.json").write_text(json.dumps(config))
    return state
