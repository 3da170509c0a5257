"""The pretraining run folder: ``fit`` a fresh run, ``resume`` a stopped one.

RUN_DIR/
  config.yaml            resolved PretrainConfig (vocab size, pad id, class counts filled in)
  metrics.jsonl          one JSON object per train step / val epoch: step, epoch, split, each loss term
  checkpoints/epoch-NNNN/{model.safetensors, config.json, state.pt, metrics.jsonl, checkpoint.json}
                         (written atomically; checkpoint.json: sha256 of every file, checked on resume and
                         load; metrics.jsonl: the epoch's rows up to the checkpoint)
  checkpoints/step-NNNNNNN/...   mid-epoch checkpoint (trainer.checkpoint_every_n_steps / stop_after_steps;
                                 only the newest is kept)
  checkpoints/last.json, best.json   pointers to a checkpoint folder
  summary.json           final val losses and val image->report retrieval top-1

``state.pt`` holds only tensors and plain containers (optimizer/scheduler state, counters: epoch, batch
within it, global step) and is read with ``torch.load(weights_only=True)``; weights are safetensors.
Checkpoints are taken at epoch ends and, optionally, every n optimizer steps; ``resume`` continues
from the newest intact one, skipping the batches of the epoch already consumed, and replays the same
data order and dropout masks, so the loss sequence equals an uninterrupted run's. Before that
(``cogaze.tasks.pretrain.recovery``, docs/resume.md) a damaged or missing newest checkpoint falls back
to the newest intact one, ``last.json`` is rebuilt, stale temporary folders are removed and
``metrics.jsonl`` is reconciled with the checkpoint (rows past it dropped, lost rows restored), each
with a warning.

With ``trainer.strategy=ddp`` (one node or several: ``trainer.num_nodes``) every rank trains on its own
batch-sized blocks of each epoch's order, so one step of W ranks x B images sees the same images as
one process with W x B (losses are per rank, no cross-rank gather, as in the reference code; DDP
averages gradients); the logged train losses are means over ranks, each rank validates on the whole
val set, and only global rank 0 writes files. Checkpoints gather the weights and optimizer state
through the strategy on every rank (what FSDP needs); ``trainer.strategy=fsdp`` is documented in
docs/scaling.md. DeepSpeed is refused (its optimizer state only exists in its own pickled format).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, cast

import lightning as L
import numpy as np
import torch
from lightning.fabric.utilities.exceptions import MisconfigurationException
from safetensors.torch import save_file
from torch.utils.data import DataLoader

from cogaze.config import config_to_dict, load_config, save_config
from cogaze.errors import ConfigError
from cogaze.io import atomic_write_json, current_umask
from cogaze.logs import tame_lightning
from cogaze.models.cogaze import resolve_text_vocab
from cogaze.models.tokenizer import load_tokenizer
from cogaze.tasks.checkpoints import write_manifest
from cogaze.tasks.pretrain.collate import PretrainCollator
from cogaze.tasks.pretrain.config import PretrainConfig, check_trains
from cogaze.tasks.pretrain.module import EpochSampler, PretrainModule
from cogaze.tasks.pretrain.pretrained import load_weights
from cogaze.tasks.pretrain.recovery import SEGMENT, ResumePoint, find_resume_point, reconcile_metrics


class SampleSource(Protocol):
    """What training reads samples from: a list of sample dicts or a lazy PretrainSamples."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> dict[str, Any]: ...


log = logging.getLogger("cogaze.pretrain")


def _atomic_json(path: Path, obj: Any) -> None:
    atomic_write_json(path, obj, default=None)


def _devices(value: str) -> Any:
    v = str(value).strip()
    if v.isdigit():
        return int(v)
    if "," in v:
        return [int(x) for x in v.split(",") if x.strip()]
    return v


def is_launch_rank_zero() -> bool:
    """False in the extra processes of a distributed launch (Lightning's ddp, torchrun, SLURM).

    Known before the Trainer exists, so those processes leave the run folder to rank 0.
    """
    for var in ("RANK", "SLURM_PROCID", "LOCAL_RANK", "NODE_RANK"):
        if os.environ.get(var, "0") not in ("", "0"):
            return False
    return True


def build_trainer(config: PretrainConfig, max_epochs: int | None = None, max_steps: int = -1,
                  reload_each_epoch: bool = False) -> L.Trainer:
    """A ``lightning.Trainer`` carrying the config's precision, strategy, devices, nodes and accumulation.

    ``reload_each_epoch`` re-reads the dataloader length every epoch (a resumed epoch is shorter than
    the next ones); it costs one discarded prefetched batch per epoch, so it is off otherwise.
    """
    t = config.trainer
    tame_lightning()  # one line per Lightning message, no advertisements
    limit = lambda x: int(x) if x > 1 else x  # noqa: E731
    try:
        return _trainer(t, limit, max_epochs, max_steps, reload_each_epoch)
    except (ValueError, TypeError, MisconfigurationException) as err:  # Lightning's check (e.g. fsdp needs GPUs)
        raise ConfigError(f"trainer settings (strategy={t.strategy!r}, accelerator={t.accelerator!r}, "
                          f"devices={t.devices!r}, precision={t.precision!r}) refused by Lightning: {err}") from None


def _trainer(t: Any, limit: Any, max_epochs: int | None, max_steps: int, reload_each_epoch: bool) -> L.Trainer:
    return L.Trainer(
        max_epochs=t.max_epochs if max_epochs is None else max_epochs, max_steps=max_steps,
        reload_dataloaders_every_n_epochs=int(reload_each_epoch),
        accelerator=t.accelerator, devices=_devices(t.devices), num_nodes=t.num_nodes, strategy=t.strategy,
        precision=t.precision,  # type: ignore[arg-type]  # a str checked by TrainerConfig
        accumulate_grad_batches=t.accumulate_grad_batches,
        gradient_clip_val=t.gradient_clip_val or None,
        limit_train_batches=limit(t.limit_train_batches), limit_val_batches=limit(t.limit_val_batches),
        logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        num_sanity_val_steps=0, use_distributed_sampler=False, log_every_n_steps=1,
    )


def positive_counts(samples: SampleSource) -> list[float]:
    """Per-class positive counts over the training samples (spec 1.3).

    Lazy sample sets (``cogaze.tasks.pretrain.samples.PretrainSamples``) answer from their records without
    reading a single image.
    """
    if hasattr(samples, "label_matrix"):
        return samples.label_matrix().sum(0).astype(float).tolist()  # type: ignore[attr-defined]
    labels = [np.asarray(samples[i]["labels"], dtype=np.float64) for i in range(len(samples))]
    return np.stack(labels).sum(0).tolist()


def save_checkpoint(module: PretrainModule, ckpt_dir: Path, mid_epoch: bool = False,
                    info: dict[str, Any] | None = None) -> Path:
    """Write weights (safetensors) + config (JSON) + optimizer/scheduler state atomically.

    Called on every rank: the weights and the optimizer state are gathered through the Lightning
    strategy (FSDP assembles the full state dicts from every rank's shards; DDP / one device just
    read them), then global rank 0 writes. At an epoch end (default) the state records ``epoch`` =
    epochs done, ``batch`` = 0; ``mid_epoch`` records the current epoch and the batches of it consumed.
    The folder also gets the rows logged since the last epoch checkpoint and, last, ``checkpoint.json``
    (counters, ``info``, sha256 of every file; ``cogaze.tasks.checkpoints``).
    """
    strategy = module.trainer.strategy
    full = strategy.lightning_module_state_dict()  # collective under FSDP: every rank must call it
    opt_state = strategy.optimizer_state(module.trainer.optimizers[0])
    if not module.trainer.is_global_zero:
        return ckpt_dir
    ckpt_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=ckpt_dir.parent, prefix=f".{ckpt_dir.name}."))
    os.chmod(tmp, 0o777 & ~current_umask())  # mkdtemp makes 0700; a run folder is meant to be shared
    skip_backbone = bool(module.config.model.vision.source) and not module.config.model.train_vision
    state = {k[len("model."):]: v.detach().cpu().contiguous() for k, v in full.items() if k.startswith("model.")}
    state = {k: v for k, v in state.items() if not (skip_backbone and k.startswith("vision_backbone."))}
    save_file(state, str(tmp / "model.safetensors"))
    atomic_write_json(tmp / "config.json", config_to_dict(module.config), default=None)
    epoch, batch = (module.global_epoch, module.batches_done) if mid_epoch else (module.global_epoch + 1, 0)
    assert module.plateau is not None  # created in configure_optimizers
    torch.save({"optimizer": opt_state, "scheduler": module.plateau.state_dict(),
                "epoch": epoch, "batch": batch, "global_step": module.total_steps,
                "best_val": module.best_val, "strategy": type(strategy).__name__}, tmp / "state.pt")
    (tmp / SEGMENT).write_text("".join(json.dumps(r) + "\n" for r in module.epoch_rows), encoding="utf-8")
    write_manifest(tmp, epoch=epoch, batch=batch, global_step=module.total_steps, **(info or {}))
    if ckpt_dir.exists():
        shutil.rmtree(ckpt_dir)
    os.replace(tmp, ckpt_dir)
    return ckpt_dir


def _point_last(run_dir: Path, name: str, **info: Any) -> None:
    """Move ``last.json`` to checkpoint ``name`` and drop older mid-epoch checkpoints."""
    ckpts = run_dir / "checkpoints"
    _atomic_json(ckpts / "last.json", {"path": name, **info})
    for old in ckpts.glob("step-*"):
        if old.name != name and old.is_dir():
            shutil.rmtree(old)


def _epoch_end(run_dir: Path):  # noqa: ANN202
    def hook(module: PretrainModule) -> None:
        name = f"epoch-{module.global_epoch + 1:04d}"
        val = module.last_val.get("loss")
        better = val is not None and val < module.best_val
        if val is not None and better:
            module.best_val = float(val)
        save_checkpoint(module, run_dir / "checkpoints" / name,  # every rank: the strategy gathers the state
                        info={"val": module.last_val})
        if not module.trainer.is_global_zero:
            return
        _point_last(run_dir, name, epoch=module.global_epoch + 1)
        if better:
            _atomic_json(run_dir / "checkpoints" / "best.json",
                         {"path": name, "val_loss": val, "epoch": module.global_epoch + 1, "val": module.last_val})
    return hook


def _step_end(run_dir: Path, every: int, stop: int):  # noqa: ANN202
    def hook(module: PretrainModule) -> None:
        step = module.total_steps
        if not ((every and step % every == 0) or (stop and step >= stop)):
            return
        name = f"step-{step:07d}"
        save_checkpoint(module, run_dir / "checkpoints" / name, mid_epoch=True)  # every rank
        if not module.trainer.is_global_zero:
            return
        _point_last(run_dir, name, epoch=module.global_epoch, batch=module.batches_done, step=step)
    return hook


def _run(config: PretrainConfig, train: SampleSource, val: SampleSource, run_dir: Path, resume_state: dict | None,
         checkpoint: Path | None = None) -> dict:
    """Train with ``trainer.matmul_precision``; the process's previous setting is restored afterwards
    (it is global: left at "medium", later CPU matmuls of the caller would run in bf16)."""
    before = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision(config.trainer.matmul_precision)
    try:
        return _train(config, train, val, run_dir, resume_state, checkpoint)
    finally:
        torch.set_float32_matmul_precision(before)


def _train(config: PretrainConfig, train: SampleSource, val: SampleSource, run_dir: Path, resume_state: dict | None,
           checkpoint: Path | None) -> dict:
    t = config.trainer
    tokenizer = load_tokenizer(config.model.tokenizer)
    L.seed_everything(t.seed, workers=True, verbose=False)
    module = PretrainModule(config, run_dir / "metrics.jsonl", resume_state, _epoch_end(run_dir),
                            _step_end(run_dir, t.checkpoint_every_n_steps, t.stop_after_steps))
    done = module.epoch_offset
    if checkpoint is not None:
        load_weights(module.model, checkpoint / "model.safetensors")
    if module.batch_offset and t.limit_train_batches != 1.0:
        raise ConfigError("resuming mid-epoch needs trainer.limit_train_batches=1.0")
    max_steps = -1
    if t.stop_after_steps:
        if t.stop_after_steps <= module.step_offset:
            raise ConfigError(f"{run_dir} is already at step {module.step_offset}: set trainer.stop_after_steps "
                              "higher, or 0 to train to trainer.max_epochs")
        max_steps = t.stop_after_steps - module.step_offset
    trainer = build_trainer(config, max_epochs=t.max_epochs - done, max_steps=max_steps,
                            reload_each_epoch=module.batch_offset > 0)
    collate = PretrainCollator(tokenizer, config.model.max_text_length)
    d = config.data
    if "deepspeed" in type(trainer.strategy).__name__.lower():
        raise ConfigError("trainer.strategy=deepspeed is not supported: its optimizer states are partitioned in "
                          "DeepSpeed's own pickled checkpoint format; use ddp, or fsdp to shard the model")
    sampler = EpochSampler(len(train), t.seed, lambda: module.global_epoch, trainer.global_rank, trainer.world_size,
                           skip=(module.epoch_offset, module.batch_offset * d.batch_size), batch=d.batch_size)
    check_trains(config, len(train), trainer.world_size)
    train_dl: DataLoader[Any] = DataLoader(cast(Any, train), batch_size=d.batch_size, sampler=sampler, collate_fn=collate,
                          drop_last=True, num_workers=d.num_workers)
    val_dl: DataLoader[Any] | None = DataLoader(cast(Any, val), batch_size=d.val_batch_size or d.batch_size, shuffle=False,
                        collate_fn=collate, num_workers=d.num_workers) if len(val) else None
    if t.max_epochs - done > 0:
        with warnings.catch_warnings():
            # The vision backbone runs in eval mode on purpose (frozen, or frozen BatchNorm statistics).
            warnings.filterwarnings("ignore", message=r"Found \d+ module\(s\) in eval mode")
            warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")  # Lightning internals
            trainer.fit(module, train_dl, val_dl)
    summary = {"epochs": module.epochs_done, "steps": module.total_steps,
               "val": module.last_val, "retrieval_top1": module.last_val.get("retrieval_top1"),
               "retrieval_chance": module.last_val.get("retrieval_chance")}
    best = run_dir / "checkpoints" / "best.json"
    if best.is_file():  # the checkpoint downstream tasks load (lowest val loss) and its val metrics
        info = json.loads(best.read_text())
        summary["best"] = {"epoch": info.get("epoch"), "val": info.get("val", {"loss": info.get("val_loss")})}
    if module.stopped_at:
        summary["stopped_at"] = module.stopped_at
    if trainer.is_global_zero:
        _atomic_json(run_dir / "summary.json", summary)
    return summary


def fit(config: PretrainConfig, train_samples: SampleSource, val_samples: SampleSource,
        run_dir: str | Path) -> dict[str, Any]:
    """Train a fresh run into ``run_dir`` on in-memory samples (docs/batch.md); returns the summary."""
    run_dir = Path(run_dir)
    ckpts = run_dir / "checkpoints"
    if (ckpts / "last.json").exists() or any(ckpts.glob("epoch-*")) or any(ckpts.glob("step-*")):
        raise ConfigError(f"{run_dir} already holds a run (checkpoints/); resume it (--resume / resume()) "
                          "or use another folder")
    run_dir.mkdir(parents=True, exist_ok=True)
    if not train_samples:
        raise ConfigError("fit: no training samples")
    check_trains(config, len(train_samples))  # refuse a run of zero steps before writing anything
    tokenizer = load_tokenizer(config.model.tokenizer)
    resolve_text_vocab(config.model, tokenizer)
    if not config.model.loss.positive_counts:
        config.model.loss.positive_counts = positive_counts(train_samples)
    if is_launch_rank_zero():
        save_config(config, run_dir / "config.yaml")
        (run_dir / "metrics.jsonl").write_text("", encoding="utf-8")
    return _run(config, train_samples, val_samples, run_dir, None)


def resume(run_dir: str | Path, train_samples: SampleSource, val_samples: SampleSource,
           overrides: Sequence[str] = (), point: ResumePoint | None = None) -> dict[str, Any]:
    """Continue ``run_dir`` from its newest intact checkpoint, mid-epoch ones included (same config;
    ``overrides`` e.g. ``trainer.max_epochs=20`` or ``trainer.stop_after_steps=0``).

    ``point``: the checkpoint :func:`cogaze.tasks.pretrain.recovery.find_resume_point` chose (found here
    when None); damage is repaired with a warning each (docs/resume.md).
    """
    run_dir = Path(run_dir)
    if point is None:
        point = find_resume_point(run_dir, repair=is_launch_rank_zero())
    config = load_config(PretrainConfig, run_dir / "config.yaml", overrides)
    state = dict(point.state)
    if is_launch_rank_zero():  # only rank 0 writes files (and keeps the rows each checkpoint stores)
        log.info("resuming %s from checkpoint %s", run_dir, point.where)
        if overrides:
            save_config(config, run_dir / "config.yaml")
        rows = reconcile_metrics(run_dir, point)
        state["metrics_rows"] = [r for r in rows if r["epoch"] == state["epoch"]] if state.get("batch") else []
    return _run(config, train_samples, val_samples, run_dir, state, point.folder)
