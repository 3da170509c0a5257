"""The full CoGaze pretraining model (spec 2): ``CoGazeModel(config).forward(batch) -> CoGazeOutput``.

The batch layout is docs/batch.md. ``batch["vision_features"]`` (precomputed frozen-encoder tokens)
replaces ``pixel_values`` when present, so training can run from a feature cache.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from cogaze.config import help_field
from cogaze.data.records import CHEXPERT_CLASSES, VIEW_POSITIONS
from cogaze.errors import ConfigError
from cogaze.models.backbones import (
    BackboneConfig,
    build_text_trunk,
    build_vision_backbone,
    vision_hidden_size,
    vision_tokens,
)
from cogaze.models.encoder import ContextVisionEncoder
from cogaze.models.heads import DiseaseHeads
from cogaze.models.losses import (
    LossConfig,
    class_balanced_weights,
    classification_loss,
    contrastive_loss,
    gaze_loss,
)


def _paper_vision() -> BackboneConfig:
    return BackboneConfig(source="microsoft/rad-dino", model_type="dinov2")


def _paper_text() -> BackboneConfig:
    return BackboneConfig(source="microsoft/BiomedVLP-CXR-BERT-specialized", model_type="bert")


@dataclass
class ModelConfig:
    """The CoGaze model (defaults = the paper configuration)."""

    vision: BackboneConfig = help_field(help="Frozen vision backbone (Rad-DINO).", default_factory=_paper_vision)
    text: BackboneConfig = help_field(help="Text trunk (CXR-BERT).", default_factory=_paper_text)
    train_vision: bool = help_field(
        False, "Train the vision backbone too. Spec/paper: frozen (Rad-DINO). Only for random-init backbones, "
        "e.g. the phantom-tiny config, where no pretrained vision encoder exists offline.")
    text_layers: int = help_field(6, "Keep the first k layers of the text trunk (0 = all).")
    tokenizer: str = help_field("gpt2", "Tokenizer directory (or hub id), extended with the special tokens.")
    vocab_size: int = help_field(0, "Text vocabulary size; 0 = the tokenizer's length.")
    pad_token_id: int = help_field(-1, "Pad id; -1 = the tokenizer's [PAD].")
    max_text_length: int = help_field(300, "Truncation length of every text.")
    dim: int = help_field(768, "Shared width d.")
    num_latents: int = help_field(128, "Perceiver latents m.")
    perceiver_depth: int = help_field(3, "Perceiver blocks.")
    perceiver_heads: int = help_field(8, "Attention heads.")
    perceiver_dim_head: int = help_field(64, "Width per head.")
    perceiver_ff_mult: int = help_field(4, "GEGLU feed-forward multiplier.")
    self_per_cross: int = help_field(1, "Self-attention layers per cross-attention.")
    num_classes: int = help_field(len(CHEXPERT_CLASSES), "Disease labels C.")
    num_views: int = help_field(len(VIEW_POSITIONS), "View-embedding rows (cogaze.data.VIEW_POSITIONS, UNKNOWN last).")
    use_context: bool = help_field(True, "Ablation switch: False = every sample uses the image latent.")
    mask_context_padding: bool = help_field(False, "Mask padded context tokens in the Perceiver (reference: no).")
    masked_report_pool: bool = help_field(False, "Mean-pool report tokens without padding (reference: with).")
    temperature_clamp: float = help_field(0.0, "Cap on the log-scales (e.g. 4.6052 = ln 100); 0 = none.")
    loss: LossConfig = help_field(help="Loss switches.", default_factory=LossConfig)


@dataclass
class CoGazeOutput:
    """Loss terms and the embeddings downstream tasks need."""

    loss: torch.Tensor
    losses: dict[str, torch.Tensor]
    vision_pooled: torch.Tensor  # (B, d) mean of the vision latents
    report_pooled: torch.Tensor  # (B, d) mean of the projected report tokens
    vision_latents: torch.Tensor  # (B, m, d)
    context_latents: torch.Tensor  # (B, m, d) (Z_I rows where context is absent)
    patch_features: torch.Tensor  # (B, 1+P, d) projected vision tokens (CLS first)
    vision_logits: torch.Tensor
    report_logits: torch.Tensor
    extras: dict[str, Any] = field(default_factory=dict)


class CoGazeModel(nn.Module):
    """Frozen vision backbone + text trunk + context-infused encoder + heads + losses."""

    class_weights: torch.Tensor  # a registered buffer

    def __init__(self, config: ModelConfig):
        super().__init__()
        if config.vocab_size <= 0 or config.pad_token_id < 0:
            raise ConfigError("ModelConfig.vocab_size and pad_token_id must be resolved (see resolve_text_vocab)")
        if config.text.cache_features:
            raise ConfigError("model.text.cache_features: only the frozen vision backbone can be cached "
                              "(use model.vision.cache_features)")
        if config.vision.cache_features and config.train_vision:
            raise ConfigError("model.vision.cache_features=true needs a frozen backbone: a trained backbone "
                              "(model.train_vision=true) cannot be cached")
        self.config = config
        self.vision_backbone = build_vision_backbone(config.vision)
        if config.train_vision:
            self.vision_backbone.requires_grad_(True)
        self.text_encoder = build_text_trunk(config.text, config.text_layers, config.vocab_size, config.pad_token_id)
        self.encoder = ContextVisionEncoder(
            vision_dim=vision_hidden_size(self.vision_backbone.config),
            text_dim=int(self.text_encoder.config.hidden_size),
            dim=config.dim, num_latents=config.num_latents, depth=config.perceiver_depth,
            heads=config.perceiver_heads, dim_head=config.perceiver_dim_head, ff_mult=config.perceiver_ff_mult,
            self_per_cross=config.self_per_cross, num_views=config.num_views,
            mask_context_padding=config.mask_context_padding,
        )
        self.heads = DiseaseHeads(config.dim, config.num_classes, config.temperature_clamp)
        counts = config.loss.positive_counts
        weights = class_balanced_weights(counts, config.loss.beta) if counts else torch.ones(config.num_classes)
        if len(weights) != config.num_classes:
            raise ConfigError(f"loss.positive_counts has {len(weights)} entries, expected {config.num_classes}")
        self.register_buffer("class_weights", weights)

    def train(self, mode: bool = True) -> CoGazeModel:
        super().train(mode)
        # Frozen in every stage (spec 2.1). A trained backbone (train_vision) also stays in eval mode:
        # its weights learn, but BatchNorm statistics stay frozen (small CPU batches make batch
        # statistics noisy and train/eval inconsistent) and backbone dropout is off.
        self.vision_backbone.eval()
        return self

    def encode_images(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Backbone tokens (B, 1+P, Dv) - what a feature cache stores; no graph when the backbone is frozen."""
        with torch.set_grad_enabled(self.config.train_vision and torch.is_grad_enabled()):
            return vision_tokens(self.vision_backbone, pixel_values)

    def encode_text(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Projected text tokens (B, L, d)."""
        hidden = self.text_encoder(input_ids=ids, attention_mask=mask).last_hidden_state
        return self.encoder.text_projector(hidden)

    def encode_text_cls(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Projected [CLS] token (B, d): ``encode_text(ids, mask)[:, 0]`` without projecting the other tokens.

        When a few long rows pad many short ones (a whole-report transcript among its sentences), the
        rows are encoded in two length buckets, each with its trailing padding cut: a masked pad never
        changes a real token's output, so the result is the one-pass result (up to float rounding) at a
        fraction of the cost.
        """
        split = length_buckets(mask)
        if split is None:
            return self._cls(ids, mask)
        parts = [self._cls(ids[rows, :width], mask[rows, :width]) for rows, width in split]
        order = torch.cat([rows for rows, _ in split])
        return torch.cat(parts)[torch.argsort(order)]

    def _cls(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        hidden = self.text_encoder(input_ids=ids, attention_mask=mask).last_hidden_state
        return self.encoder.text_projector(hidden[:, 0])

    def forward(self, batch: dict[str, Any]) -> CoGazeOutput:
        cfg = self.config
        feats = batch.get("vision_features")
        if feats is None:
            feats = self.encode_images(batch["pixel_values"])
        feats = feats.to(self.encoder.shared_latent.dtype)
        view_ids = batch["view_ids"].clamp(0, cfg.num_views - 1)
        x_all = self.encoder.vision_projector(feats, view_ids)
        has_ctx = batch["has_context"].bool() & cfg.use_context
        ctx_ids, ctx_mask = batch["context_ids"], batch["context_mask"]
        rows = has_ctx.nonzero().squeeze(1)
        if 0 < len(rows) < len(has_ctx):
            # Text trunk + context Perceiver only for rows that have context (each row's result is the
            # same as in a full-batch pass); with no context at all the full pass keeps every
            # parameter in the graph (DDP).
            ctx_ids, ctx_mask = ctx_ids[rows], ctx_mask[rows]
        else:
            rows = None
        ctx = self.encode_text(ctx_ids, ctx_mask)
        vision_latents, context_latents = self.encoder(x_all, ctx, ctx_mask, has_ctx, rows)
        report = self.encode_text(batch["report_ids"], batch["report_mask"])
        if cfg.masked_report_pool:
            m = batch["report_mask"].to(report.dtype)[..., None]
            report_pooled = (report * m).sum(1) / m.sum(1).clamp(min=1)
        else:
            report_pooled = report.mean(1)
        vision_pooled = vision_latents.mean(1)
        vision_logits = self.heads.vision(vision_pooled)
        report_logits = self.heads.report(report_pooled)
        lc = cfg.loss
        labels = batch["labels"].to(vision_logits.dtype)
        losses = {
            "contrastive": contrastive_loss(vision_pooled, report_pooled, self.heads.scale("contrastive"),
                                            batch["study_index"], lc.single_positive),
            "cls_vision": classification_loss(vision_logits, labels, self.class_weights, lc.cls_loss, lc.focal_gamma),
            "cls_report": classification_loss(report_logits, labels, self.class_weights, lc.cls_loss, lc.focal_gamma),
        }
        total = losses["contrastive"] + lc.cls_weight * (losses["cls_vision"] + losses["cls_report"])
        g = None
        gaze_ids = batch.get("gaze_text_ids")
        if gaze_ids is not None and len(gaze_ids) > 0 and lc.gaze != "none":
            t = self.encode_text_cls(gaze_ids, batch["gaze_text_mask"])
            g = gaze_loss(t, x_all[:, 1:], batch["gaze_maps"], batch["gaze_owner"], batch["gaze_reading"],
                          self.heads.scale("gaze"), lc.gaze_rho, lc.w_t2p, lc.w_p2t, lc.gaze)
        if g is not None:
            losses["gaze"] = g
            total = total + lc.gaze_weight * g
        else:  # keep every parameter in the graph (DDP): adds exactly 0
            total = total + 0.0 * self.heads.logit_scale_gaze
        losses["loss"] = total
        return CoGazeOutput(total, losses, vision_pooled, report_pooled, vision_latents, context_latents,
                            x_all, vision_logits, report_logits)


def length_buckets(mask: torch.Tensor, min_saving: float = 0.25) -> list[tuple[torch.Tensor, int]] | None:
    """Two buckets ``[(row indices, width), ...]`` of the rows of a padded (B, L) mask, short rows first,
    each row's width = its last real position + 1; None when splitting would save less than
    ``min_saving`` of the padded token slots (or there are fewer than 2 rows)."""
    n, full = mask.shape
    if n < 2:
        return None
    pos = torch.arange(1, full + 1, device=mask.device)
    widths = (mask.ne(0) * pos).amax(1).clamp(min=1)
    order = torch.argsort(widths, stable=True)
    w = widths[order].tolist()  # one host read per call: the split is chosen on the CPU
    cost, k = min(((i * w[i - 1] + (n - i) * w[-1]), i) for i in range(1, n))
    if cost > (1 - min_saving) * n * full:
        return None
    return [(order[:k], int(w[k - 1])), (order[k:], int(w[-1]))]


def resolve_text_vocab(config: ModelConfig, tokenizer: Any) -> ModelConfig:
    """Fill ``vocab_size`` and ``pad_token_id`` from the tokenizer when left at their defaults."""
    if config.vocab_size <= 0:
        config.vocab_size = len(tokenizer)
    if config.pad_token_id < 0:
        config.pad_token_id = int(tokenizer.pad_token_id)
    return config


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    params = list(model.parameters())
    return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)
