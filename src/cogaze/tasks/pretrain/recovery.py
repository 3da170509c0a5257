"""Where a pretraining run resumes from, and the repairs a damaged run folder needs first.

:func:`find_resume_point` scans ``checkpoints/`` (not only ``last.json``) for ``epoch-*`` / ``step-*``
folders, newest first, and takes the newest one whose files match their sha256 manifest
(:mod:`cogaze.tasks.checkpoints`) and load. With ``repair`` (rank 0 only) it also removes the temporary
files and folders a killed writer left, moves damaged checkpoints to ``checkpoints/damaged/``, and
rewrites ``last.json`` and ``best.json`` when they are missing, unreadable or stale. Every repair is one
warning naming the file. :func:`reconcile_metrics` then brings ``metrics.jsonl`` in line with the
checkpoint: rows logged after it dropped, an unreadable (half-written) line dropped, rows that are
missing restored from the checkpoints (each checkpoint stores the rows of its epoch up to it).
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from cogaze.errors import ConfigError
from cogaze.io import atomic_write_json, atomic_write_text
from cogaze.tasks.checkpoints import CheckpointDamaged, check_files, read_manifest, remove_stale, set_aside

log = logging.getLogger("cogaze.pretrain")

CHECKPOINT = re.compile(r"(epoch|step)-\d+")
SEGMENT = "metrics.jsonl"  # inside a checkpoint: the rows of its epoch up to it
# What a killed run leaves: save_checkpoint's temporary folders, cogaze.io's temporary files.
STALE_IN_CHECKPOINTS = (".epoch-*", ".step-*", ".*.tmp")
STALE_IN_RUN = (".metrics.jsonl.*.tmp", ".summary.json.*.tmp", ".config.yaml.*.tmp")


@dataclass
class ResumePoint:
    """The checkpoint a resume starts from: its folder, ``state.pt`` contents and stored metrics rows."""

    folder: Path
    state: dict[str, Any]
    rows: list[dict[str, Any]] | None = None  # None: the checkpoint stores no rows (written before they were)
    verified: bool = True

    @property
    def where(self) -> str:
        s = self.state
        return f"{self.folder.name} (epoch {s['epoch']}, batch {s.get('batch', 0)}, step {s['global_step']})"


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Rows of a checkpoint's ``metrics.jsonl`` segment (already checksummed)."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _order(folder: Path) -> tuple[float, ...]:
    """Sort key, higher = newer: (epochs done, batches of the next one). ``epoch-N`` is (N, 0) by its name;
    a ``step-*`` folder reads its manifest (or its state); unknown = newest (it is damaged, reported first)."""
    if folder.name.startswith("epoch-"):
        return float(folder.name[len("epoch-"):]), 0.0
    try:
        manifest = read_manifest(folder)
        state_file = folder / "state.pt"
        info = manifest if manifest is not None else torch.load(state_file, weights_only=True, map_location="cpu")
        return float(info["epoch"]), float(info.get("batch", 0))
    except Exception:  # noqa: BLE001 - an unreadable folder sorts first and is then checked and reported
        return (float("inf"),)


def _load(folder: Path) -> ResumePoint:
    """Verify and read one checkpoint; :class:`CheckpointDamaged` names the file that is wrong."""
    manifest = read_manifest(folder)
    if manifest is not None:
        check_files(folder, manifest)
        if "model.safetensors" not in manifest["files"] or "state.pt" not in manifest["files"]:
            raise CheckpointDamaged(f"{folder}: manifest lists no model.safetensors / state.pt")
    for name in ("model.safetensors", "state.pt"):
        if not (folder / name).is_file():
            raise CheckpointDamaged(f"{folder / name}: file is missing")
    try:
        from safetensors import safe_open

        with safe_open(str(folder / "model.safetensors"), "pt") as fh:
            fh.keys()
    except Exception as err:  # noqa: BLE001 - safetensors raises its own error types; report them by name
        raise CheckpointDamaged(f"{folder / 'model.safetensors'}: unreadable ({type(err).__name__}: {err})") from None
    try:
        state = torch.load(folder / "state.pt", map_location="cpu", weights_only=True)
        counters = (int(state["epoch"]), int(state.get("batch", 0)), int(state["global_step"]))
    except Exception as err:  # noqa: BLE001
        raise CheckpointDamaged(f"{folder / 'state.pt'}: unreadable ({type(err).__name__}: {err})") from None
    if manifest is not None and counters != (manifest.get("epoch"), manifest.get("batch"), manifest.get("global_step")):
        raise CheckpointDamaged(f"{folder / 'checkpoint.json'}: epoch/batch/step {counters} in state.pt differ from "
                                "the manifest")
    rows = read_rows(folder / SEGMENT) if manifest is not None and SEGMENT in manifest["files"] else None
    return ResumePoint(folder, state, rows, verified=manifest is not None)


def _pointer(path: Path) -> tuple[str | None, str | None]:
    """(checkpoint name, problem) of ``last.json`` / ``best.json``."""
    if not path.exists():
        return None, "is missing"
    try:
        name = json.loads(path.read_text(encoding="utf-8"))["path"]
        if not isinstance(name, str):
            raise TypeError("'path' is not a string")
        return name, None
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as err:
        return None, f"is unreadable ({type(err).__name__}: {err})"


def find_resume_point(run_dir: str | Path, repair: bool = True) -> ResumePoint:
    """The newest intact checkpoint of ``run_dir``; with ``repair`` the folder is tidied (see the module doc).

    Raises ConfigError when the run has no intact checkpoint (naming each one and what is wrong with it).
    """
    run_dir = Path(run_dir)
    ckpts = run_dir / "checkpoints"
    if repair:
        stale = remove_stale(ckpts, STALE_IN_CHECKPOINTS) + remove_stale(run_dir, STALE_IN_RUN)
        if stale:
            log.warning("%s: removed %d half-written temporary file(s)/folder(s) left by a stopped run: %s",
                        run_dir, len(stale), ", ".join(stale))
    folders = [p for p in ckpts.iterdir() if p.is_dir() and CHECKPOINT.fullmatch(p.name)] if ckpts.is_dir() else []
    last, last_problem = _pointer(ckpts / "last.json")
    if last is not None and not (ckpts / last).is_dir():
        folders.append(ckpts / last)  # checked below: reported as a missing checkpoint
    if not folders:
        raise ConfigError(f"{run_dir}: no checkpoint to resume from (no checkpoints/epoch-* or step-* folder); "
                          "start the run again without --resume")
    damaged: list[tuple[Path, str]] = []
    point = None
    for folder in sorted(folders, key=_order, reverse=True):
        try:
            point = _load(folder)
            break
        except CheckpointDamaged as err:
            damaged.append((folder, str(err)))
    if point is None:
        raise ConfigError(f"{run_dir}: no intact checkpoint to resume from: " + "; ".join(r for _, r in damaged))
    if repair:
        _repair(run_dir, point, damaged, last, last_problem)
    elif damaged:
        log.warning("resuming from %s: newer checkpoint(s) damaged: %s", point.where, "; ".join(r for _, r in damaged))
    return point


def _repair(run_dir: Path, point: ResumePoint, damaged: list[tuple[Path, str]], last: str | None,
            last_problem: str | None) -> None:
    ckpts = run_dir / "checkpoints"
    for folder, reason in damaged:
        moved = f"; moved to {set_aside(folder)}" if folder.is_dir() else ""
        pointed = " (last.json points there)" if folder.name == last else ""
        log.warning("checkpoint %s%s is damaged or missing: %s%s; falling back to %s", folder.name, pointed, reason,
                    moved, point.where)
    if not point.verified:
        log.warning("%s was written before checkpoints carried checksums: loaded without verification", point.folder)
    name, s = point.folder.name, point.state
    if last != name:
        info = {"path": name, "epoch": int(s["epoch"])}
        if name.startswith("step-"):
            info.update(batch=int(s.get("batch", 0)), step=int(s["global_step"]))
        if last_problem is not None:
            log.warning("%s %s: rebuilt from the checkpoint folders (newest intact: %s)", ckpts / "last.json",
                        last_problem, point.where)
        elif last not in {f.name for f, _ in damaged}:
            log.warning("%s pointed at %s, but %s is newer and intact (the run stopped before updating it): "
                        "resuming from the newer one", ckpts / "last.json", last, name)
        atomic_write_json(ckpts / "last.json", info, default=None)
    _repair_best(ckpts, point, {f.name for f, _ in damaged})


def _best_epoch(ckpts: Path, epochs: int) -> tuple[str, dict[str, Any]] | None:
    """The epoch checkpoint (up to ``epochs``) with the lowest val loss, from the manifests (the first of
    equal ones, as training picks it); None when a manifest or its val metrics are missing."""
    best: tuple[str, dict[str, Any]] | None = None
    for epoch in range(1, epochs + 1):
        name = f"epoch-{epoch:04d}"
        try:
            manifest = read_manifest(ckpts / name)
        except CheckpointDamaged:
            return None
        val = manifest.get("val") if manifest else None
        if not isinstance(val, dict) or not isinstance(val.get("loss"), int | float):
            return None
        if best is None or val["loss"] < best[1]["loss"]:
            best = (name, val)
    return best


def _repair_best(ckpts: Path, point: ResumePoint, damaged: set[str]) -> None:
    """Point ``best.json`` at the epoch checkpoint with the lowest val loss so far, when it does not."""
    found = _best_epoch(ckpts, int(point.state["epoch"]))
    pointed, problem = _pointer(ckpts / "best.json")
    if found is None or pointed == found[0]:
        return
    name, val = found
    if problem is not None:
        why = f"{problem}: rebuilt"
    elif pointed in damaged:
        why = f"pointed at the damaged checkpoint {pointed}: now"
    else:
        why = f"pointed at {pointed} (the run stopped before updating it): now"
    log.warning("%s %s at %s, the lowest val loss up to %s", ckpts / "best.json", why, name, point.folder.name)
    atomic_write_json(ckpts / "best.json", {"path": name, "val_loss": val["loss"], "epoch": int(name[6:]), "val": val},
                      default=None)


def _key(row: dict[str, Any]) -> tuple:
    return row.get("split"), row.get("epoch"), row.get("step"), row.get("batch")


def _sort_key(row: dict[str, Any]) -> tuple:
    return row.get("epoch", 0), row.get("split") != "train", row.get("batch", 0)


def _before(row: dict[str, Any], state: dict[str, Any]) -> bool:
    """Whether ``row`` was logged before checkpoint ``state`` was taken."""
    if row.get("split") == "train":
        return int(row["step"]) < int(state["global_step"])
    return int(row["epoch"]) < int(state["epoch"])


def _checkpoint_rows(run_dir: Path, point: ResumePoint) -> tuple[list[dict[str, Any]], list[int]]:
    """Every row the checkpoints up to ``point`` still hold, and the epochs (1-based) whose rows are lost."""
    rows: list[dict[str, Any]] = []
    lost: list[int] = []
    done = int(point.state["epoch"])
    for epoch in range(1, done + 2):
        folder = run_dir / "checkpoints" / f"epoch-{epoch:04d}"
        if epoch == done + 1 or folder == point.folder:  # the resume point's own rows
            if epoch == done + 1 and not int(point.state.get("batch", 0)):
                break  # an epoch-end checkpoint: nothing of the next epoch was kept
            if point.rows is None:
                lost.append(epoch)
            rows += point.rows or []
            continue
        try:
            manifest = read_manifest(folder)
            if manifest is None or SEGMENT not in manifest["files"]:
                raise CheckpointDamaged(f"{folder}: no rows stored")
            check_files(folder, manifest, [SEGMENT])
            rows += read_rows(folder / SEGMENT)
        except (CheckpointDamaged, OSError, ValueError):
            lost.append(epoch)
    return rows, lost


def _read_metrics(path: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """Parsed rows of ``metrics.jsonl`` and a note per line that could not be read (dropped)."""
    data = path.read_bytes()
    lines = data.split(b"\n")
    rows, notes = [], []
    for i, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line.decode("utf-8"))
            if not isinstance(row, dict) or not all(isinstance(row.get(k), int) for k in ("step", "epoch")) \
                    or not isinstance(row.get("split"), str):
                raise ValueError("not a metrics row")
            rows.append(row)
        except ValueError:
            half = i == len(lines) and not data.endswith(b"\n")
            notes.append(f"half-written last line {i} dropped" if half else f"unreadable line {i} dropped")
    return rows, notes


def reconcile_metrics(run_dir: str | Path, point: ResumePoint) -> list[dict[str, Any]]:
    """Make ``run_dir/metrics.jsonl`` hold exactly the rows logged before ``point`` (see the module doc);
    returns them."""
    path = Path(run_dir) / "metrics.jsonl"
    known, lost = _checkpoint_rows(Path(run_dir), point)
    if not path.exists():
        msg = f"{path} is missing: recreated with the {len(known)} rows the checkpoints hold"
        if lost:
            msg += f" (the rows of epoch(s) {', '.join(map(str, lost))} are lost: their checkpoints hold none)"
        log.warning("%s", msg)
        known = sorted(known, key=_sort_key)
        atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in known))
        return known
    rows, notes = _read_metrics(path)
    kept = [r for r in rows if _before(r, point.state)]
    if len(kept) < len(rows):
        notes.append(f"{len(rows) - len(kept)} row(s) logged after checkpoint {point.folder.name} dropped "
                     "(training repeats them)")
    have = {_key(r) for r in kept}
    missing = [r for r in known if _key(r) not in have]
    if missing:
        notes.append(f"{len(missing)} missing row(s) restored from the checkpoints")
        kept = sorted(kept + missing, key=_sort_key)
    gone = [e for e in lost if not any(r.get("epoch") == e - 1 for r in kept)]
    if gone:
        notes.append(f"the rows of epoch(s) {', '.join(map(str, gone))} are lost (their checkpoints hold none)")
    if notes:
        log.warning("%s: %s", path, "; ".join(notes))
        atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in kept))
    return kept
