"""The explain API on the real CoGaze adapter (random weights, tiny sizes): plumbing and temperature."""

import numpy as np
import pytest
import torch

from cogaze.cli import main
from cogaze.config import load_config
from cogaze.data.dataset import load_dataset
from cogaze.data.images import read_image
from cogaze.explain.baselines import EncoderPredictor, eval_shape
from cogaze.explain.evaluate_gaze import evaluate_gaze
from cogaze.explain.predict import ground_report, predict_gaze, predict_scanpath
from cogaze.models.cogaze import CoGazeModel, resolve_text_vocab
from cogaze.models.pretrained import PretrainedCoGaze, image_geometry
from cogaze.models.tokenizer import load_tokenizer
from cogaze.tasks.pretrain.config import PretrainConfig
from fixture_trees import build_dataset

TINY = [
    "model.vision.config.image_size=64", "model.vision.config.embedding_size=8",
    "model.vision.config.hidden_sizes=[8,16,32]", "model.text.config.hidden_size=32",
    "model.text.config.intermediate_size=64", "model.dim=32", "model.num_latents=4",
    "model.perceiver_depth=1", "model.perceiver_dim_head=8",
]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("explain_real")
    data = build_dataset(tmp / "ds")
    tok = tmp / "tok"
    assert main(["tokenizer", "train", str(data), "--out", str(tok), "--vocab-size", "300"]) == 0
    cfg = load_config(PretrainConfig, "configs/pretrain/phantom-scratch.yaml", [f"model.tokenizer={tok}", *TINY])
    tokenizer = load_tokenizer(cfg.model.tokenizer)
    resolve_text_vocab(cfg.model, tokenizer)
    torch.manual_seed(0)
    enc = PretrainedCoGaze(CoGazeModel(cfg.model), tokenizer, image_geometry(cfg.model))
    return enc, load_dataset(data).records


def test_predict_on_the_adapter(setup):
    enc, _ = setup
    img = np.random.default_rng(0).integers(0, 256, size=(30, 44), dtype=np.uint8)
    pred = predict_gaze(enc, img, "small left effusion", view="PA", geometry=enc.geometry)
    assert pred.temperature == 1.0  # the adapter's similarity is already exp(s2) * cosine
    px = torch.from_numpy(enc.geometry.transform_image(img))[None]
    sim = enc.patch_text_similarity(px, ["PA"], ["small left effusion"])[0].double()
    np.testing.assert_allclose(pred.patch_map.ravel(), torch.softmax(sim, 0).numpy(), rtol=1e-6)
    assert pred.grid == enc.grid and pred.heatmap.shape == (30, 44)
    x0, _, x1, _ = pred.crop_box
    assert pred.heatmap[:, : int(x0)].max() == 0 and pred.heatmap.sum() == pytest.approx(1.0, abs=1e-4)
    out = ground_report(enc, img, "Enlarged heart. No effusion.", view="PA", geometry=enc.geometry)
    assert [g.findings for g in out] == [{"Cardiomegaly": "positive"}, {"Pleural Effusion": "negative"}]
    path = predict_scanpath(enc, img, "heart", geometry=enc.geometry, n_fixations=3)
    assert len(path) == 3 and all(x0 <= x <= x1 for x, _, _ in path)


def test_evaluate_with_the_adapter(setup):
    enc, records = setup
    held = [r for r in records if r.has_gaze]
    pred = EncoderPredictor(enc, enc.geometry, load_image=read_image)
    m = pred(held[0], "heart")
    assert m.shape == eval_shape(held[0].gaze[0].image_size)
    table = evaluate_gaze(held, {"model": pred}, sauc_splits=5, icc_boot=20)
    assert set(table) == {"model", "centre bias", "uniform"}
    assert table["model"]["nss"].n == table["uniform"]["nss"].n > 0
    assert np.isfinite(table["model"]["cc"].mean)


def test_one_image_many_texts_encodes_the_image_once(setup, monkeypatch):
    """Gaze evaluation asks for one text at a time on one image: the adapter encodes that image once,
    and again only when the pixels, the view or the weights change; the similarity is unchanged."""
    enc, _ = setup
    calls = []
    real = enc.model.encode_images
    monkeypatch.setattr(enc.model, "encode_images", lambda px: calls.append(len(px)) or real(px))
    rng = np.random.default_rng(1)
    img = torch.from_numpy(enc.geometry.transform_image(rng.integers(0, 256, (40, 40), dtype=np.uint8)))[None]
    texts = ["small left effusion", "enlarged heart", "no pneumothorax"]
    fresh = enc._patch_tokens(img, ["PA"])
    calls.clear()
    sims = [enc.patch_text_similarity(img.expand(1, -1, -1, -1), ["PA"], [t]) for t in texts]
    sims.append(enc.patch_text_similarity(img.expand(3, -1, -1, -1), ["PA"] * 3, texts))
    assert calls == [1]
    direct = enc.patch_text_similarity(img.repeat(3, 1, 1, 1), ["PA"] * 3, texts)  # no stride-0: no reuse
    assert calls == [1, 3]
    torch.testing.assert_close(torch.cat(sims[:3]), direct, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(sims[3], direct, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(enc._last_image[3], fresh)
    enc.patch_text_similarity(img.expand(1, -1, -1, -1), ["AP"], texts[:1])  # other view
    other = img.clone()
    other[..., 0, 0] += 1.0
    enc.patch_text_similarity(other.expand(1, -1, -1, -1), ["AP"], texts[:1])  # other pixels
    with torch.no_grad():
        enc.model.encoder.vision_projector.norm.weight.mul_(1.0)  # an in-place weight update
    enc.patch_text_similarity(other.expand(1, -1, -1, -1), ["AP"], texts[:1])
    assert calls == [1, 3, 1, 1, 1]
