"""The shared fingerprint/checksum helper hashes exactly what the caches hashed before (old caches stay valid)."""

from __future__ import annotations

import hashlib
import json

import numpy as np

from cogaze.checksums import Fingerprint, sha256_file


def test_fingerprint_equals_the_plain_hashlib_formula(tmp_path):
    settings = {"grid": 8, "format": "x", "nested": {"b": 1, "a": [1, 2]}}
    col = np.array([1.5, 2.0, np.nan])
    f = tmp_path / "heat.png"
    f.write_bytes(b"\x89PNG" + bytes(range(256)))
    ours = (Fingerprint(settings).add_json(["d1", "r1", [3, 4]]).add_array("x", col).add_array("ppd_x", None)
            .add_file(f).hexdigest())
    h = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    h.update(json.dumps(["d1", "r1", [3, 4]]).encode())
    h.update(b"x" + col.astype(np.float64).tobytes())
    h.update(b"ppd_x-")
    h.update(b"heat.png" + hashlib.sha256(f.read_bytes()).digest())
    assert ours == h.hexdigest()
    # one changed input changes the fingerprint
    assert Fingerprint(settings).add_json(["d1", "r2", [3, 4]]).hexdigest() != Fingerprint(settings).add_json(
        ["d1", "r1", [3, 4]]).hexdigest()


def test_sha256_file_reads_in_blocks(tmp_path, monkeypatch):
    import cogaze.checksums as ck

    data = np.random.default_rng(0).integers(0, 256, 10_000, dtype=np.uint8).tobytes()
    p = tmp_path / "blob"
    p.write_bytes(data)
    monkeypatch.setattr(ck, "BLOCK", 999)  # several blocks, the last one short
    assert sha256_file(p) == hashlib.sha256(data).hexdigest()
