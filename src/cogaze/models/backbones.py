"""Backbones through transformers Auto classes, from a hub id, a local directory or a config dict.

* Vision (spec 2.1): any ViT-like model whose ``last_hidden_state`` is ``[CLS] + patch tokens``
  (Rad-DINO = Dinov2). Always frozen and kept in eval mode.
* Text (spec 2.3): a BERT-like trunk cut to its first ``num_layers`` layers, vocabulary resized to the
  tokenizer; the word embeddings are freshly initialised when the vocabulary size differs (the
  pretrained checkpoint's rows belong to another tokenizer). No pooler: it would be an unused parameter.

Nothing here enables ``trust_remote_code``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import nn

from cogaze.config import help_field
from cogaze.errors import ConfigError


@dataclass
class BackboneConfig:
    """Where a backbone comes from. ``source`` empty = build from ``config`` with random weights."""

    source: str = help_field("", "Hub id or local directory of pretrained weights; empty = random init from `config`.")
    model_type: str = help_field("dinov2", "transformers model_type (dinov2, vit, bert, ...).")
    config: dict[str, Any] = help_field(
        help="Config keys overriding the source's (or the model_type defaults when source is empty).",
        default_factory=dict,
    )
    cache_features: bool = help_field(
        False, "Vision backbone only: `cogaze pretrain` encodes every train/val image once with the frozen "
        "backbone into a memory-mapped fp16 store in the run folder (RUN_DIR/vision_features/, reused while "
        "backbone, weights, image geometry and images are unchanged) and trains from it. Refused with "
        "model.train_vision=true.")


def _config(spec: BackboneConfig, **extra: Any):  # noqa: ANN202
    from transformers import CONFIG_MAPPING

    if spec.model_type not in CONFIG_MAPPING:
        raise ConfigError(f"unknown backbone model_type {spec.model_type!r}")
    cls = CONFIG_MAPPING[spec.model_type]
    kwargs = {**dict(spec.config), **extra}
    try:
        if spec.source:
            return cls.from_pretrained(spec.source, **kwargs)
        return cls(**kwargs)
    except (OSError, ValueError, TypeError) as err:
        where = spec.source or f"config {kwargs}"
        raise ConfigError(f"cannot build {spec.model_type} backbone from {where}: {str(err).splitlines()[0]}") from None


def _model(spec: BackboneConfig, cfg: Any, **kwargs: Any) -> nn.Module:
    from transformers import AutoModel

    if not spec.source:
        return AutoModel.from_config(cfg, **kwargs)
    try:
        return AutoModel.from_pretrained(spec.source, config=cfg, ignore_mismatched_sizes=True, **kwargs)
    except OSError as err:
        raise ConfigError(f"cannot load weights from {spec.source}: {str(err).splitlines()[0]}") from None


def build_vision_backbone(spec: BackboneConfig) -> nn.Module:
    """The frozen vision encoder (eval mode, ``requires_grad=False``)."""
    model = _model(spec, _config(spec))
    model.eval()
    model.requires_grad_(False)
    return model


def build_text_trunk(spec: BackboneConfig, num_layers: int, vocab_size: int, pad_token_id: int) -> nn.Module:
    """A BERT-like trunk with the first ``num_layers`` layers and ``vocab_size`` word embeddings."""
    cfg = _config(spec)
    if num_layers > 0:
        if num_layers > cfg.num_hidden_layers and spec.source:
            raise ConfigError(f"text trunk has {cfg.num_hidden_layers} layers, cannot keep {num_layers}")
        cfg.num_hidden_layers = num_layers
    pretrained_vocab = cfg.vocab_size
    cfg.vocab_size = vocab_size
    cfg.pad_token_id = pad_token_id
    kwargs = {"add_pooling_layer": False} if spec.model_type == "bert" else {}
    model = _model(spec, cfg, **kwargs)
    if spec.source and pretrained_vocab == vocab_size:
        # Same size by coincidence: the rows still belong to another tokenizer, so re-initialise them.
        emb = model.get_input_embeddings()
        if emb.weight.device.type != "meta":
            nn.init.normal_(emb.weight, std=getattr(cfg, "initializer_range", 0.02))
    return model


def vision_hidden_size(model: nn.Module) -> int:
    """Width of the vision encoder's tokens."""
    return int(model.config.hidden_size)


def num_patches(model: nn.Module) -> int:
    """Number of patch tokens (CLS excluded) at the configured image size."""
    cfg = model.config
    return (int(cfg.image_size) // int(cfg.patch_size)) ** 2
