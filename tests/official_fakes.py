"""Synthetic checkpoints in the authors' format (github mk-runner/CoGaze), written from their module names.

Names and shapes follow the reference modules, not cogaze's: ``image_projector`` (VisionProjectorMLP:
``add_pos_embed.pos_embed`` (V, 1, Dv), ``pos_norm``, ``projector`` Dv -> 2d -> d), ``text_projector.layers``
(Ht -> 2d -> d), the lucidrains Perceiver (``perceiver.layers.i.{0: cross-attn, 1: cross-ff, 2: self blocks}``,
PreNorm ``fn`` / ``norm`` / ``norm_context``, FeedForward ``net.0`` d -> 2*mult*d, ``net.2`` mult*d -> d),
``shared_latent``, ``latent_type_embed``, ``{vision,report}_classifier.classifier``, ``logit_scale(_gaze)``,
the CXR-BERT text encoder (``text_encoder.bert.*``, ``text_encoder.cls.*``, ``text_encoder.cls_projection_head.*``)
and, for the report model, a GPT-2 with cross-attention under ``language_model.encoder_decoder.decoder.``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from transformers import BertConfig, BertModel, GPT2Config, GPT2LMHeadModel

DECODER_PREFIX = "language_model.encoder_decoder.decoder."
IGNORED_KEYS = ["perceiver.latents", "text_encoder.cls.predictions.bias",
                "text_encoder.cls.predictions.transform.dense.weight",
                "text_encoder.cls_projection_head.dense_to_hidden.weight"]


@dataclass
class Dims:
    d: int = 16  # shared width (their decoder hidden size)
    latents: int = 4
    depth: int = 1
    self_per_cross: int = 1
    heads: int = 2
    dim_head: int = 8
    ff_mult: int = 4
    views: int = 15
    vision_dim: int = 32
    text_hidden: int = 16
    text_layers: int = 6
    text_positions: int = 320
    vocab: int = 300
    classes: int = 14


def _attn(st: dict, key: str, d: int, inner: int, r) -> None:  # noqa: ANN001
    st[f"{key}.fn.to_q.weight"] = r(inner, d)
    st[f"{key}.fn.to_kv.weight"] = r(2 * inner, d)
    st[f"{key}.fn.to_out.weight"] = r(d, inner)
    st[f"{key}.fn.to_out.bias"] = r(d)
    st[f"{key}.norm.weight"] = 1 + 0.1 * r(d)
    st[f"{key}.norm.bias"] = r(d)


def _ff(st: dict, key: str, d: int, mult: int, r) -> None:  # noqa: ANN001
    st[f"{key}.fn.net.0.weight"] = r(2 * mult * d, d)
    st[f"{key}.fn.net.0.bias"] = r(2 * mult * d)
    st[f"{key}.fn.net.2.weight"] = r(d, mult * d)
    st[f"{key}.fn.net.2.bias"] = r(d)
    st[f"{key}.norm.weight"] = 1 + 0.1 * r(d)
    st[f"{key}.norm.bias"] = r(d)


def encoder_state(dims: Dims, seed: int = 0, heads: bool = True) -> dict[str, Tensor]:
    """The CoGaze encoder part of their checkpoint (``heads``: disease classifiers and temperatures too)."""
    g = torch.Generator().manual_seed(seed)
    r = lambda *shape: 0.2 * torch.randn(*shape, generator=g)  # noqa: E731
    d, inner = dims.d, dims.heads * dims.dim_head
    st: dict[str, Tensor] = {}
    torch.manual_seed(seed)
    bert = BertModel(BertConfig(vocab_size=dims.vocab, hidden_size=dims.text_hidden, num_hidden_layers=dims.text_layers,
                                num_attention_heads=2, intermediate_size=2 * dims.text_hidden,
                                max_position_embeddings=dims.text_positions), add_pooling_layer=False)
    for key, value in bert.state_dict().items():
        st["text_encoder.bert." + key] = value + 0.01 * torch.randn(value.shape, generator=g)
    st["text_encoder.cls.predictions.bias"] = r(dims.vocab)
    st["text_encoder.cls.predictions.transform.dense.weight"] = r(dims.text_hidden, dims.text_hidden)
    st["text_encoder.cls_projection_head.dense_to_hidden.weight"] = r(dims.text_hidden, dims.text_hidden)
    st["image_projector.add_pos_embed.pos_embed"] = r(dims.views, 1, dims.vision_dim)
    st["image_projector.add_pos_embed.pos_norm.weight"] = 1 + 0.1 * r(dims.vision_dim)
    st["image_projector.projector.0.weight"] = r(2 * d, dims.vision_dim)
    st["image_projector.projector.0.bias"] = r(2 * d)
    st["image_projector.projector.2.weight"] = r(d, 2 * d)
    st["image_projector.projector.2.bias"] = r(d)
    st["text_projector.layers.0.weight"] = r(2 * d, dims.text_hidden)
    st["text_projector.layers.0.bias"] = r(2 * d)
    st["text_projector.layers.2.weight"] = r(d, 2 * d)
    st["text_projector.layers.2.bias"] = r(d)
    for i in range(dims.depth):
        _attn(st, f"perceiver.layers.{i}.0", d, inner, r)
        st[f"perceiver.layers.{i}.0.norm_context.weight"] = 1 + 0.1 * r(d)
        st[f"perceiver.layers.{i}.0.norm_context.bias"] = r(d)
        _ff(st, f"perceiver.layers.{i}.1", d, dims.ff_mult, r)
        for j in range(dims.self_per_cross):
            _attn(st, f"perceiver.layers.{i}.2.{j}.0", d, inner, r)
            _ff(st, f"perceiver.layers.{i}.2.{j}.1", d, dims.ff_mult, r)
    st["perceiver.latents"] = r(dims.latents, d)
    st["shared_latent"] = r(dims.latents, d)
    st["latent_type_embed.context"] = r(1, d)
    st["latent_type_embed.image"] = r(1, d)
    if heads:
        for side in ("vision", "report"):
            st[f"{side}_classifier.classifier.weight"] = r(dims.classes, d)
            st[f"{side}_classifier.classifier.bias"] = r(dims.classes)
        st["logit_scale"] = torch.tensor(2.5)
        st["logit_scale_gaze"] = torch.tensor(1.5)
    return st


def decoder_state(dims: Dims, n_layer: int = 2, n_head: int = 2, n_positions: int = 128, seed: int = 1,
                  eos_id: int = 0, pad_id: int = 1) -> tuple[dict[str, Tensor], GPT2LMHeadModel]:
    """Their DistilGPT2-style decoder (GPT-2 + cross-attention, tied head) under the reference's prefix."""
    torch.manual_seed(seed)
    config = GPT2Config(vocab_size=dims.vocab, n_embd=dims.d, n_layer=n_layer, n_head=n_head, n_positions=n_positions,
                        add_cross_attention=True, is_decoder=True, bos_token_id=eos_id, eos_token_id=eos_id,
                        pad_token_id=pad_id, initializer_range=0.5)
    model = GPT2LMHeadModel(config).eval()
    return {DECODER_PREFIX + k: v.clone() for k, v in model.state_dict().items()}, model


def save_checkpoint(path, state: dict[str, Tensor]) -> None:  # noqa: ANN001
    """As the reference writes it: {'state_dict', 'optimizer_state', 'epoch'}."""
    optimizer = {"state": {0: {"step": torch.tensor(3.0), "exp_avg": torch.zeros(2)}},
                 "param_groups": [{"lr": 5e-5, "params": [0]}]}
    torch.save({"state_dict": state, "optimizer_state": optimizer, "epoch": 7}, path)
