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

import logging
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cogaze.config import help_field
from cogaze.errors import ConfigError
from cogaze.logs import quiet_local_model_bars
from cogaze.models.hub import looks_local, model_file, weights_error, where

log = logging.getLogger("cogaze.models")


@dataclass
class PreprocessConfig:
    """Image preprocessing of a vision backbone, for one that ships no ``preprocessor_config.json``.

    Left at 0 / empty, the values come from the backbone's own processor config (a local folder or the
    Hugging Face cache); a pretrained backbone without one is refused rather than normalised with a guess.
    """

    size: int = help_field(0, "Shortest image edge after the bicubic resize (px); 0 = from the processor config.", ge=0)
    crop: int = help_field(0, "Centre-crop side (px); must equal `size` (0 = same as size).", ge=0)
    mean: list[float] = help_field(help="Per-channel mean after scaling pixels to [0, 1] (1 or 3 values).",
                                   default_factory=list, ge=0)
    std: list[float] = help_field(help="Per-channel std after scaling pixels to [0, 1] (1 or 3 values).",
                                  default_factory=list, gt=0)

    def is_set(self) -> bool:
        return bool(self.size or self.crop or self.mean or self.std)


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
    preprocess: PreprocessConfig = help_field(
        help="Vision backbone only: image size, centre crop, mean and std when the backbone has no "
        "preprocessor_config.json (the paper's Rad-DINO has one: leave empty).", default_factory=PreprocessConfig)


def _config(spec: BackboneConfig, **extra: Any):  # noqa: ANN202
    from transformers import CONFIG_MAPPING

    if spec.model_type not in CONFIG_MAPPING:
        raise ConfigError(f"unknown backbone model_type {spec.model_type!r}")
    cls = CONFIG_MAPPING[spec.model_type]
    kwargs = {**dict(spec.config), **extra}
    if spec.source and model_file(spec.source, "config.json") is None:
        if not looks_local(spec.source):
            problem = (f"{spec.source} is not in the Hugging Face cache ({where(spec.source)}); download it once "
                       "with network access, or point the source at a local folder")
        elif not Path(spec.source).expanduser().is_dir():
            problem = (f"no such folder {spec.source} (a phantom config's backbone folder is made by "
                       "`cogaze backbone train CORPUS --out DIR`)")
        else:
            problem = f"the folder {spec.source} has no config.json"
        raise ConfigError(f"cannot build {spec.model_type} backbone: {problem}")
    try:
        with quiet_transformers():
            if spec.source:
                cfg = cls.from_pretrained(spec.source, **kwargs)
                for key, value in kwargs.items():  # from_pretrained drops keys the saved config lacks
                    if not hasattr(cfg, key):
                        setattr(cfg, key, value)
                return cfg
            return cls(**kwargs)
    except (OSError, ValueError, TypeError) as err:
        where_ = spec.source or f"config {kwargs}"
        raise ConfigError(f"cannot build {spec.model_type} backbone from {where_}: {str(err).splitlines()[0]}") from None


@contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence transformers' own load tables and model-type notes: cogaze checks and logs what loaded."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)


def _model(spec: BackboneConfig, cfg: Any, role: str, **kwargs: Any) -> Any:  # a transformers PreTrainedModel
    from transformers import AutoModel

    quiet_local_model_bars()  # no "Loading weights" bar per model built
    if not spec.source:
        return AutoModel.from_config(cfg, **kwargs)
    try:
        with quiet_transformers():
            model, info = AutoModel.from_pretrained(spec.source, config=cfg, ignore_mismatched_sizes=True,
                                                    output_loading_info=True, **kwargs)
    except Exception as err:  # noqa: BLE001 - pickle refusal, damaged files, missing files: one clear message
        raise weights_error(spec.source, err) from None
    _check_loaded(role, spec.source, info, cfg)
    return model


def _check_loaded(role: str, source: str, info: dict[str, Any], cfg: Any) -> None:
    """Refuse weights that left parameters at random init; log what the checkpoint held but was not used."""
    mismatched = {str(m[0]): m for m in info.get("mismatched_keys", [])}
    allowed = {k for k in mismatched if role == "text" and k.endswith("word_embeddings.weight")}
    missing = sorted(str(k) for k in info.get("missing_keys", []))
    bad = [f"{k} (checkpoint {tuple(mismatched[k][1])}, model {tuple(mismatched[k][2])})"
           for k in sorted(mismatched) if k not in allowed]
    if missing or bad:
        raise ConfigError(f"{role} backbone {source}: its weights do not fit the model built from its config: "
                          + (f"{len(missing)} missing ({', '.join(missing[:8])}{' ...' if len(missing) > 8 else ''})"
                             if missing else "")
                          + ("; " if missing and bad else "") + (f"shape mismatch: {'; '.join(bad[:8])}" if bad else "")
                          + "; these would stay randomly initialised")
    unused = _group_keys(str(k) for k in info.get("unexpected_keys", []))
    if unused:
        log.info("%s backbone %s: not used from its checkpoint: %s", role, source, unused)
    if allowed:
        log.info("%s backbone %s: word embeddings sized for the cogaze tokenizer (%d ids), not taken from it", role,
                 source, int(getattr(cfg, "vocab_size", 0)))


def _group_keys(keys: Iterable[str]) -> str:
    """``cls.* (5), bert.encoder.layer.6-11 (96)``: unused checkpoint keys grouped for one log line."""
    groups: dict[str, int] = {}
    layers: set[int] = set()
    layer_prefix = ""
    for key in keys:
        m = re.match(r"(.*?layers?)\.(\d+)\.", key)
        if m:
            layer_prefix = m.group(1)
            layers.add(int(m.group(2)))
            groups[f"{layer_prefix}.*"] = groups.get(f"{layer_prefix}.*", 0) + 1
            continue
        head = key.split(".")[0]
        groups[f"{head}.*"] = groups.get(f"{head}.*", 0) + 1
    parts = []
    for name, n in sorted(groups.items()):
        if name == f"{layer_prefix}.*" and layers:
            name = f"{layer_prefix}.{min(layers)}-{max(layers)}"
        parts.append(f"{name} ({n} tensors)")
    return ", ".join(parts)


def build_vision_backbone(spec: BackboneConfig) -> Any:  # a transformers PreTrainedModel
    """The frozen vision encoder (eval mode, ``requires_grad=False``)."""
    model = _model(spec, _config(spec), "vision")
    model.eval()
    model.requires_grad_(False)
    return model


def build_text_trunk(spec: BackboneConfig, num_layers: int, vocab_size: int, pad_token_id: int) -> Any:
    """A BERT-like trunk with the first ``num_layers`` layers and ``vocab_size`` word embeddings.

    A checkpoint of a model with heads (CXR-BERT's ``CXRBertModel``: ``bert.*`` trunk, MLM head ``cls.*``,
    projection head ``cls_projection_head.*``) gives its trunk; the heads and the layers beyond
    ``num_layers`` are not used (logged). Its config may name a custom ``model_type`` (``cxr-bert``):
    ``spec.model_type`` (``bert``) is built, never the checkpoint's remote code.
    """
    cfg = _config(spec)
    if num_layers > 0:
        if num_layers > cfg.num_hidden_layers and spec.source:
            raise ConfigError(f"text trunk has {cfg.num_hidden_layers} layers, cannot keep {num_layers}")
        cfg.num_hidden_layers = num_layers
    pretrained_vocab = cfg.vocab_size
    cfg.vocab_size = vocab_size
    cfg.pad_token_id = pad_token_id
    kwargs = {"add_pooling_layer": False} if spec.model_type == "bert" else {}
    model = _model(spec, cfg, "text", **kwargs)
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


def _conv_int_key(cfg: Any, key: str, default: int, low: int, high: int, unit: str) -> int:
    """An integer ``model.vision.config`` key of a conv backbone, checked against its range."""
    raw = getattr(cfg, key, None)
    value = default if raw is None else int(raw)
    if not low <= value <= high:
        raise ConfigError(f"model.vision.config.{key} must be between {low} and {high} {unit}, got {value}")
    return value


def _conv_stages(cfg: Any) -> int:
    return len(getattr(cfg, "hidden_sizes", ()) or ())


def conv_token_stages(cfg: Any) -> int:
    """How many of a conv backbone's last stages make up each patch token (config key ``token_stages``,
    default 1 = the last stage only); checked against the number of stages."""
    return _conv_int_key(cfg, "token_stages", 1, 1, _conv_stages(cfg), "(the backbone's stages)")


def conv_token_position(cfg: Any) -> int:
    """Sinusoid frequencies per axis appended to each conv patch token (config key ``token_position``,
    default 0 = none): 4 x this many channels of where the patch lies, as a ViT's position embeddings
    give its patch tokens. A conv map alone tells the left lung from the right only through padding."""
    return _conv_int_key(cfg, "token_position", 0, 0, 16, "frequencies")


def conv_grid_stage(cfg: Any) -> int:
    """Which conv stage's map sets the patch grid (config key ``token_grid_stage``, 1-based; default the
    last): an earlier stage gives a finer grid (stride halves per stage), the later stages' maps are
    repeated onto it."""
    stages = _conv_stages(cfg)
    return _conv_int_key(cfg, "token_grid_stage", stages, 1, stages, "(the backbone's stages)")


def position_channels(rows: int, cols: int, frequencies: int, like: torch.Tensor) -> torch.Tensor:
    """(4F, rows, cols) sin/cos of the patch centres' x and y in [-1, 1] at frequencies 1, 2, 4, ... x pi/2."""
    ys = (torch.arange(rows, dtype=torch.float32) + 0.5) / rows * 2 - 1
    xs = (torch.arange(cols, dtype=torch.float32) + 0.5) / cols * 2 - 1
    scales = (2.0 ** torch.arange(frequencies, dtype=torch.float32)) * torch.pi / 2
    y = (ys[None, :, None] * scales[:, None, None]).expand(frequencies, rows, cols)
    x = (xs[None, None, :] * scales[:, None, None]).expand(frequencies, rows, cols)
    return torch.cat([x.sin(), x.cos(), y.sin(), y.cos()]).to(like)


def vision_hidden_size(cfg: Any) -> int:
    """Width of the vision encoder's tokens (a transformers config)."""
    if is_conv_backbone(cfg):
        return int(sum(cfg.hidden_sizes[-conv_token_stages(cfg):])) + 4 * conv_token_position(cfg)
    return int(cfg.hidden_size)


def effective_patch_size(cfg: Any) -> int:
    """Pixels per patch token side: ``patch_size`` for ViTs, the output stride for conv models."""
    if not is_conv_backbone(cfg):
        return int(cfg.patch_size)
    first = 2 if getattr(cfg, "downsample_in_first_stage", False) else 1
    return _CONV_STEM_STRIDE[cfg.model_type] * first * 2 ** (conv_grid_stage(cfg) - 1)


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
    behind its global average (the "[CLS]" slot), so the rest of CoGaze never sees the difference.

    Conv backbones read three config keys (docs/gaze_grounding.md): ``token_grid_stage`` picks the stage
    whose map sets the grid (default the last); with ``token_stages = k > 1`` each patch token
    concatenates the last k stages' maps brought onto that grid (finer ones average-pooled, coarser ones
    repeated), as a ViT patch embedding sees its own patch in detail; ``token_position = F`` appends 4F
    sin/cos channels of the patch's place."""
    cfg = getattr(model, "config", None)
    conv = cfg is not None and is_conv_backbone(cfg)
    k = conv_token_stages(cfg) if conv else 1
    f = conv_token_position(cfg) if conv else 0
    grid = conv_grid_stage(cfg) if conv else 0
    finer = conv and grid < _conv_stages(cfg)
    out = model(pixel_values=pixel_values, output_hidden_states=k > 1 or finer)
    tokens = out.last_hidden_state
    if k > 1 or finer:
        side = out.hidden_states[grid].shape[-2:] if finer else tokens.shape[-2:]
        tokens = torch.cat([nn.functional.adaptive_avg_pool2d(h, side) if h.shape[-1] >= side[-1]
                            else nn.functional.interpolate(h, size=side, mode="nearest")
                            for h in out.hidden_states[-k:]], dim=1)
    if f and tokens.dim() == 4:
        pos = position_channels(tokens.shape[-2], tokens.shape[-1], f, tokens)
        tokens = torch.cat([tokens, pos.expand(tokens.shape[0], -1, -1, -1)], dim=1)
    if tokens.dim() == 4:  # (B, C, h, w) feature map
        patches = tokens.flatten(2).transpose(1, 2)
        tokens = torch.cat([patches.mean(1, keepdim=True), patches], dim=1)
    return tokens
