"""Segmentation (spec 5.5, D17): a progressive-upsampling decoder over the encoder's patch features.

Head (the reference's "UNet decoder"): the vision latents (B, m, D) are mapped by a kernel-1 Conv1d
over the latent axis to the P patch positions, added to the patch features (the skip), layer-
normalised, laid out as a (D, g, g) map and decoded by blocks [Conv3x3 -> BatchNorm -> ReLU ->
bilinear x2]; a 1x1 conv gives one logit channel, bilinearly resized to the input size.
Loss: ``bce_weight`` x focal BCE (``focal_gamma``; 0 = plain BCE) - log(soft Dice + 1e-8), the soft
Dice pooled over the batch with smoothing 1. Masks are thresholded at 0.5. Reported Dice: ``micro``
(pixels pooled over all images) and ``per_image`` (mean over images; an empty target scores 1 when
the prediction is empty too, else 0 — ``empty_policy="score"``, spec 5.5's "micro-averaged Dice" —
or, with ``"skip"``, empty targets are left out). Model selection on val per-image Dice.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from cogaze.config import config_to_dict, help_field
from cogaze.errors import ConfigError
from cogaze.logs import Progress
from cogaze.models.interface import ImageFeatures, VisionLanguageEncoder
from cogaze.tasks import _metrics as M
from cogaze.tasks.common import batches, check_encoder, encode_batch, set_seed
from cogaze.tasks.items import ImageItems
from cogaze.tasks.results import SegmentationExample, SegmentationResult, mean_std
from cogaze.tasks.training import BestState, check_same_classes, train_sets


@dataclass
class SegmentationConfig:
    """Segmentation settings (spec 5.5 defaults where the spec gives one)."""

    channels: list[int] = help_field(help="decoder block widths (each block upsamples x2)",
                                     default_factory=lambda: [512, 256, 128, 64], ge=1, min_items=1)
    fractions: list[int] = help_field(help="label fractions in percent", default_factory=lambda: [100],
                                      ge=1, le=100, min_items=1)
    seeds: list[int] = help_field(help="training seeds (mean ± std over them)", default_factory=lambda: [0, 1, 2],
                                  ge=0, le=2**32 - 1, min_items=1)
    epochs: int = help_field(100, help="training epochs (validation after each)", ge=1)
    batch_size: int = help_field(16, help="training batch size", ge=1)
    lr: float = help_field(1e-4, help="base learning rate (encoder when fine-tuned; head uses lr x head_lr_mult)",
                           gt=0, le=10)
    head_lr_mult: float = help_field(5.0, help="head learning rate = lr x this (the paper: 5)", gt=0)
    weight_decay: float = help_field(0.01, help="AdamW weight decay", ge=0)
    patience: int = help_field(5, help="ReduceLROnPlateau patience on val Dice", ge=0)
    finetune_encoder: bool = help_field(False, help="also train the encoder's trainable parameters")
    bce_weight: float = help_field(10.0, help="weight of the (focal) BCE term", ge=0)
    focal_gamma: float = help_field(2.0, help="focal gamma of the BCE term (0 = plain BCE)", ge=0)
    threshold: float = help_field(0.5, help="probability threshold of a predicted mask pixel", gt=0, lt=1)
    empty_policy: str = help_field("score", help="per-image Dice of an empty target: "
                                   "'score' (1 if the prediction is empty too, else 0) or 'skip' (left out)")
    subsample_seed: int = help_field(0, help="seed of label-fraction subsampling when no fraction lists are given",
                                     ge=0, le=2**32 - 1)
    device: str = help_field("cpu", help="torch device")


class SegmentationHead(nn.Module):
    """Latents + patch features -> mask logits (B, 1, S, S)."""

    def __init__(self, n_latents: int, grid: int, embed_dim: int, image_size: int,
                 channels: Sequence[int] = (512, 256, 128, 64)) -> None:
        super().__init__()
        self.grid, self.image_size = grid, image_size
        self.to_patches = nn.Conv1d(n_latents, grid * grid, kernel_size=1)
        self.norm = nn.LayerNorm(embed_dim)
        blocks: list[nn.Module] = []
        width = embed_dim
        for out in channels:
            blocks += [nn.Conv2d(width, out, 3, padding=1), nn.BatchNorm2d(out), nn.ReLU(inplace=True),
                       nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)]
            width = out
        self.blocks = nn.Sequential(*blocks)
        self.out = nn.Conv2d(width, 1, kernel_size=1)

    def forward(self, features: ImageFeatures) -> Tensor:
        x = self.norm(self.to_patches(features.latents) + features.patches)  # (B, P, D)
        b, p, d = x.shape
        x = x.transpose(1, 2).reshape(b, d, self.grid, self.grid)
        x = self.out(self.blocks(x))
        return nn.functional.interpolate(x, size=(self.image_size, self.image_size), mode="bilinear",
                                         align_corners=False)


def segmentation_loss(logits: Tensor, target: Tensor, bce_weight: float = 10.0, gamma: float = 2.0) -> Tensor:
    """``bce_weight`` x mean focal BCE - log(batch soft Dice + 1e-8), soft Dice smoothed by 1."""
    bce = nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="none")
    prob = torch.sigmoid(logits)
    if gamma > 0:
        p_t = prob * target + (1 - prob) * (1 - target)
        bce = bce * (1 - p_t) ** gamma
    dice = (2 * (prob * target).sum() + 1) / (prob.sum() + target.sum() + 1)
    return bce_weight * bce.mean() - torch.log(dice + 1e-8)


def _features(encoder: VisionLanguageEncoder, items: ImageItems, idx: list[int], device: str,
              train_encoder: bool) -> tuple[ImageFeatures, Tensor]:
    with torch.set_grad_enabled(train_encoder):
        feats = encode_batch(encoder, items, idx, device)
    _, masks = items.batch(idx, with_masks=True)
    return feats, masks.to(device)  # type: ignore[union-attr]


class FrozenFeatures:
    """Every item's features and mask computed once (a frozen encoder gives the same ones each epoch)."""

    def __init__(self, encoder: VisionLanguageEncoder, items: ImageItems, config: SegmentationConfig):
        if isinstance(encoder, nn.Module):
            encoder.eval()
        parts: list[tuple[ImageFeatures, Tensor]] = []
        with torch.no_grad():
            for idx in batches(len(items), config.batch_size):
                parts.append(_features(encoder, items, idx, config.device, False))
        first = parts[0][0]
        self.grid = first.grid
        self.latents = torch.cat([f.latents for f, _ in parts])
        self.patches = torch.cat([f.patches for f, _ in parts])
        self.pooled = torch.cat([f.pooled for f, _ in parts])
        self.masks = torch.cat([m for _, m in parts])

    def __call__(self, idx: list[int]) -> tuple[ImageFeatures, Tensor]:
        i = torch.as_tensor(idx)
        return ImageFeatures(self.pooled[i], self.latents[i], self.patches[i], self.grid), self.masks[i]


def evaluate(encoder: VisionLanguageEncoder, head: SegmentationHead, items: ImageItems,
             config: SegmentationConfig, cached: FrozenFeatures | None = None) -> dict[str, float]:
    """Micro and per-image Dice of thresholded predictions over ``items``."""
    if isinstance(encoder, nn.Module):
        encoder.eval()
    head.eval()
    counts = []
    with torch.no_grad():
        for idx in batches(len(items), config.batch_size):
            feats, masks = cached(idx) if cached is not None else _features(encoder, items, idx, config.device, False)
            pred = torch.sigmoid(head(feats)) > config.threshold
            counts.append(M.dice_counts(pred.cpu().numpy(), masks.cpu().numpy() > 0.5))
    return M.dice_from_counts(np.concatenate(counts), config.empty_policy)


def _one_run(encoder: VisionLanguageEncoder, train: ImageItems, val: ImageItems, test: ImageItems,
             seed: int, cfg: SegmentationConfig) -> dict:
    gen = set_seed(seed)
    model = copy.deepcopy(encoder) if cfg.finetune_encoder else encoder
    with torch.no_grad():
        probe = encode_batch(model, train, [0], cfg.device)
    head = SegmentationHead(probe.latents.shape[1], probe.grid, probe.patches.shape[2],
                            int(model.image_size), cfg.channels).to(cfg.device)
    groups = [{"params": head.parameters(), "lr": cfg.lr * cfg.head_lr_mult}]
    modules: list[nn.Module] = [head]
    if cfg.finetune_encoder:
        enc_params = [p for p in model.parameters() if p.requires_grad]  # type: ignore[attr-defined]
        if enc_params:
            groups.append({"params": enc_params, "lr": cfg.lr})
        modules.insert(0, model)  # type: ignore[arg-type]
    opt = torch.optim.AdamW(groups, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="max", factor=0.1, patience=cfg.patience)
    best = BestState(*modules)
    losses = []
    frozen = None if cfg.finetune_encoder else {"train": FrozenFeatures(model, train, cfg),
                                                "val": FrozenFeatures(model, val, cfg)}
    progress = Progress(cfg.epochs, "segmentation epoch", every_s=10.0)  # a line every 10 s at most
    for epoch in range(cfg.epochs):
        total, n = 0.0, 0
        for idx in batches(len(train), cfg.batch_size, torch.randperm(len(train), generator=gen).tolist()):
            if isinstance(model, nn.Module):
                model.train(cfg.finetune_encoder)
            head.train()
            feats, masks = (frozen["train"](idx) if frozen is not None
                            else _features(model, train, idx, cfg.device, cfg.finetune_encoder))
            loss = segmentation_loss(head(feats), masks, cfg.bce_weight, cfg.focal_gamma)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total, n = total + float(loss.detach()) * len(idx), n + len(idx)
        losses.append(total / n)
        val_dice = evaluate(model, head, val, cfg, frozen["val"] if frozen is not None else None)["per_image"]
        sched.step(val_dice)
        best.update(val_dice, epoch)
        progress.step(epoch + 1, f"train loss {losses[-1]:.4f}, val per-image Dice {val_dice:.3f}")
    best.restore()
    return {"best_epoch": best.epoch, "train_loss": losses,
            "val": evaluate(model, head, val, cfg), "test": evaluate(model, head, test, cfg), "model": (model, head)}


def predict_examples(encoder: VisionLanguageEncoder, head: SegmentationHead, items: ImageItems, n: int,
                     config: SegmentationConfig) -> list[SegmentationExample]:
    """Predicted probabilities for the first ``n`` items with a non-empty mask (label 1), with their masks."""
    idx = [i for i in range(len(items)) if items.labels[i, 0] == 1][:n]
    if not idx:
        return []
    if isinstance(encoder, nn.Module):
        encoder.eval()
    head.eval()
    with torch.no_grad():
        feats, masks = _features(encoder, items, idx, config.device, False)
        prob = torch.sigmoid(head(feats))[:, 0].cpu().numpy()
    return [SegmentationExample(items.ids[i], prob[k], masks[k, 0].cpu().numpy() > 0.5) for k, i in enumerate(idx)]


def run_segmentation(
    encoder: VisionLanguageEncoder,
    train: ImageItems | Mapping[int, ImageItems],
    val: ImageItems,
    test: ImageItems,
    config: SegmentationConfig | None = None,
    examples: int = 0,
) -> SegmentationResult:
    """Train the decoder (and optionally the encoder) per (fraction, seed); Dice mean ± std on test.

    Items must yield masks (:meth:`ImageItems.from_downstream` with ``preprocess_mask``). ``examples``:
    how many test images with a non-empty mask keep the last run's prediction (``result.examples``).
    """
    config = config or SegmentationConfig()
    if config.empty_policy not in M.EMPTY_POLICIES:
        raise ConfigError(f"empty_policy must be one of {M.EMPTY_POLICIES}, got {config.empty_policy!r}")
    if not config.seeds or not config.fractions:
        raise ConfigError("give at least one seed and one label fraction")
    encoder = check_encoder(encoder, config.device)
    if config.finetune_encoder and not isinstance(encoder, nn.Module):
        raise ConfigError("finetune_encoder needs an encoder that is a torch nn.Module")
    sets = train_sets(train, config.fractions, config.subsample_seed)
    check_same_classes(*sets.values(), val, test)
    runs = []
    progress = Progress(len(sets) * len(config.seeds), f"segmentation ({test.name or 'masks'}) run")
    model: tuple[VisionLanguageEncoder, SegmentationHead] | None = None
    for f, items in sets.items():
        for s in config.seeds:
            run = _one_run(encoder, items, val, test, s, config)
            model = run.pop("model")
            runs.append({"fraction": f, "seed": s, "n_train": len(items), **run})
            progress.step(len(runs), f"{f}% labels, seed {s}")
    summary = {}
    for fraction in sets:
        chosen = [r["test"] for r in runs if r["fraction"] == fraction]
        summary[f"{fraction}%"] = {f"dice_{k}": mean_std([r[k] for r in chosen]) for k in chosen[0]}
    metrics = {f"{k}@{frac}": v.mean for frac, row in summary.items() for k, v in row.items()}
    return SegmentationResult(task="segmentation", dataset=test.name, metrics=metrics,
                              config=config_to_dict(config), runs=runs, summary=summary,
                              empty_policy=config.empty_policy,
                              examples=predict_examples(*model, test, examples, config) if examples and model else [])
