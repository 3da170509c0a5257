"""`cogaze data prepare`: the image store gives the same tensors as the files, checks itself, resumes after a kill."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cogaze.cli import main
from cogaze.data.dataset import load_dataset
from cogaze.data.geometry import ImageGeometry
from cogaze.data.phantom.generate import generate_phantom
from cogaze.data.pixels import ModelImages
from cogaze.data.store import ImageStore
from cogaze.data.store_build import prepare_store
from cogaze.errors import DataError
from test_pixels import cxr_like

REPO = Path(__file__).resolve().parents[1]
MEAN, STD = (0.5307,) * 3, (0.2583,) * 3


@pytest.fixture(scope="module")
def phantom(tmp_path_factory):
    root = tmp_path_factory.mktemp("store")
    data = root / "ds"
    generate_phantom(data, n_patients=8, seed=3, image_size=256, gaze_fraction=0.5)
    store = root / "store"
    assert main(["data", "prepare", str(data), "--size", "64", "--out", str(store), "--workers", "2",
                 "--shard-images", "7"]) == 0
    return data, store, load_dataset(data).records


@pytest.fixture()
def odd_images(tmp_path):
    """JPEGs of several aspect ratios and sizes that are no multiple of 8."""
    items = []
    for i, (w, h) in enumerate([(301, 257), (203, 411), (260, 260), (517, 389), (129, 130)]):
        path = tmp_path / "img" / f"i{i}.jpg"
        path.parent.mkdir(exist_ok=True)
        cxr_like(w, h, seed=i).save(path, quality=95)
        items.append((f"k{i}", path))
    return items


def test_store_equals_files_and_records_the_layout(phantom):
    data, store_dir, records = phantom
    store = ImageStore(store_dir)
    assert len(store) == len({r.dicom_id for r in records}) and store.size == 64
    assert store.decode["fast"] is True and len(store.shards) == -(-len(store) // 7)
    geometry = ImageGeometry(size=64, mean=MEAN, std=STD)
    files, stored = ModelImages(geometry), ModelImages(geometry, store)
    for rec in records:
        a, lay_a = files.u8(rec.dicom_id, rec.image_path)
        b, lay_b = stored.u8(rec.dicom_id, None)  # the store needs no file
        assert a.dtype == b.dtype == np.uint8 and a.shape == (64, 64)
        assert np.array_equal(a, b) and lay_a == lay_b == geometry.layout(256, 256)
    index = json.loads((store_dir / "index.json").read_text())
    row = dict(zip(index["columns"], index["entries"][0]))
    assert (row["width"], row["height"], row["resized_width"], row["resized_height"]) == (256, 256, 64, 64)
    assert row["source"].startswith("files/p") and row["source_bytes"] == (data / row["source"]).stat().st_size


def test_non_square_layout_parallel_and_smaller_model(odd_images, tmp_path):
    one = prepare_store(odd_images, tmp_path / "one", size=96, workers=1, shard_images=2, progress=False)
    prepare_store(odd_images, tmp_path / "two", size=96, workers=2, shard_images=2, progress=False)
    assert one.shards == 3 and one.images == 5
    for i in range(3):  # same bytes whatever the number of processes
        assert (tmp_path / "one" / f"shard-{i:05d}.u8").read_bytes() == (tmp_path / "two" / f"shard-{i:05d}.u8").read_bytes()
    store = ImageStore(tmp_path / "one")
    for size in (96, 64):  # the store's size: exact; smaller: one more resize, same crop
        geometry = ImageGeometry(size=size)
        for key, path in odd_images:
            a, lay_a = ModelImages(geometry).u8(key, path)
            b, lay_b = ModelImages(geometry, store).u8(key, None)
            w, h = Image.open(path).size
            assert lay_a == lay_b == geometry.layout(w, h)
            diff = np.abs(a.astype(int) - b.astype(int))
            if size == 96:
                assert diff.max() == 0
            else:
                assert diff.mean() < 1.5 and diff.max() <= 24, (diff.mean(), diff.max())
    with pytest.raises(DataError, match="prepare a store with --size 128"):
        ModelImages(ImageGeometry(size=128), store)
    with pytest.raises(DataError, match="image nope is not in the image store"):
        store.resized("nope")


def test_checksums_catch_corruption_and_prepare_repairs(odd_images, tmp_path):
    prepare_store(odd_images, tmp_path / "s", size=64, workers=1, shard_images=2, progress=False)
    shard = tmp_path / "s" / "shard-00001.u8"
    raw = bytearray(shard.read_bytes())
    raw[10] ^= 0xFF
    shard.write_bytes(bytes(raw))
    store = ImageStore(tmp_path / "s")
    with pytest.raises(DataError, match="checksum mismatch") as err:
        store.resized("k2")
    assert "shard-00001.u8" in str(err.value)
    store.resized("k3")  # the other image of that shard is intact
    assert store.verify() == ["shard-00001"]
    assert main(["data", "verify-store", str(tmp_path / "s")]) == 1
    result = prepare_store(odd_images, tmp_path / "s", size=64, workers=1, shard_images=2, progress=False)
    assert result.reused_shards == 2  # only the corrupt shard was decoded again
    assert ImageStore(tmp_path / "s").verify() == []
    shard.write_bytes(bytes(raw[:-5]))
    with pytest.raises(DataError, match="wrong size"):
        ImageStore(tmp_path / "s")


def test_prepare_resumes_after_a_kill(odd_images, tmp_path):
    items = odd_images * 1
    listing = tmp_path / "items.json"
    listing.write_text(json.dumps([[k, str(p)] for k, p in items]))
    script = (
        "import json, sys, time\n"
        "import cogaze.data.store_build as b\n"
        "slow = b._decode\n"
        "def _decode(job):\n"
        "    time.sleep(0.4)\n"
        "    return slow(job)\n"
        "b._decode = _decode\n"
        "items = [(k, p) for k, p in json.load(open(sys.argv[1]))]\n"
        "b.prepare_store(items, sys.argv[2], size=64, workers=1, shard_images=2, progress=False)\n"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"), OMP_NUM_THREADS="1")
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-c", script, str(listing), str(out)], env=env, cwd=REPO)
    try:
        deadline = time.time() + 120
        while not (out / "shard-00000.json").exists():
            assert proc.poll() is None and time.time() < deadline, "prepare ended before its first shard"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)  # mid-way through shard 1
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not (out / "index.json").exists()
    with pytest.raises(DataError, match="interrupted"):
        ImageStore(out)
    first = (out / "shard-00000.u8").stat().st_mtime_ns
    result = prepare_store(items, out, size=64, workers=1, shard_images=2, progress=False)
    assert result.reused_shards == 1 and (out / "shard-00000.u8").stat().st_mtime_ns == first
    assert not list(out.glob(".*.tmp"))
    prepare_store(items, tmp_path / "clean", size=64, workers=1, shard_images=2, progress=False)
    for i in range(3):
        assert (out / f"shard-{i:05d}.u8").read_bytes() == (tmp_path / "clean" / f"shard-{i:05d}.u8").read_bytes()
    assert ImageStore(out).verify() == []


def test_training_tasks_and_reports_read_the_same_tensors_from_the_store(phantom, tmp_path):
    from types import SimpleNamespace

    from cogaze.api.reports import report_items
    from cogaze.config import load_config
    from cogaze.models.tokenizer import train_tokenizer
    from cogaze.tasks.phantom_sets import classification_items, segmentation_items
    from cogaze.tasks.pretrain.collate import PretrainCollator, finish_batch
    from cogaze.tasks.pretrain.config import PretrainConfig
    from cogaze.tasks.pretrain.pipeline import build_samples

    data, store_dir, records = phantom
    tiny = ["model.vision.config.image_size=64", "model.loss.gaze=none"]
    batches = []
    for extra in ([], [f"data.store={store_dir}"]):
        config = load_config(PretrainConfig, REPO / "configs/pretrain/phantom-scratch.yaml", [*tiny, *extra])
        train, val = build_samples(config, records, tmp_path / "run")
        assert "image_u8" in train[0] and "pixel_values" not in train[0]
        batches.append([train[i] for i in range(len(train))] + [val[i] for i in range(len(val))])
    tok = train_tokenizer(["no acute process"] * 5, tmp_path / "tok", vocab_size=300)
    collate = PretrainCollator(tok, 32)
    geometry = ImageGeometry(size=64, mean=MEAN, std=STD)
    a, b = (finish_batch(collate(x), geometry) for x in batches)
    assert a["pixel_values"].shape == (len(batches[0]), 3, 64, 64)
    assert np.array_equal(a["pixel_values"].numpy(), b["pixel_values"].numpy())
    # ... and within the decode tolerance of the full-decode processor transform
    from cogaze.data.images import read_image

    rec = records[0]
    full = geometry.transform_image(read_image(rec.image_path))
    assert float(np.abs(a["pixel_values"][0].numpy() - full).max()) < 10 / 255 / STD[0]

    geometry = ImageGeometry(size=64, mean=MEAN, std=STD)
    store = ImageStore(store_dir)
    for split in ("train", "test"):
        x, y = classification_items(records, geometry, split), classification_items(records, geometry, split, store=store)
        assert x.ids == y.ids and np.array_equal(x.batch(range(len(x)))[0].numpy(), y.batch(range(len(y)))[0].numpy())
    x = segmentation_items(data, records, geometry, "train", "Pleural Effusion")
    y = segmentation_items(data, records, geometry, "train", "Pleural Effusion", store=store)
    px, mx = x.batch(range(len(x)), with_masks=True)
    py, my = y.batch(range(len(y)), with_masks=True)
    assert np.array_equal(px.numpy(), py.numpy()) and np.array_equal(mx.numpy(), my.numpy())
    encoder = SimpleNamespace(geometry=geometry)
    r1, r2 = report_items(encoder, str(data), "test"), report_items(encoder, str(data), "test", store)
    assert [r.dicom_id for r in r1] == [r.dicom_id for r in r2]
    assert all(np.array_equal(p.pixel_values.numpy(), q.pixel_values.numpy()) for p, q in zip(r1, r2))

    # a file changed after prepare: the store is stale, training refuses it
    path = records[0].image_path
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    try:
        config = load_config(PretrainConfig, REPO / "configs/pretrain/phantom-scratch.yaml",
                             [*tiny, f"data.store={store_dir}"])
        with pytest.raises(DataError, match="changed since it was prepared"):
            build_samples(config, records, tmp_path / "run2")
    finally:
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
