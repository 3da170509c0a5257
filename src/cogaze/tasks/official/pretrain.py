"""The authors' released pretraining checkpoint -> a cogaze pretraining run folder.

The run folder is what ``cogaze pretrain`` writes (config.yaml, tokenizer/, sources.json,
checkpoints/<name>/model.safetensors with last.json and best.json pointing at it), plus ``import.json``
recording where every tensor came from. Every verb that takes ``--checkpoint RUN`` accepts it.

The model is built from a cogaze config (default: the shipped ``mimic-paper.yaml``), so the shapes of
the checkpoint are checked against it. The import refuses, listing every key: tensors of another shape,
trainable parameters the checkpoint lacks (they would stay randomly initialised), keys cogaze does not
know (unless ``allow_unmapped``), and an image encoder that differs from ``model.vision.source``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from cogaze.config import config_to_dict, load_config, save_config
from cogaze.data.records import VIEW_POSITIONS
from cogaze.errors import ConfigError
from cogaze.io import atomic_write_json, current_umask
from cogaze.models.cogaze import CoGazeModel, resolve_text_vocab
from cogaze.models.official import (
    OfficialLoadReport,
    backbone_differences,
    load_official_state,
    reorder_views,
    view_table_key,
)
from cogaze.models.pretrained import image_geometry
from cogaze.models.tokenizer import load_tokenizer, raw_tokenizer
from cogaze.resources import config_path as shipped_config
from cogaze.tasks.pretrain.config import PretrainConfig
from cogaze.tasks.pretrain.sources import record_sources

log = logging.getLogger("cogaze.official")

DEFAULT_CONFIG = "pretrain/mimic-paper.yaml"
CHECKPOINT_NAME = "imported"
IMPORT_FILE = "import.json"


def build_model(config_file: str | Path | None, overrides: Sequence[str]) -> tuple[PretrainConfig, Any, CoGazeModel]:
    """The config (vocabulary resolved), tokenizer and a CoGaze model built from it (backbones loaded)."""
    config = load_config(PretrainConfig, config_file or shipped_config(DEFAULT_CONFIG), overrides)
    tokenizer = load_tokenizer(config.model.tokenizer)
    resolve_text_vocab(config.model, tokenizer)
    image_geometry(config.model)  # a backbone without known preprocessing is refused before the slow build
    torch.manual_seed(0)  # every trainable tensor is overwritten; the seed only makes a failed import repeatable
    return config, tokenizer, CoGazeModel(config.model)


def listing(title: str, items: Sequence[str]) -> str:
    return f"{title} ({len(items)}):\n" + "\n".join(f"  {item}" for item in items)


def load_checked(model: CoGazeModel, state: dict[str, torch.Tensor], source: str,
                 view_dict: dict[str, int] | None = None, allow_unmapped: bool = False
                 ) -> tuple[OfficialLoadReport, dict[str, Any]]:
    """Load their ``state`` into ``model`` or raise a ConfigError listing every problem key."""
    notes: dict[str, Any] = {}
    if view_dict is not None:
        state, notes["views"] = reorder_views(state, view_dict)
    elif (key := view_table_key(state)) is not None and state[key].shape[0] == len(VIEW_POSITIONS):
        log.warning("%s: no view dictionary given: the %d view-embedding rows are taken in cogaze's order (%s); "
                    "pass the authors' view dictionary (--view-dict) to map them by name", source,
                    len(VIEW_POSITIONS), ", ".join(VIEW_POSITIONS))
        notes["views"] = "rows taken in cogaze's order (no view dictionary given)"
    report = load_official_state(model, state)
    problems = []
    if report.shape_mismatch:
        hint = ""
        if any("view_embedding" in s for s in report.shape_mismatch):
            hint = "\n  (the view table: pass the authors' view dictionary with --view-dict to map its rows)"
        problems.append(listing("tensors whose shape differs from the model the config builds (checkpoint -> "
                               "cogaze)", sorted(report.shape_mismatch)) + hint)
    if report.missing:
        problems.append(listing("trainable parameters the checkpoint does not have (they would stay randomly "
                               "initialised)", sorted(report.missing)))
    if report.unmapped and not allow_unmapped:
        problems.append(listing("checkpoint keys cogaze does not know (--allow-unmapped imports without them)",
                               sorted(report.unmapped)))
    differing = backbone_differences(model.vision_backbone, report.backbone)
    if differing:
        problems.append(listing("image-encoder tensors that differ from model.vision.source (the checkpoint was "
                               "trained on another vision backbone)", differing))
    if problems:
        raise ConfigError(f"{source}: cannot import:\n" + "\n".join(problems))
    return report, notes


def sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 22):
            h.update(block)
    return h.hexdigest()


def write_run(out: str | Path, config: PretrainConfig, model: CoGazeModel, provenance: dict[str, Any]) -> Path:
    """Write the run folder ``out`` atomically (a temporary sibling renamed into place)."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"{out} exists and is not empty: choose a new --out folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}."))
    os.chmod(tmp, 0o777 & ~current_umask())  # mkdtemp makes 0700; a run folder is meant to be shared
    try:
        tok_src = Path(config.model.tokenizer)
        if tok_src.is_dir():
            shutil.copytree(tok_src, tmp / "tokenizer")
        else:  # a hub id: the run keeps its own copy
            raw_tokenizer(config.model.tokenizer).save_pretrained(str(tmp / "tokenizer"))
        config.model.tokenizer = str((out / "tokenizer").resolve())
        record_sources(config.model, tmp)
        save_config(config, tmp / "config.yaml")
        ckpt = tmp / "checkpoints" / CHECKPOINT_NAME
        ckpt.mkdir(parents=True)
        skip_backbone = bool(config.model.vision.source) and not config.model.train_vision
        state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()
                 if not (skip_backbone and k.startswith("vision_backbone."))}
        save_file(state, str(ckpt / "model.safetensors"))
        atomic_write_json(ckpt / "config.json", config_to_dict(config), default=None)
        pointer = {"path": CHECKPOINT_NAME, "imported_from": provenance.get("checkpoint")}
        atomic_write_json(tmp / "checkpoints" / "last.json", pointer)
        atomic_write_json(tmp / "checkpoints" / "best.json", pointer)
        atomic_write_json(tmp / IMPORT_FILE, provenance, default=str)
        if out.exists():
            out.rmdir()
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out


def provenance(kind: str, checkpoint: str | Path, report: OfficialLoadReport, notes: dict[str, Any],
               **extra: Any) -> dict[str, Any]:
    """What ``import.json`` records: the source file and its sha256, and what happened to every key."""
    path = Path(checkpoint).resolve()
    return {"kind": kind, "checkpoint": str(path), "sha256": sha256(path), "loaded": len(report.loaded),
            "ignored": sorted(report.ignored), "unmapped_not_imported": sorted(report.unmapped),
            "image_encoder_in_checkpoint": len(report.backbone), **notes, **extra}
