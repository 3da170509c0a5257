"""``cogaze data prepare``: decode every image once into a memory-mapped store (:mod:`cogaze.data.store`).

The images are planned into fixed shards in input order. Worker processes decode and resize
(:func:`cogaze.data.pixels.resized_image`, DCT-scaled JPEG decode unless ``fast=False``); the parent
writes each shard to a temporary file, fsyncs it and renames it into place, then writes the shard's
JSON (its entries, fingerprint and sha256) the same way, and ``index.json`` only once every shard is
done. A killed prepare therefore leaves whole shards plus at most one temporary file: run it again
and it keeps every shard whose fingerprint (settings + its images' ids, paths, sizes and mtimes) and
sha256 still match, and decodes the rest.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
import tempfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from cogaze.checksums import Fingerprint, sha256_file
from cogaze.data.geometry import ImageGeometry
from cogaze.data.images import DRAFT_OVERSAMPLE
from cogaze.data.pixels import resized_image
from cogaze.data.store import COLUMNS, FORMAT, INDEX, ImageStore, read_json, shard_name
from cogaze.errors import DataError
from cogaze.logs import show_progress


@dataclass(frozen=True)
class PrepareResult:
    """What :func:`prepare_store` did."""

    folder: Path
    images: int
    shards: int
    reused_shards: int
    bytes: int


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _source(path: Path, root: Path | None) -> tuple[str, int, int]:
    try:
        st = path.stat()
    except OSError:
        raise DataError("image file not found", path) from None
    rel = str(path)
    if root is not None:
        try:
            rel = str(path.resolve().relative_to(root.resolve()))
        except ValueError:
            pass
    return rel, int(st.st_size), int(st.st_mtime_ns)


def _fingerprint(settings: dict[str, Any], items: Sequence[tuple[str, Path]], sources: list[tuple[str, int, int]]) -> str:
    h = Fingerprint(settings)
    for (key, _), src in zip(items, sources):
        h.add_json([key, *src])
    return h.hexdigest()


def _decode(job: tuple[str, str, int, bool]) -> tuple[str, np.ndarray, tuple[int, int]]:
    key, path, size, fast = job
    resized, lay = resized_image(path, ImageGeometry(size=size), fast)
    return key, np.ascontiguousarray(resized), (lay.width, lay.height)


def _shard_done(folder: Path, name: str, fingerprint: str) -> dict[str, Any] | None:
    """The shard's JSON when the shard is complete, current and intact (sha256), else None."""
    meta_path, data_path = folder / f"{name}.json", folder / f"{name}.u8"
    try:
        meta = read_json(meta_path, "image store shard")
    except DataError:
        return None
    if meta.get("fingerprint") != fingerprint or not data_path.is_file() \
            or data_path.stat().st_size != int(meta.get("bytes", -1)):
        return None
    return meta if sha256_file(data_path) == meta.get("sha256") else None


class _ShardWriter:
    """Appends decoded images to a temporary shard file; ``close`` fsyncs, renames and writes its JSON."""

    def __init__(self, folder: Path, name: str, fingerprint: str) -> None:
        self.folder, self.name, self.fingerprint = folder, name, fingerprint
        fd, self.tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.u8.", suffix=".tmp")
        self.fh = os.fdopen(fd, "wb")
        self.offset = 0
        self.sha = hashlib.sha256()
        self.entries: list[list[Any]] = []

    def add(self, key: str, resized: np.ndarray, original: tuple[int, int], size: int,
            source: tuple[str, int, int]) -> None:
        lay = ImageGeometry(size=size).layout(*original)
        if resized.shape != (lay.resized_height, lay.resized_width):
            raise DataError(f"image {key}: decoded to {resized.shape}, expected "
                            f"{(lay.resized_height, lay.resized_width)}", source[0])
        data = resized.tobytes()
        self.fh.write(data)
        self.sha.update(data)
        self.entries.append([key, self.offset, lay.resized_height, lay.resized_width, lay.width, lay.height,
                             lay.left, lay.top, zlib.crc32(data), *source])
        self.offset += len(data)

    def close(self) -> dict[str, Any]:
        self.fh.flush()
        os.fsync(self.fh.fileno())
        self.fh.close()
        os.chmod(self.tmp, 0o666 & ~_umask())
        os.replace(self.tmp, self.folder / f"{self.name}.u8")
        meta = {"name": self.name, "fingerprint": self.fingerprint, "images": len(self.entries),
                "bytes": self.offset, "sha256": self.sha.hexdigest(), "entries": self.entries}
        _atomic_write(self.folder / f"{self.name}.json", json.dumps(meta).encode())
        return meta

    def abort(self) -> None:
        self.fh.close()
        Path(self.tmp).unlink(missing_ok=True)


def _results(jobs: list[tuple[str, str, int, bool]], workers: int) -> Iterator[tuple[str, np.ndarray, tuple[int, int]]]:
    if workers <= 1:
        yield from map(_decode, jobs)
        return
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    with ctx.Pool(workers) as pool:
        yield from pool.imap(_decode, jobs, chunksize=4)  # in order: the shards' layout is deterministic


def prepare_store(items: Sequence[tuple[str, Path]], out: str | Path, size: int = 518, fast: bool = True,
                  workers: int = 0, shard_images: int = 1024, root: str | Path | None = None,
                  progress: bool = True) -> PrepareResult:
    """Decode ``(key, image path)`` items into a store at ``out`` (see the module docstring).

    ``workers``: decoding processes (0 = one per CPU core, 1 = in this process); ``root``: the dataset
    folder source paths are recorded relative to. Keys must be unique. Returns what was done.
    """
    if size <= 0 or shard_images <= 0:
        raise ValueError("size and shard_images must be positive")
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    keys = [k for k, _ in items]
    if len(set(keys)) != len(keys):
        dup = next(k for k in keys if keys.count(k) > 1)
        raise DataError(f"image {dup} is listed twice", folder)
    if not items:
        raise DataError("no images to prepare", folder)
    for stale in folder.glob(".shard-*.tmp"):  # left by a killed prepare
        stale.unlink(missing_ok=True)
    root_path = Path(root) if root is not None else None
    sources = [_source(Path(p), root_path) for _, p in items]
    decode = {"fast": bool(fast), "oversample": DRAFT_OVERSAMPLE if fast else 1, "resample": "bicubic"}
    settings = {"format": FORMAT, "size": int(size), "decode": decode}
    plan = [(i, list(range(s, min(s + shard_images, len(items))))) for i, s in
            enumerate(range(0, len(items), shard_images))]
    metas: dict[int, dict[str, Any]] = {}
    todo = []
    for i, rows in plan:
        fp = _fingerprint(settings, [items[r] for r in rows], [sources[r] for r in rows])
        meta = _shard_done(folder, shard_name(i), fp)
        if meta is not None:
            metas[i] = meta
        else:
            todo.append((i, rows, fp))
    reused = len(metas)
    if todo:  # the store is incomplete until index.json is written again
        (folder / INDEX).unlink(missing_ok=True)
    jobs = [(items[r][0], str(items[r][1]), int(size), bool(fast)) for _, rows, _ in todo for r in rows]
    workers = workers or os.cpu_count() or 1
    bar = tqdm(total=len(items), initial=len(items) - len(jobs), desc="prepare", unit="img", disable=not show_progress(progress))
    results = _results(jobs, min(workers, max(len(jobs), 1)))
    try:
        for i, rows, fp in todo:
            writer = _ShardWriter(folder, shard_name(i), fp)
            try:
                for r in rows:
                    key, resized, original = next(results)
                    if key != items[r][0]:
                        raise RuntimeError(f"decode order broken: {key} != {items[r][0]}")
                    writer.add(key, resized, original, size, sources[r])
                    bar.update(1)
            except BaseException:
                writer.abort()
                raise
            metas[i] = writer.close()
    finally:
        bar.close()
        if hasattr(results, "close"):
            results.close()
    shards = [{k: metas[i][k] for k in ("name", "images", "bytes", "sha256")} for i, _ in plan]
    entries = [[e[0], i, *e[1:]] for i, _ in plan for e in metas[i]["entries"]]
    index = {**settings, "columns": list(COLUMNS), "shards": shards, "entries": entries,
             "root": str(root_path.resolve()) if root_path is not None else ""}
    _atomic_write(folder / INDEX, json.dumps(index).encode())
    names = {s["name"] for s in shards}
    for old in folder.glob("shard-*"):  # shards of an earlier, larger plan
        if old.stem not in names:
            old.unlink(missing_ok=True)
    ImageStore(folder)  # reads back what was written
    return PrepareResult(folder, len(items), len(plan), reused, sum(int(s["bytes"]) for s in shards))
