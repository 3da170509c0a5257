"""Backbones through transformers Auto classes, from a hub id, a local directory or a config dict.

* Vision (spec 2.1): any ViT-like model whose ``last_hidden_state`` is ``[CLS] + patch tokens``
  (Rad-DINO = Dinov2), or a convolutional model (ResNet, ConvNeXt) whose ``(B, C, h, w)`` feature map
  becomes ``h*w`` patch tokens behind a global-average "[CLS]" (:func:`vision_tokens`). Frozen and in
  eval mode unless ``ModelConfig.train_vision`` says otherwise.
* Text (spec 2.3): a BERT-like trunk cut to its first ``num_layers`` layers, vocabulary resized to the
  tokenizer; the word embeddings are freshly initialised when the vocabulary size differs (the
  pretrained checkpoint's rows belong to another tokenizer). No pooler: it would be an unused parameter.

Nothing here enables ``trust_remote_code``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cogaze.config import help_field
from cogaze.errors import ConfigError
from cogaze.logs import quiet_local_model_bars


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
        hint = ""
        if spec.source and not Path(spec.source).is_dir():
            hint = (f" ({spec.source} is no local folder and the hub is offline or lacks it; a phantom config's "
                    "backbone folder is made by `cogaze backbone train CORPUS --out DIR`)")
        raise ConfigError(f"cannot build {spec.model_type} backbone from {where}: {str(err).splitlines()[0]}{hint}") from None


def _model(spec: BackboneConfig, cfg: Any, **kwargs: Any) -> Any:  # a transformers PreTrainedModel
    from transformers import AutoModel

    quiet_local_model_bars()  # no "Loading weights" bar per model built
    if not spec.source:
        return AutoModel.from_config(cfg, **kwargs)
    try:
        return AutoModel.from_pretrained(spec.source, config=cfg, ignore_mismatched_sizes=True, **kwargs)
    except OSError as err:
        raise ConfigError(f"cannot load weights from {spec.source}: {str(err).splitlines()[0]}") from None


def build_vision_backbone(spec: BackboneConfig) -> Any:  # a transformers PreTrainedModel
    """The frozen vision encoder (eval mode, ``requires_grad=False``)."""
    model = _model(spec, _config(spec))
    model.eval()
    model.requires_grad_(False)
    return model


def build_text_trunk(spec: BackboneConfig, num_layers: int, vocab_size: int, pad_token_id: int) -> Any:
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


# Convolutional backbones: output stride = stem stride * 2 per further stage (transformers' ResNet and
# ConvNeXt layouts). Their configs carry no image size, so the model config names one (`image_size`).
_CONV_STEM_STRIDE = {"resnet": 4, "convnext": 4, "convnextv2": 4}


def is_conv_backbone(cfg: Any) -> bool:
    """True for the convolutional model types whose feature map is turned into patch tokens."""
    return getattr(cfg, "model_type", "") in _CONV_STEM_STRIDE


def vision_hidden_size(cfg: Any) -> int:
    """Width of the vision encoder's tokens (a transformers config)."""
    if is_conv_backbone(cfg):
        return int(cfg.hidden_sizes[-1])
    return int(cfg.hidden_size)


def effective_patch_size(cfg: Any) -> int:
    """Pixels per patch token side: ``patch_size`` for ViTs, the output stride for conv models."""
    if not is_conv_backbone(cfg):
        return int(cfg.patch_size)
    stages = len(cfg.hidden_sizes)
    first = 2 if getattr(cfg, "downsample_in_first_stage", False) else 1
    return _CONV_STEM_STRIDE[cfg.model_type] * first * 2 ** (stages - 1)


def image_size_of(cfg: Any) -> int:
    """The input side a vision config expects (conv configs must set ``image_size`` in ``config``)."""
    size = getattr(cfg, "image_size", None)
    if not size:
        raise ConfigError(f"vision backbone {getattr(cfg, 'model_type', '?')} has no image_size: set "
                          "model.vision.config.image_size")
    return int(size if not isinstance(size, (list, tuple)) else size[0])


def patch_grid_side(cfg: Any) -> int:
    """Side of the square patch grid at the configured image size."""
    side, patch = image_size_of(cfg), effective_patch_size(cfg)
    if side % patch:
        raise ConfigError(f"image_size {side} is not a multiple of the backbone's patch/stride {patch}")
    return side // patch


def num_patches(model: nn.Module) -> int:
    """Number of patch tokens (CLS excluded) at the configured image size."""
    return patch_grid_side(model.config) ** 2


def vision_tokens(model: nn.Module, pixel_values: torch.Tensor) -> torch.Tensor:
    """``(B, 1+P, D)`` tokens of a vision backbone: ViT output as is; a conv map flattened row-major
    behind its global average (the "[CLS]" slot), so the rest of CoGaze never sees the difference."""
    out = model(pixel_values=pixel_values)
    tokens = out.last_hidden_state
    if tokens.dim() == 4:  # (B, C, h, w) feature map
        patches = tokens.flatten(2).transpose(1, 2)
        tokens = torch.cat([patches.mean(1, keepdim=True), patches], dim=1)
    return tokens
