"""Fingerprints and checksums: the one way cogaze decides that a cache or a file is what it claims.

A :class:`Fingerprint` is a sha256 over JSON settings followed by the inputs that determine a built
artefact (gaze cache, frozen-feature cache, image store shard): two builds with equal fingerprints were
made from the same inputs with the same settings, so the old one can be reused. :func:`sha256_file`
checks that a written file is intact. hashlib does the hashing; this module only fixes *what* is hashed
and in which order, so every cache hashes settings the same way.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

BLOCK = 1 << 24
"""Bytes read at a time when hashing a file (16 MiB)."""


class Fingerprint:
    """sha256 over ``settings`` (canonical JSON: sorted keys) and then every part added, in order."""

    def __init__(self, settings: Mapping[str, Any] | None = None, json_default: Any = None):
        self._h = hashlib.sha256()
        self._default = json_default
        if settings is not None:
            self._h.update(json.dumps(settings, sort_keys=True, default=json_default).encode())

    def add_json(self, value: Any) -> Fingerprint:
        """Add a JSON-able value (lists, ids, sizes, mtimes)."""
        self._h.update(json.dumps(value, default=self._default).encode())
        return self

    def add_bytes(self, data: bytes) -> Fingerprint:
        self._h.update(data)
        return self

    def add_array(self, name: str, array: np.ndarray | None, dtype: Any = np.float64) -> Fingerprint:
        """Add a named numeric column (``None`` hashes as a distinct marker)."""
        body = b"-" if array is None else np.ascontiguousarray(array, dtype).tobytes()
        self._h.update(name.encode() + body)
        return self

    def add_file(self, path: str | Path) -> Fingerprint:
        """Add a file's name and the sha256 of its bytes."""
        path = Path(path)
        self._h.update(path.name.encode() + bytes.fromhex(sha256_file(path)))
        return self

    def hexdigest(self) -> str:
        return self._h.hexdigest()


def sha256_file(path: str | Path) -> str:
    """sha256 of a file's bytes (read in blocks, so any size works)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(BLOCK):
            h.update(block)
    return h.hexdigest()
