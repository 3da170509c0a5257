"""The pretraining configuration (``configs/pretrain/*.yaml``), spec 4."""

from __future__ import annotations

from dataclasses import dataclass

from cogaze.config import help_field
from cogaze.models.cogaze import ModelConfig


@dataclass
class DataConfig:
    """Data loading."""

    root: str = help_field("", "Dataset folder (docs/formats.md); wired by `cogaze pretrain`.")
    batch_size: int = help_field(80, "Images per step (per device).", ge=1)
    val_batch_size: int = help_field(0, "Validation batch size; 0 = batch_size.", ge=0)
    num_workers: int = help_field(0, "DataLoader worker processes.", ge=0)
    store: str = help_field(
        "", "Prepared image store (`cogaze data prepare DATA_DIR --out STORE`) to read images from instead of "
        "decoding the files; '' = the files.")
    fast_decode: bool = help_field(
        True, "Decode JPEG files with DCT scaling to >= 2x the model size before the exact resize (docs/scaling.md: "
        "tolerance vs a full decode); false = full decode. A store keeps the decode it was prepared with.")
    impression_only: str = help_field("use", "Studies with an IMPRESSION but no FINDINGS: 'use' the impression "
                                             "as the report text, or 'skip' their images (counted either way).")


@dataclass
class OptimConfig:
    """AdamW + ReduceLROnPlateau on the validation loss (stepped per epoch)."""

    lr: float = help_field(5e-5, "Learning rate.", gt=0, le=10)
    weight_decay: float = help_field(0.01, "AdamW weight decay (torch default).", ge=0)
    plateau_factor: float = help_field(0.1, "ReduceLROnPlateau factor.", gt=0, lt=1)
    plateau_patience: int = help_field(10, "ReduceLROnPlateau patience (epochs).", ge=0)


@dataclass
class TrainerConfig:
    """Arguments passed to ``lightning.Trainer`` (precision/strategy/devices/num_nodes/accumulation really reach it)."""

    max_epochs: int = help_field(10, "Epochs (total, including resumed ones).", ge=1)
    accelerator: str = help_field("auto", "cpu, gpu, auto.")
    devices: str = help_field("auto", "Devices per node: 'auto', a count ('2') or a list ('0,1').")
    num_nodes: int = help_field(1, "Nodes.", ge=1)
    strategy: str = help_field(
        "auto", "auto, ddp, fsdp, ... With ddp each rank computes the losses on its own batch (no cross-rank "
        "gather, as in the reference code) and gradients are averaged; on CPU it uses gloo.")
    precision: str = help_field("32-true", "32-true, bf16-mixed, 16-mixed, ...")
    accumulate_grad_batches: int = help_field(2, "Gradient accumulation (reference: 2).", ge=1)
    gradient_clip_val: float = help_field(0.0, "Gradient-norm clip; 0 = none.", ge=0)
    checkpoint_every_n_steps: int = help_field(
        0, "Also checkpoint every n optimizer steps (mid-epoch; `resume` continues from the exact batch); 0 = off.",
            ge=0)
    stop_after_steps: int = help_field(
        0, "End the run cleanly after this many optimizer steps in total (a checkpoint is written); 0 = off.", ge=0)
    limit_train_batches: float = help_field(1.0, "Fraction (<=1.0) or count (>1) of train batches per epoch.", gt=0)
    limit_val_batches: float = help_field(1.0, "Fraction or count of val batches.", ge=0)
    seed: int = help_field(9233, "Seed of everything (init, shuffling, dropout).", ge=0, le=2**32 - 1)
    matmul_precision: str = help_field("medium", "torch.set_float32_matmul_precision (TF32 on GPUs).")


@dataclass
class PretrainConfig:
    """Everything a pretraining run needs."""

    model: ModelConfig = help_field(help="The CoGaze model.", default_factory=ModelConfig)
    data: DataConfig = help_field(help="Data loading.", default_factory=DataConfig)
    optim: OptimConfig = help_field(help="Optimiser and scheduler.", default_factory=OptimConfig)
    trainer: TrainerConfig = help_field(help="Lightning Trainer.", default_factory=TrainerConfig)


def train_batches_per_epoch(n_train: int, batch_size: int, world: int = 1, limit: float = 1.0) -> int:
    """Optimizer-loop batches of one epoch: full batches of ``batch_size`` per rank over ``world`` ranks
    (the remainder is dropped, as the pretraining sampler does), cut by ``trainer.limit_train_batches``
    (a fraction <= 1 or a count > 1)."""
    batches = n_train // (batch_size * world) if batch_size > 0 and world > 0 else 0
    return min(batches, int(limit)) if limit > 1 else int(batches * limit)


def check_trains(config: PretrainConfig, n_train: int, world: int = 1) -> int:
    """Batches per epoch; a ConfigError naming the keys when a run would train zero steps."""
    from cogaze.errors import ConfigError

    d, t = config.data, config.trainer
    batches = train_batches_per_epoch(n_train, d.batch_size, world, t.limit_train_batches)
    if batches < 1:
        ranks = f" x {world} ranks" if world > 1 else ""
        raise ConfigError(
            f"no training step would run: {n_train} training image(s), data.batch_size={d.batch_size}{ranks} and "
            f"trainer.limit_train_batches={t.limit_train_batches:g} give 0 full batches per epoch (an incomplete "
            f"last batch is dropped); lower data.batch_size to at most {max(n_train // world, 1)} or use more data")
    return batches
