"""Supervised classification (spec 5.4): linear probe and full fine-tuning, label fractions x seeds.

Head = Linear(D -> n_out) on the pooled vision latents (mean of the latents); n_out = 2 for a binary
set (two logits, softmax), C for a multi-label set (sigmoids). ``linear_probe`` freezes the encoder
and computes every split's features once; ``finetune`` trains the encoder's trainable parameters
(the encoder must be an ``nn.Module``; each run starts from a fresh copy) with the head at
``head_lr_mult`` x the base learning rate. Loss: class-balanced (beta = 0.9999, weights summing to
the number of classes), optionally focal. Every epoch is scored on the **val** split (monitor =
AUROC + F1, mode max, spec D19/D20); the best epoch's weights are scored once on test.

Metrics: binary sets report AUROC, positive-class F1 (``F1``) and accuracy (= torchmetrics' 2-class
micro F1, the figure the paper's tables call F1, spec D27); multi-label sets report macro AUROC and
macro F1 at ``threshold``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from cogaze.config import config_to_dict, help_field
from cogaze.errors import ConfigError
from cogaze.logs import Progress
from cogaze.models.interface import VisionLanguageEncoder
from cogaze.tasks import _metrics as M
from cogaze.tasks.common import batches, check_encoder, encode_batch, encode_items, set_seed
from cogaze.tasks.items import ImageItems
from cogaze.tasks.results import ClassificationResult, mean_std
from cogaze.tasks.training import (
    BestState,
    cb_loss,
    check_same_classes,
    class_balanced_weights,
    train_sets,
    training_targets,
)

MODES = ("linear_probe", "finetune")


@dataclass
class ClassificationConfig:
    """Supervised classification settings (defaults: a quick linear probe; spec 5.4 for fine-tuning)."""

    mode: str = help_field("linear_probe", help="'linear_probe' (frozen encoder) or 'finetune' (full)")
    fractions: list[int] = help_field(help="label fractions in percent", default_factory=lambda: [1, 10, 100],
                                      ge=1, le=100, min_items=1)
    seeds: list[int] = help_field(help="training seeds (mean ± std over them)", default_factory=lambda: [0, 1, 2],
                                  ge=0, le=2**32 - 1, min_items=1)
    epochs: int = help_field(20, help="training epochs (validation after each)", ge=1)
    batch_size: int = help_field(16, help="training batch size", ge=1)
    lr: float = help_field(1e-3, help="base learning rate (encoder in finetune; the probe's head uses it x head_lr_mult)",
                           gt=0, le=10)
    head_lr_mult: float = help_field(10.0, help="head learning rate = lr x this (the paper: 10)", gt=0)
    weight_decay: float = help_field(0.01, help="AdamW weight decay", ge=0)
    patience: int = help_field(5, help="ReduceLROnPlateau patience (epochs without val improvement)", ge=0)
    beta: float = help_field(0.9999, help="class-balanced loss beta (0 = unweighted)", ge=0, lt=1)
    focal_gamma: float = help_field(0.0, help="focal gamma of the CB loss (0 = weighted BCE; reference: 0.2)", ge=0)
    threshold: float = help_field(0.5, help="multi-label decision threshold on sigmoid outputs for F1", gt=0, lt=1)
    subsample_seed: int = help_field(0, help="seed of label-fraction subsampling when no fraction lists are given",
                                     ge=0, le=2**32 - 1)
    encode_batch_size: int = help_field(32, help="images per encoder call when extracting features", ge=1)
    device: str = help_field("cpu", help="torch device")


def score(labels: np.ndarray, logits: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    """Metrics of (N, n_out) logits against (N, C) labels (binary when C == 1)."""
    logits_t = torch.as_tensor(logits, dtype=torch.float32)
    if labels.shape[1] == 1:
        prob = torch.softmax(logits_t, dim=1)[:, 1].numpy()
        pred = logits_t.argmax(dim=1).numpy()
        y = labels[:, 0]
        return {"AUROC": M.auroc(y, prob), "F1": M.binary_f1(y, pred), "accuracy": M.accuracy(y, pred)}
    prob = torch.sigmoid(logits_t).numpy()
    pred = (prob > threshold).astype(np.int64)
    return {"AUROC": M.macro(M.auroc_per_class(labels, prob)), "F1": M.macro_f1(labels, pred)}


def monitor_value(metrics: Mapping[str, float]) -> float:
    """Validation monitor: AUROC + F1 (mode max, spec D19)."""
    return float(metrics["AUROC"] + metrics["F1"])


class _Probe:
    """Linear head on cached features."""

    def __init__(self, encoder: VisionLanguageEncoder, config: ClassificationConfig) -> None:
        self.encoder, self.config = encoder, config
        self.cache: dict[int, tuple[ImageItems, Tensor]] = {}

    def features(self, items: ImageItems) -> Tensor:
        key = id(items)
        if key not in self.cache:
            self.cache[key] = (items, encode_items(self.encoder, items, self.config.encode_batch_size,
                                                   device=self.config.device))
        return self.cache[key][1]

    def run(self, train: ImageItems, val: ImageItems, test: ImageItems, seed: int) -> dict:
        cfg = self.config
        x_train, x_val, x_test = self.features(train), self.features(val), self.features(test)
        gen = set_seed(seed)
        targets, counts = training_targets(train.labels)
        head = nn.Linear(x_train.shape[1], targets.shape[1])
        weights = class_balanced_weights(counts, cfg.beta)
        opt = torch.optim.AdamW(head.parameters(), lr=cfg.lr * cfg.head_lr_mult, weight_decay=cfg.weight_decay)
        sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="max", factor=0.1, patience=cfg.patience)
        best = BestState(head)
        for epoch in range(cfg.epochs):
            head.train()
            for idx in batches(len(train), cfg.batch_size, torch.randperm(len(train), generator=gen).tolist()):
                loss = cb_loss(head(x_train[idx]), targets[idx], weights, cfg.focal_gamma, train.binary)
                opt.zero_grad()
                loss.backward()
                opt.step()
            with torch.no_grad():
                val_metrics = score(val.labels, head.eval()(x_val).numpy(), cfg.threshold)
            sched.step(monitor_value(val_metrics))
            best.update(monitor_value(val_metrics), epoch)
        best.restore()
        with torch.no_grad():
            return {
                "best_epoch": best.epoch,
                "val": score(val.labels, head(x_val).numpy(), cfg.threshold),
                "test": score(test.labels, head(x_test).numpy(), cfg.threshold),
            }


def _finetune(encoder: nn.Module, train: ImageItems, val: ImageItems, test: ImageItems, seed: int,
              cfg: ClassificationConfig) -> dict:
    """One full fine-tuning run from a fresh copy of ``encoder``."""
    gen = set_seed(seed)
    model: Any = copy.deepcopy(encoder).to(cfg.device)  # a VisionLanguageEncoder module
    targets, counts = training_targets(train.labels)
    head = nn.Linear(int(model.embed_dim), targets.shape[1]).to(cfg.device)
    weights = class_balanced_weights(counts, cfg.beta)
    enc_params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": head.parameters(), "lr": cfg.lr * cfg.head_lr_mult}]
    if enc_params:
        groups.append({"params": enc_params, "lr": cfg.lr})
    opt = torch.optim.AdamW(groups, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="max", factor=0.1, patience=cfg.patience)
    best = BestState(model, head)

    def logits_of(items: ImageItems) -> np.ndarray:
        model.eval()
        head.eval()
        with torch.no_grad():
            return head(encode_items(model, items, cfg.encode_batch_size, device=cfg.device).to(cfg.device)).cpu().numpy()

    for epoch in range(cfg.epochs):
        for idx in batches(len(train), cfg.batch_size, torch.randperm(len(train), generator=gen).tolist()):
            model.train()
            head.train()
            pooled = encode_batch(model, train, idx, cfg.device).pooled
            loss = cb_loss(head(pooled), targets[idx].to(cfg.device), weights, cfg.focal_gamma, train.binary)
            opt.zero_grad()
            loss.backward()
            opt.step()
        val_metrics = score(val.labels, logits_of(val), cfg.threshold)
        sched.step(monitor_value(val_metrics))
        best.update(monitor_value(val_metrics), epoch)
    best.restore()
    return {
        "best_epoch": best.epoch,
        "val": score(val.labels, logits_of(val), cfg.threshold),
        "test": score(test.labels, logits_of(test), cfg.threshold),
    }


def run_classification(
    encoder: VisionLanguageEncoder,
    train: ImageItems | Mapping[int, ImageItems],
    val: ImageItems,
    test: ImageItems,
    config: ClassificationConfig | None = None,
    label: str | None = None,
) -> ClassificationResult:
    """Train and score a classifier for every (fraction, seed); mean ± std over seeds on test.

    ``train`` is either the items of each fraction (``{1: ..., 10: ..., 100: ...}``, from the split
    files) or one set that is subsampled per fraction (stratified, ``subsample_seed``). ``label`` names
    the run in the progress lines (default: the test set's name), e.g. which encoder is probed.
    """
    config = config or ClassificationConfig()
    if config.mode not in MODES:
        raise ConfigError(f"mode must be one of {MODES}, got {config.mode!r}")
    if not config.seeds or not config.fractions:
        raise ConfigError("give at least one seed and one label fraction")
    encoder = check_encoder(encoder, config.device)
    if config.mode == "finetune" and not isinstance(encoder, nn.Module):
        raise ConfigError("finetune needs an encoder that is a torch nn.Module (its parameters are trained)")
    sets = train_sets(train, config.fractions, config.subsample_seed)
    check_same_classes(*sets.values(), val, test)
    probe = _Probe(encoder, config) if config.mode == "linear_probe" else None
    runs = []
    what = "linear probe" if probe is not None else "fine-tuning"
    progress = Progress(len(sets) * len(config.seeds), f"{what} ({label or test.name or 'classification'}) run")
    for fraction, items in sets.items():
        for seed in config.seeds:
            if probe is not None:
                out = probe.run(items, val, test, seed)
            else:
                out = _finetune(encoder, items, val, test, seed, config)  # type: ignore[arg-type]
            runs.append({"fraction": fraction, "seed": seed, "n_train": len(items), **out})
            progress.step(len(runs), f"{fraction}% labels, seed {seed}, best epoch {out['best_epoch']}")
    summary = {}
    for fraction in sets:
        chosen = [r["test"] for r in runs if r["fraction"] == fraction]
        summary[f"{fraction}%"] = {k: mean_std([r[k] for r in chosen]) for k in chosen[0]}
    metrics = {f"{k}@{frac}": v.mean for frac, row in summary.items() for k, v in row.items()}
    return ClassificationResult(
        task="classification",
        dataset=test.name,
        metrics=metrics,
        config=config_to_dict(config),
        runs=runs,
        summary=summary,
        mode=config.mode,
    )
