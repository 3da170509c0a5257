"""Pretrain a small vision backbone on a labelled chest X-ray set: the phantom's stand-in for Rad-DINO.

CoGaze freezes a vision encoder pretrained on a large chest X-ray corpus (Rad-DINO, spec 2.1). No such
encoder can be downloaded offline, and a tiny backbone trained from scratch on a few hundred images
inside CoGaze's own pretraining learns too little (docs/tasks.md). This module fills the gap the way
the paper's setting does: a backbone is pretrained once on a *separate* corpus (for the demo: another
phantom, other patients and seed), saved in transformers format, and then loaded frozen by
``model.vision.source``. The objective is multi-label BCE on the corpus's 14 binarised labels (the same
labels CoGaze's own classification loss uses), with random-shift augmentation; the checkpoint with
the best validation mean AUROC is kept.

``train_backbone(records, out_dir, config) -> BackboneResult``; ``cogaze backbone train DATA --out DIR``.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cogaze.config import help_field, save_config
from cogaze.data.geometry import ImageGeometry
from cogaze.data.images import read_image
from cogaze.data.records import ImageRecord
from cogaze.errors import ConfigError, DataError
from cogaze.io import atomic_write_json, current_umask
from cogaze.logs import Progress
from cogaze.models.backbones import (
    BackboneConfig,
    build_vision_backbone,
    image_size_of,
    vision_hidden_size,
    vision_tokens,
)
from cogaze.models.pretrained import DEFAULT_MEAN, DEFAULT_STD
from cogaze.tasks import _metrics as M


def _phantom_resnet() -> dict[str, Any]:
    return {"num_channels": 3, "embedding_size": 32, "hidden_sizes": [32, 64, 64], "depths": [1, 1, 1],
            "layer_type": "basic", "image_size": 128}


@dataclass
class BackboneTrainConfig:
    """Architecture and schedule of a backbone pretraining run (defaults: the phantom-tiny ResNet)."""

    model_type: str = help_field("resnet", "transformers model_type of the backbone (resnet, convnext, dinov2, vit).")
    config: dict[str, Any] = help_field(help="Config keys of the randomly initialised backbone (conv models "
                                        "must name image_size).", default_factory=_phantom_resnet)
    epochs: int = help_field(16, "Training epochs (cosine learning-rate decay to 0 over them).")
    batch_size: int = help_field(32, "Images per step.")
    lr: float = help_field(6e-3, "AdamW peak learning rate.")
    weight_decay: float = help_field(0.01, "AdamW weight decay.")
    max_shift: int = help_field(6, "Random-shift augmentation: up to this many pixels in x and y (0 = none).")
    frontal_only: bool = help_field(False, "Train on PA/AP images only (default: every view).")
    seed: int = help_field(0, "Seed of initialisation, shuffling and augmentation.")
    mean: list[float] = help_field(help="Per-channel normalisation mean (images scaled to [0, 1] first); default "
                                   "= what CoGaze applies to a backbone without a processor config "
                                   "(cogaze.models.pretrained.DEFAULT_MEAN).", default_factory=lambda: list(DEFAULT_MEAN))
    std: list[float] = help_field(help="Per-channel normalisation std (DEFAULT_STD).",
                                  default_factory=lambda: list(DEFAULT_STD))


@dataclass
class BackboneResult:
    """Where the backbone went and how it trained (one history row per epoch)."""

    out_dir: Path
    best_epoch: int
    best_val_auroc: float
    history: list[dict[str, float]] = field(default_factory=list)
    n_train: int = 0
    n_val: int = 0


def load_labelled_images(records: Sequence[ImageRecord], geometry: ImageGeometry) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (N, 3, S, S) through ``geometry`` and binarised labels (N, 14); a bad image names its file."""
    if not records:
        raise DataError("no images to train the backbone on")
    missing = next((r.dicom_id for r in records if r.image_path is None), None)
    if missing is not None:
        raise DataError(f"record {missing} has no image path")
    images = [torch.from_numpy(geometry.transform_image(read_image(r.image_path))) for r in records
              if r.image_path is not None]
    labels = torch.tensor(np.array([r.labels for r in records]), dtype=torch.float32)
    return torch.stack(images), labels


def mean_auroc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Mean AUROC over the columns with both classes present (nan if none): the tasks' definition."""
    return M.macro(M.auroc_per_class(labels, scores))


class _Classifier(nn.Module):
    """Backbone + mean over its tokens' "[CLS]" slot (conv: global average) + a linear head."""

    def __init__(self, backbone: Any, num_classes: int):  # a transformers PreTrainedModel
        super().__init__()
        self.backbone = backbone
        self.head = nn.Linear(vision_hidden_size(backbone.config), num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(vision_tokens(self.backbone, x)[:, 0])


def _shift(x: torch.Tensor, max_shift: int, rng: np.random.Generator) -> torch.Tensor:
    """Roll the whole batch by one random (dy, dx) offset (cheap translation augmentation)."""
    if max_shift <= 0:
        return x
    dy, dx = (int(v) for v in rng.integers(-max_shift, max_shift + 1, size=2))
    return torch.roll(x, shifts=(dy, dx), dims=(2, 3))


def _scores(model: _Classifier, x: torch.Tensor, batch_size: int) -> np.ndarray:
    model.eval()
    with torch.no_grad():
        out = [model(x[i:i + batch_size]) for i in range(0, len(x), batch_size)]
    model.train()
    return torch.cat(out).numpy()


def train_backbone(train: Sequence[ImageRecord], val: Sequence[ImageRecord], out_dir: str | Path,
                   config: BackboneTrainConfig | None = None,
                   echo: Callable[[str], None] | None = None) -> BackboneResult:
    """Train a randomly initialised backbone on ``train`` (labels), select on ``val``, save it to ``out_dir``.

    ``out_dir`` receives the transformers folder (config.json + model.safetensors), written to a
    temporary sibling first and renamed into place, plus ``backbone_train.json`` (history) and
    ``train_config.yaml``. Load it with ``model.vision.source=OUT_DIR``. One line per epoch (loss, val
    AUROC, elapsed, ETA) goes to ``echo`` (default: the ``cogaze`` log).
    """
    cfg = config or BackboneTrainConfig()
    if cfg.epochs < 1 or cfg.batch_size < 1:
        raise ConfigError("backbone epochs and batch_size must be >= 1")
    if cfg.frontal_only:
        train = [r for r in train if r.view in ("PA", "AP")]
        val = [r for r in val if r.view in ("PA", "AP")]
    if len(train) < cfg.batch_size:
        raise DataError(f"{len(train)} training images for the backbone, fewer than one batch of {cfg.batch_size}")
    if not val:
        raise DataError("no validation images for backbone model selection (the dataset has no 'val' split)")
    torch.manual_seed(cfg.seed)
    backbone = build_vision_backbone(BackboneConfig(source="", model_type=cfg.model_type, config=dict(cfg.config)))
    backbone.requires_grad_(True)
    try:
        size = image_size_of(backbone.config)
    except ConfigError:
        raise ConfigError("backbone config must name image_size (config.image_size=128)") from None
    mean, std = cfg.mean, cfg.std
    if len(mean) != 3 or len(std) != 3:
        raise ConfigError(f"mean and std need 3 values (one per channel), got mean={mean} std={std}")
    geometry = ImageGeometry(size=size, mean=(mean[0], mean[1], mean[2]), std=(std[0], std[1], std[2]))
    xtr, ytr = load_labelled_images(train, geometry)
    xva, yva = load_labelled_images(val, geometry)
    if not bool((ytr.sum(0) > 0).any()):
        raise DataError("no training image has a positive label: the backbone objective needs labels")
    model = _Classifier(backbone, ytr.shape[1]).train()
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = len(xtr) // cfg.batch_size
    total = steps_per_epoch * cfg.epochs
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total) / total)))
    rng = np.random.default_rng(cfg.seed)
    g = torch.Generator().manual_seed(cfg.seed)
    history: list[dict[str, float]] = []
    best: tuple[float, int, dict[str, torch.Tensor]] | None = None
    start = time.perf_counter()
    progress = Progress(cfg.epochs, "backbone epoch", echo)  # default: the cogaze log (silent under --quiet)
    for epoch in range(cfg.epochs):
        perm = torch.randperm(len(xtr), generator=g)
        losses = []
        for i in range(steps_per_epoch):
            idx = perm[i * cfg.batch_size:(i + 1) * cfg.batch_size]
            loss = F.binary_cross_entropy_with_logits(model(_shift(xtr[idx], cfg.max_shift, rng)), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.item())
        auroc = mean_auroc(yva.numpy(), _scores(model, xva, 2 * cfg.batch_size))
        row = {"epoch": epoch + 1, "train_loss": float(np.mean(losses)), "val_mean_auroc": auroc,
               "seconds": time.perf_counter() - start}
        history.append(row)
        progress.step(epoch + 1, f"loss {row['train_loss']:.4f}, val mean AUROC {auroc:.3f}")
        if best is None or (not math.isnan(auroc) and (math.isnan(best[0]) or auroc > best[0])):
            best = (auroc, epoch + 1, {k: v.detach().clone() for k, v in backbone.state_dict().items()})
    assert best is not None
    backbone.load_state_dict(best[2])
    result = BackboneResult(Path(out_dir), best[1], best[0], history, len(xtr), len(xva))
    _save(backbone.eval(), cfg, result)
    return result


def _save(backbone: Any, cfg: BackboneTrainConfig, result: BackboneResult) -> None:
    """save_pretrained into a temp sibling, then swap it into place (no half-written backbone folder)."""
    out = result.out_dir
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    os.chmod(tmp, 0o777 & ~current_umask())  # mkdtemp makes 0700
    try:
        backbone.save_pretrained(tmp, safe_serialization=True)
        save_config(cfg, tmp / "train_config.yaml")
        info = {"best_epoch": result.best_epoch, "best_val_mean_auroc": result.best_val_auroc,
                "n_train": result.n_train, "n_val": result.n_val, "history": result.history}
        atomic_write_json(tmp / "backbone_train.json", info)
        if out.exists():
            if not (out / "backbone_train.json").is_file():
                raise ConfigError(f"{out} exists and is no cogaze backbone folder; refusing to overwrite it")
            shutil.rmtree(out)
        tmp.rename(out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
