import numpy as np
import pytest
import torch

from cogaze.data.dataset import load_dataset
from cogaze.data.geometry import ImageGeometry
from cogaze.gaze.cache import GazeCache, build_gaze_cache
from cogaze.tasks.pretrain.samples import PretrainSamples
from fixture_trees import build_dataset


@pytest.fixture()
def dataset(tmp_path):
    root = build_dataset(tmp_path / "ds")
    return load_dataset(root).records


def test_samples_follow_batch_contract(dataset):
    geom = ImageGeometry(size=32)
    samples = PretrainSamples(dataset, geom, grid=4)
    assert len(samples) == len(dataset)
    for i, rec in enumerate(dataset):
        s = samples[i]
        assert s["dicom_id"] == rec.dicom_id and s["study_key"] == rec.study_key
        assert s["pixel_values"].shape == (3, 32, 32) and s["pixel_values"].dtype == torch.float32
        assert s["labels"].tolist() == rec.labels.astype(float).tolist()
        assert len(s["gaze"]) == len(rec.gaze)
        for (reading_id, rows), reading in zip(s["gaze"], rec.gaze):
            assert reading_id == reading.reading_id
            assert len(rows) == len(reading.sentences) + 1  # sentences, then the paragraph
            assert all(m.shape == (16,) and np.all(m >= 0) for _, m in rows)
    assert any(s for s in (samples[i]["gaze"] for i in range(len(samples))))


def test_cache_and_on_the_fly_agree(dataset, tmp_path):
    geom = ImageGeometry(size=32)
    build_gaze_cache(dataset, tmp_path / "g.safetensors", geom, grid=4)
    cached = PretrainSamples(dataset, geom, grid=4, gaze_cache=GazeCache(tmp_path / "g.safetensors"))
    live = PretrainSamples(dataset, geom, grid=4)
    for i in range(len(dataset)):
        a, b = cached[i]["gaze"], live[i]["gaze"]
        assert [r for r, _ in a] == [r for r, _ in b]
        for (_, rows_a), (_, rows_b) in zip(a, b):
            assert [t for t, _ in rows_a] == [t for t, _ in rows_b]
            for (_, ma), (_, mb) in zip(rows_a, rows_b):
                np.testing.assert_allclose(ma, mb, rtol=2e-3, atol=1e-4)  # cache stores float16
    off = PretrainSamples(dataset, geom, grid=4, use_gaze=False)
    assert all(off[i]["gaze"] == [] for i in range(len(off)))
