"""A prepared image store: every image decoded once, resized, kept as uint8 in memory-mapped shards.

Written by ``cogaze data prepare DATA_DIR --size S --out STORE`` (:mod:`cogaze.data.store_build`);
read by pretraining (``data.store``), the downstream tasks and report generation (``--store``)
instead of decoding the original files at every epoch. Layout of ``STORE/``:

* ``shard-NNNNN.u8`` - raw uint8 bytes: the shard's images one after the other, each the grey image
  resized so that its shortest edge is S (bicubic, the model geometry of ``cogaze.data.geometry``),
  *uncropped* (resized_height x resized_width, row-major); the centre crop is taken on reading;
* ``shard-NNNNN.json`` - that shard's entries, fingerprint and sha256 (what a resumed prepare checks);
* ``index.json`` - written last: format, S, the decode used, the shards (images, bytes, sha256) and one
  entry per image: key (the dicom_id), shard, byte offset, resized height/width, original width/height,
  crop left/top, crc32 of its bytes, and its source file (path relative to DATA_DIR, size, mtime).

Mapping back: an image of original size W x H was scaled by ``resized_width / W`` (= ``resized_height
/ H`` up to rounding) and cropped at (left, top), so a model-space point (x, y) is the original pixel
((x + left) / scale_x, (y + top) / scale_y); :meth:`ImageStore.layout` gives the
:class:`~cogaze.data.geometry.Layout` that ``ImageGeometry.transform_points`` etc. use.

Every read checks the image's crc32 (0.1 ms at 518 px); :meth:`ImageStore.verify` re-hashes whole shards.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from cogaze.checksums import sha256_file
from cogaze.data.geometry import ImageGeometry, Layout
from cogaze.errors import DataError

FORMAT = "cogaze-image-store/1"
INDEX = "index.json"
COLUMNS = ("key", "shard", "offset", "resized_height", "resized_width", "width", "height", "left", "top",
           "crc32", "source", "source_bytes", "source_mtime_ns")


def shard_name(i: int) -> str:
    return f"shard-{i:05d}"


def read_json(path: Path, what: str) -> dict[str, Any]:
    """A JSON object from ``path``; DataError naming the file when it is missing or corrupt."""
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{what} not found", path) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataError(f"corrupt {what}: {err}", path) from None
    if not isinstance(obj, dict):
        raise DataError(f"corrupt {what}: not a JSON object", path)
    return obj


class ImageStore:
    """Read side of a prepared store. ``model_u8(key, geometry)`` -> (uint8 (S, S), layout).

    Shards are memory-mapped lazily per process (DataLoader workers each map their own).
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        if not (self.folder / INDEX).is_file() and self.folder.is_dir() and any(self.folder.glob("shard-*.json")):
            raise DataError("image store is incomplete (a prepare was interrupted): run `cogaze data prepare` "
                            "again with the same arguments to finish it", self.folder / INDEX)
        info = read_json(self.folder / INDEX, "image store index")
        if info.get("format") != FORMAT:
            raise DataError(f"not a cogaze image store (expected format {FORMAT})", self.folder / INDEX)
        self.info = info
        self.size = int(info["size"])
        self.decode = dict(info.get("decode", {}))
        self.shards = [dict(s) for s in info["shards"]]
        cols = info["columns"]
        if tuple(cols) != COLUMNS:
            raise DataError(f"image store index has columns {cols}, expected {list(COLUMNS)}", self.folder / INDEX)
        rows = info["entries"]
        self.keys = [str(r[0]) for r in rows]
        self.rows = {k: i for i, k in enumerate(self.keys)}
        self._num = np.asarray([r[1:10] for r in rows], dtype=np.int64).reshape(len(rows), 9)
        self.sources = [(str(r[10]), int(r[11]), int(r[12])) for r in rows]
        self._maps: dict[int, np.ndarray] = {}
        for s in self.shards:  # fail now, naming the file, when a shard is missing or truncated
            path = self.folder / f"{s['name']}.u8"
            if not path.is_file() or path.stat().st_size != int(s["bytes"]):
                raise DataError(f"image store shard missing or of the wrong size (index: {s['bytes']} bytes)", path)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_maps": {}}

    def __len__(self) -> int:
        return len(self.keys)

    def __contains__(self, key: str) -> bool:
        return key in self.rows

    def check_size(self, size: int) -> None:
        """DataError unless images of ``size`` px can come from this store (its size or smaller)."""
        if size > self.size:
            raise DataError(f"the store holds {self.size} px images, the model needs {size} px: prepare a store "
                            f"with --size {size}", self.folder / INDEX)

    def _row(self, key: str) -> int:
        row = self.rows.get(key)
        if row is None:
            raise DataError(f"image {key} is not in the image store (prepared from another dataset? "
                            "run `cogaze data prepare` on this one)", self.folder / INDEX)
        return row

    def layout(self, key: str, size: int | None = None) -> Layout:
        """Where image ``key``'s original lands at ``size`` px (default: the store's size)."""
        shard, off, rh, rw, w, h, left, top, crc = self._num[self._row(key)]
        if size is None or size == self.size:
            return Layout(int(w), int(h), int(rw), int(rh), int(left), int(top), self.size)
        return ImageGeometry(size=size).layout(int(w), int(h))

    def resized(self, key: str) -> np.ndarray:
        """The stored uint8 (resized_height, resized_width) image (a read-only view; crc32 checked)."""
        row = self._row(key)
        shard, off, rh, rw, _, _, _, _, crc = (int(v) for v in self._num[row])
        data = self._maps.get(shard)
        if data is None:
            path = self.folder / f"{self.shards[shard]['name']}.u8"
            try:
                data = np.memmap(path, dtype=np.uint8, mode="r")
            except (OSError, ValueError) as err:
                raise DataError(f"cannot map image store shard: {err}", path) from None
            self._maps[shard] = data
        view = data[off:off + rh * rw]
        if zlib.crc32(np.ascontiguousarray(view).data) != crc:
            raise DataError(f"image {key}: checksum mismatch in the image store (corrupt shard; re-run "
                            "`cogaze data prepare`)", self.folder / f"{self.shards[shard]['name']}.u8")
        return view.reshape(rh, rw)

    def model_u8(self, key: str, geometry: ImageGeometry) -> tuple[np.ndarray, Layout]:
        """(uint8 (S, S) model image, its layout) for ``geometry`` (S <= the store's size).

        At the store's size this is the stored resize, cropped (exact). A smaller S resizes the stored
        image to S's layout of the original size first (the same crop as from the file; pixel values
        within a few grey levels of a direct resize: tests/test_store.py).
        """
        self.check_size(geometry.size)
        lay = self.layout(key, geometry.size)
        stored = self.resized(key)
        if geometry.size != self.size:  # the stored image spans the whole original: resize all of it
            stored = np.asarray(Image.fromarray(stored).resize((lay.resized_width, lay.resized_height),
                                                               Image.Resampling.BICUBIC))
        return np.array(geometry.crop(stored, lay.width, lay.height)), lay

    def verify(self) -> list[str]:
        """Re-hash every shard against the index; the names of shards that do not match."""
        bad = []
        for s in self.shards:
            if sha256_file(self.folder / f"{s['name']}.u8") != s["sha256"]:
                bad.append(str(s["name"]))
        return bad

    def stale(self, items: list[tuple[str, Path | None]]) -> list[str]:
        """Keys of ``(key, path)`` items missing from the store, or whose existing file changed since prepare."""
        out = []
        for key, path in items:
            row = self.rows.get(key)
            if row is None:
                out.append(key)
                continue
            if path is None:
                continue
            try:
                st = Path(path).stat()
            except OSError:
                continue  # the store may travel without the original files
            _, size, mtime = self.sources[row]
            if st.st_size != size or st.st_mtime_ns != mtime:
                out.append(key)
        return out

    def describe(self) -> str:
        """One line: images, size, decode and disk use."""
        total = sum(int(s["bytes"]) for s in self.shards)
        per = total / max(len(self), 1)
        return (f"image store {self.folder}: {len(self)} images at {self.size} px in {len(self.shards)} shard(s), "
                f"{total / 1e9:.2f} GB ({per / 1e3:.0f} kB per image), decode {self.decode}")
