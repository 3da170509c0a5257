"""Checkpoints that prove they are whole: sha256 written with them, checked on load.

Two forms. A checkpoint *folder* (pretraining) holds its files plus a manifest; a single weights file
(a report-generation run's ``model.safetensors``) carries the sha256 of its tensor data in its own
safetensors header (:func:`save_safetensors` / :func:`verify_safetensors`), so that one atomic rename
publishes weights and checksum together.


A checkpoint is a folder of files plus ``checkpoint.json``::

    {"format": 1, ...caller's info (epoch, step, ...)...,
     "files": {"model.safetensors": {"sha256": "...", "bytes": 1234}, ...}}

The manifest is written last, inside the temporary folder that is then renamed into place, so a
checkpoint folder either holds a manifest listing every file it was written with, or it is from a
cogaze version before checksums (``None`` from :func:`read_manifest`: loadable, but not verifiable).
A truncated, bit-flipped or missing file fails :func:`check_checkpoint` with a reason naming it.

Hand-written (hashlib + JSON): safetensors and torch store no checksum of their own, and a flipped
bit inside a tensor still loads.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from cogaze.checksums import BLOCK, sha256_file
from cogaze.errors import CogazeError
from cogaze.io import atomic_path, atomic_write_json

log = logging.getLogger("cogaze.checkpoints")

MANIFEST = "checkpoint.json"
FORMAT = 1
SHA_KEY = "cogaze.sha256"  # safetensors header metadata: sha256 of the bytes after the header


class CheckpointDamaged(CogazeError):
    """A checkpoint folder whose files do not match its manifest (the message names the file)."""


def _sha256_rest(fh: Any) -> str:
    """sha256 of an open file from its current position to the end (sha256_file hashes whole files)."""
    h = hashlib.sha256()
    while block := fh.read(BLOCK):
        h.update(block)
    return h.hexdigest()


def write_manifest(folder: str | Path, **info: Any) -> dict[str, Any]:
    """Checksum every file in ``folder`` and write ``checkpoint.json`` (last: call it once all files are written)."""
    folder = Path(folder)
    files = {p.name: {"sha256": sha256_file(p), "bytes": p.stat().st_size}
             for p in sorted(folder.iterdir()) if p.is_file() and p.name != MANIFEST}
    manifest = {"format": FORMAT, **info, "files": files}
    atomic_write_json(folder / MANIFEST, manifest, default=None)
    return manifest


def read_manifest(folder: str | Path) -> dict[str, Any] | None:
    """The manifest of ``folder``; ``None`` for a checkpoint written before checksums (no manifest).

    Raises :class:`CheckpointDamaged` when the folder is missing or the manifest cannot be read.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise CheckpointDamaged(f"{folder}: checkpoint folder is missing")
    path = folder / MANIFEST
    if not path.exists():
        return None
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointDamaged(f"{path}: unreadable checksum manifest ({err})") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise CheckpointDamaged(f"{path}: checksum manifest has no 'files' table")
    return manifest


def check_files(folder: str | Path, manifest: dict[str, Any], names: Iterable[str] | None = None) -> None:
    """Compare files of ``folder`` (``names``, default all in the manifest) with their size and sha256.

    Raises :class:`CheckpointDamaged` naming the first file that is missing, truncated or altered.
    """
    folder = Path(folder)
    table = manifest["files"]
    for name in table if names is None else names:
        path = folder / name
        entry = table.get(name)
        if not isinstance(entry, dict):
            raise CheckpointDamaged(f"{path}: not listed in {folder / MANIFEST}")
        if not path.is_file():
            raise CheckpointDamaged(f"{path}: file is missing")
        size = path.stat().st_size
        if size != entry.get("bytes"):
            raise CheckpointDamaged(f"{path}: {size} bytes, the checkpoint was written with {entry.get('bytes')} "
                                    "(truncated or overwritten)")
        if sha256_file(path) != entry.get("sha256"):
            raise CheckpointDamaged(f"{path}: sha256 differs from {folder / MANIFEST} (the file is corrupted)")


def verify_checkpoint(folder: str | Path, names: Iterable[str] | None = None) -> dict[str, Any] | None:
    """Check ``folder`` against its manifest; returns the manifest (``None``: written before checksums,
    then ``names`` are only required to exist). Raises :class:`CheckpointDamaged` naming the file."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    if manifest is None:
        for name in names or ():
            if not (folder / name).is_file():
                raise CheckpointDamaged(f"{folder / name}: file is missing")
        return None
    check_files(folder, manifest, names)
    return manifest


def remove_stale(folder: str | Path, patterns: Sequence[str]) -> list[str]:
    """Delete entries of ``folder`` matching ``patterns`` (temporary files and folders a killed writer
    left behind); returns their names. Call only when no writer can be running."""
    folder = Path(folder)
    removed: list[str] = []
    if not folder.is_dir():
        return removed
    for pattern in patterns:
        for path in sorted(folder.glob(pattern)):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed.append(path.name)
    return removed


def set_aside(folder: str | Path, into: str = "damaged") -> Path:
    """Move a damaged checkpoint folder to ``<parent>/<into>/<name>`` (kept for inspection, out of the
    way of resumes and of checkpoints written later under the same name); returns the new path."""
    folder = Path(folder)
    target = folder.parent / into / folder.name
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        shutil.rmtree(target)
    folder.rename(target)
    return target


def save_safetensors(tensors: dict[str, Any], path: str | Path, metadata: dict[str, str] | None = None) -> Path:
    """Write ``tensors`` to ``path`` atomically, the sha256 of their data in the header (``cogaze.sha256``).

    The header is written with a placeholder of the same length, which is overwritten in the temporary
    file once the data is hashed: no second copy of the weights in memory.
    """
    from safetensors.torch import save_file

    placeholder = "0" * 64
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={**(metadata or {}), SHA_KEY: placeholder})
        with open(tmp, "r+b") as fh:
            size = int.from_bytes(fh.read(8), "little")
            header = fh.read(size)
            digest = _sha256_rest(fh)
            at = header.index(placeholder.encode(), header.index(SHA_KEY.encode()))
            fh.seek(8 + at)
            fh.write(digest.encode())
    return Path(path)


def verify_safetensors(path: str | Path) -> bool:
    """Check a safetensors file against the sha256 in its header: True when it matches, False when the
    file carries none (written without :func:`save_safetensors`); :class:`CheckpointDamaged` otherwise."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointDamaged(f"{path}: file is missing")
    total = path.stat().st_size
    with open(path, "rb") as fh:
        raw = fh.read(8)
        size = int.from_bytes(raw, "little") if len(raw) == 8 else -1
        if size < 2 or 8 + size > total:
            raise CheckpointDamaged(f"{path}: not a complete safetensors file ({total} bytes; truncated?)")
        try:
            meta = json.loads(fh.read(size)).get("__metadata__") or {}
        except (UnicodeDecodeError, json.JSONDecodeError, AttributeError) as err:
            raise CheckpointDamaged(f"{path}: unreadable safetensors header ({err})") from None
        expected = meta.get(SHA_KEY) if isinstance(meta, dict) else None
        if expected is None:
            return False
        if _sha256_rest(fh) != expected:
            raise CheckpointDamaged(f"{path}: sha256 of the weights differs from the one written in the file "
                                    "(truncated or corrupted)")
    return True
