"""The pretraining LightningModule: AdamW, ReduceLROnPlateau on the val loss, per-term logging."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch.utils.data import Sampler

from cogaze.logs import Progress
from cogaze.models.cogaze import CoGazeModel
from cogaze.models.pretrained import image_geometry
from cogaze.tasks.pretrain.collate import finish_batch
from cogaze.tasks.pretrain.config import PretrainConfig

log = logging.getLogger("cogaze.pretrain")
TENSOR_KEYS = ("dicom_ids", "study_keys")


def retrieval_top1(vision: torch.Tensor, report: torch.Tensor, study_keys: list) -> tuple[float, float]:
    """Image->report top-1 (a hit = the top report belongs to the image's study) and its chance level."""
    sim = F.normalize(vision.float(), dim=-1) @ F.normalize(report.float(), dim=-1).t()
    ids = {k: i for i, k in enumerate(dict.fromkeys(study_keys))}
    sid = torch.tensor([ids[k] for k in study_keys])
    same = sid[:, None] == sid[None, :]
    hits = same[torch.arange(len(sid)), sim.argmax(1)].float().mean()
    return float(hits), float(same.float().mean(1).mean())


class EpochSampler(Sampler[int]):
    """Shuffles with seed + the *global* epoch (which survives resumes); shards across ranks by batch.

    Global batch k of an epoch is ``order[k*B*W : (k+1)*B*W]`` (B images per rank, W ranks) and rank r
    takes its r-th block of B: the W ranks of one step see exactly the images one process would see
    with batch W x B, no image twice and none left out but the drop-last remainder (< W x B images, as
    for one process). ``batch=1`` interleaves ranks image by image. ``skip = (epoch, k)`` drops the
    first ``k`` indices of this rank's order in that epoch only: a run resumed mid-epoch sees exactly
    the batches it had not consumed yet.
    """

    def __init__(self, n: int, seed: int, epoch_fn: Callable[[], int], rank: int = 0, world: int = 1,
                 skip: tuple[int, int] = (0, 0), batch: int = 1):
        if not 0 <= rank < world or batch < 1:
            raise ValueError(f"bad sharding rank={rank} world={world} batch={batch}")
        self.n, self.seed, self.epoch_fn, self.rank, self.world = n, seed, epoch_fn, rank, world
        self.skip, self.batch = skip, batch

    def _skipped(self) -> int:
        return self.skip[1] if self.epoch_fn() == self.skip[0] else 0

    def __len__(self) -> int:
        step = self.batch * self.world
        return max((self.n // step) * self.batch - self._skipped(), 0)

    def __iter__(self):
        g = torch.Generator().manual_seed(self.seed + 7919 * self.epoch_fn())
        step = self.batch * self.world
        order = torch.randperm(self.n, generator=g)[: (self.n // step) * step]
        mine = order.view(-1, self.world, self.batch)[:, self.rank].reshape(-1)
        return iter(mine[self._skipped():].tolist())


def load_optimizer_state(strategy: Any, optimizer: torch.optim.Optimizer, state: dict[str, Any]) -> None:
    """Load a full optimizer state dict (as ``save_checkpoint`` writes it) into ``optimizer``.

    Under FSDP (the model already wrapped when Lightning calls ``configure_optimizers``) every rank
    turns the full, parameter-id-keyed state into its own shard, as Lightning's FSDP loader does; the
    other strategies hold whole parameters and load it as it is.
    """
    from lightning.pytorch.strategies import FSDPStrategy

    if isinstance(strategy, FSDPStrategy):
        from torch.distributed.fsdp import (
            FullOptimStateDictConfig,
            FullStateDictConfig,
            OptimStateKeyType,
            StateDictType,
        )
        from torch.distributed.fsdp import FullyShardedDataParallel as FSDP

        model = strategy.model
        assert model is not None  # set up by the strategy before any optimizer state is loaded
        with FSDP.state_dict_type(model, StateDictType.FULL_STATE_DICT, FullStateDictConfig(rank0_only=False),
                                  FullOptimStateDictConfig(rank0_only=False)):
            if state.get("state") and isinstance(next(iter(state["state"])), int):
                state = FSDP.rekey_optim_state_dict(state, OptimStateKeyType.PARAM_NAME, model)
            state = FSDP.optim_state_dict_to_load(model, optimizer, state)
    optimizer.load_state_dict(state)


class PretrainModule(L.LightningModule):
    """Wraps :class:`CoGazeModel`; ``epoch_offset``/``step_offset``/``batch_offset`` continue counters after a resume.

    ``on_epoch_end(module)`` runs after each *complete* epoch (validation done); ``on_step_end(module)``
    after each optimizer step that did not end an epoch. Both write checkpoints in ``run.py``.
    """

    def __init__(self, config: PretrainConfig, metrics_path: str | Path | None = None,
                 resume_state: dict[str, Any] | None = None,
                 on_epoch_end: Callable[[PretrainModule], None] | None = None,
                 on_step_end: Callable[[PretrainModule], None] | None = None):
        super().__init__()
        self.config = config
        self.model = CoGazeModel(config.model)
        self.geometry = image_geometry(config.model)
        self.metrics_path = None if metrics_path is None else Path(metrics_path)
        self.resume_state = resume_state
        self.epoch_offset = int(resume_state["epoch"]) if resume_state else 0
        self.step_offset = int(resume_state["global_step"]) if resume_state else 0
        # Batches of epoch ``epoch_offset`` consumed before a mid-epoch checkpoint (0 at epoch ends).
        self.batch_offset = int(resume_state.get("batch", 0)) if resume_state else 0
        self.best_val = float(resume_state.get("best_val", float("inf"))) if resume_state else float("inf")
        # Rows logged since the last epoch checkpoint (rank 0): each checkpoint stores them, so a lost or
        # damaged metrics.jsonl can be rebuilt on resume (a mid-epoch resume starts from the stored ones).
        self.epoch_rows: list[dict[str, Any]] = list(resume_state.get("metrics_rows") or []) \
            if resume_state and self.batch_offset else []
        self.on_epoch_end_fn = on_epoch_end
        self.on_step_end_fn = on_step_end
        self.epochs_done = self.epoch_offset
        self.batches_done = self.batch_offset  # of the current epoch, counted from its first batch
        self._step_at_batch_start = 0
        self._epoch_loss: list[float] = []
        self._epochs_progress: Progress | None = None
        self._batches_progress: Progress | None = None
        self.stopped_at: dict[str, int] | None = None
        self.plateau: torch.optim.lr_scheduler.ReduceLROnPlateau | None = None
        self.last_val: dict[str, float] = {}
        self._val: dict[str, list] = {}

    # ---- counters -------------------------------------------------------------------------------
    @property
    def global_epoch(self) -> int:
        return self.epoch_offset + self.current_epoch

    @property
    def total_steps(self) -> int:
        return self.step_offset + self.global_step

    def epoch_batch(self, batch_idx: int) -> int:
        """Lightning's ``batch_idx`` -> the index within the whole epoch (differs only in a resumed epoch)."""
        return batch_idx + (self.batch_offset if self.current_epoch == 0 else 0)

    @property
    def epoch_finished(self) -> bool:
        """Whether every batch of the current epoch has been trained on."""
        return self.batches_done - self.epoch_batch(0) >= self.trainer.num_training_batches

    def _write(self, record: dict[str, Any]) -> None:
        if self.trainer.is_global_zero:
            self.epoch_rows.append(record)
        if self.metrics_path is not None and self.trainer.is_global_zero:
            with self.metrics_path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(record) + "\n")

    # ---- optimisation ---------------------------------------------------------------------------
    def configure_optimizers(self):  # noqa: ANN201
        o = self.config.optim
        params = [p for p in self.model.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=o.lr, weight_decay=o.weight_decay)
        # Stepped by hand after validation (so the checkpoint written at epoch end holds its new state).
        self.plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(
            opt, mode="min", factor=o.plateau_factor, patience=o.plateau_patience)
        if self.resume_state:
            load_optimizer_state(self.trainer.strategy, opt, self.resume_state["optimizer"])
            self.plateau.load_state_dict(self.resume_state["scheduler"])
        return opt

    def on_fit_start(self) -> None:
        t = self.config.trainer
        if self.trainer.is_global_zero:
            self._epochs_progress = Progress(t.max_epochs - self.epoch_offset, "pretraining epoch", log.info,
                                             offset=self.epoch_offset)

    def on_train_epoch_start(self) -> None:
        self.batches_done = self.epoch_batch(0)
        self._epoch_loss = []
        if self.trainer.is_global_zero:  # a line every 30 s inside long epochs
            n = int(self.trainer.num_training_batches)  # finite: our loaders have a length
            self._batches_progress = Progress(n, f"epoch {self.global_epoch + 1} batch", log.info, every_s=30.0,
                                              offset=self.epoch_batch(0))

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        # Dropout randomness depends only on (seed, epoch, batch-in-epoch, rank): resumes replay it exactly.
        b = self.epoch_batch(batch_idx)
        seed = self.config.trainer.seed + 1_000_003 * self.global_epoch + 101 * b + self.global_rank
        torch.manual_seed(seed % (2**63 - 1))
        self._step_at_batch_start = self.global_step

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        out = self.model(batch)
        n = len(batch["view_ids"])
        self._epoch_loss.append(float(out.loss.detach()))
        self.log_dict({f"train/{k}": v.detach() for k, v in out.losses.items()}, batch_size=n)
        self._write({"step": self.total_steps, "epoch": self.global_epoch, "batch": self.epoch_batch(batch_idx),
                     "split": "train", **self._rank_mean(out.losses),
                     "lr": float(self.trainer.optimizers[0].param_groups[0]["lr"])})
        return out.loss

    def _rank_mean(self, losses: dict[str, torch.Tensor]) -> dict[str, float]:
        """Loss terms averaged over ranks (DDP), a term missing on a rank (no gaze items) left out of its mean."""
        if self.trainer.world_size == 1:
            return {k: float(v.detach()) for k, v in losses.items()}
        keys = ("contrastive", "cls_vision", "cls_report", "gaze", "loss")
        vec = torch.stack([losses[k].detach().float() if k in losses else torch.tensor(float("nan"), device=self.device)
                           for k in keys])
        gathered = self.all_gather(vec)
        assert isinstance(gathered, torch.Tensor)
        rows = gathered.reshape(-1, len(keys))
        out = {}
        for i, k in enumerate(keys):
            col = rows[:, i][~torch.isnan(rows[:, i])]
            if len(col):
                out[k] = float(col.mean())
        return out

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        self.batches_done = self.epoch_batch(batch_idx) + 1
        if self._batches_progress is not None and self.batches_done - self.epoch_batch(0) < self.trainer.num_training_batches:
            self._batches_progress.step(self.batches_done - self.epoch_batch(0))
        stepped = self.global_step > self._step_at_batch_start
        if stepped and not self.epoch_finished and self.on_step_end_fn is not None:
            self.on_step_end_fn(self)

    # ---- validation -----------------------------------------------------------------------------
    def on_validation_epoch_start(self) -> None:
        self._val = {"vision": [], "report": [], "keys": [], "terms": []}

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        out = self.model(batch)
        n = len(batch["view_ids"])
        self._val["terms"].append(({k: float(v.detach()) for k, v in out.losses.items()}, n))
        self._val["vision"].append(out.vision_pooled.detach().cpu())
        self._val["report"].append(out.report_pooled.detach().cpu())
        self._val["keys"].extend(batch["study_keys"])
        self.log("val/loss", out.loss.detach(), batch_size=n, sync_dist=True)

    def on_validation_epoch_end(self) -> None:
        if not self._val.get("terms"):
            return
        totals: dict[str, float] = {}
        counts: dict[str, int] = {}
        for terms, n in self._val["terms"]:
            for k, v in terms.items():
                totals[k] = totals.get(k, 0.0) + v * n
                counts[k] = counts.get(k, 0) + n
        val = {k: totals[k] / counts[k] for k in totals}
        top1, chance = retrieval_top1(torch.cat(self._val["vision"]), torch.cat(self._val["report"]), self._val["keys"])
        val.update(retrieval_top1=top1, retrieval_chance=chance)
        self.last_val = val
        self._write({"step": self.total_steps, "epoch": self.global_epoch, "split": "val", **val})

    def on_train_epoch_end(self) -> None:
        if not self.epoch_finished:  # stopped mid-epoch (trainer.stop_after_steps): no epoch end
            self.stopped_at = {"epoch": self.global_epoch, "batch": self.batches_done}
            return
        self.epochs_done = self.global_epoch + 1
        if self.plateau is not None and "loss" in self.last_val:
            self.plateau.step(self.last_val["loss"])
        if self._epochs_progress is not None:
            v = self.last_val
            detail = f"train loss {sum(self._epoch_loss) / max(len(self._epoch_loss), 1):.4f}"
            if "loss" in v:
                detail += f", val loss {v['loss']:.4f}, val retrieval top-1 {v.get('retrieval_top1', float('nan')):.3f}"
            self._epochs_progress.step(self.epochs_done - self.epoch_offset, detail)
        if self.on_epoch_end_fn is not None:
            self.on_epoch_end_fn(self)
        self.epoch_rows = []

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        return finish_batch(batch, self.geometry)  # uint8 images are normalised on the device

    def transfer_batch_to_device(self, batch: Any, device: torch.device, dataloader_idx: int) -> Any:
        keep = {k: batch.pop(k) for k in TENSOR_KEYS if k in batch}
        batch = super().transfer_batch_to_device(batch, device, dataloader_idx)
        batch.update(keep)
        return batch
