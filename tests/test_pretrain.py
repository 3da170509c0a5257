import json

import pytest
import torch

from cogaze.errors import ConfigError, DataError
from cogaze.models.cogaze import CoGazeModel, resolve_text_vocab
from cogaze.tasks.pretrain.collate import PretrainCollator
from cogaze.tasks.pretrain.config import DataConfig, OptimConfig, PretrainConfig, TrainerConfig
from cogaze.tasks.pretrain.run import build_trainer, fit, resume
from pretrain_helpers import make_samples, tiny_model_config, tiny_tokenizer


@pytest.fixture(scope="module")
def tok(tmp_path_factory):
    return tiny_tokenizer(tmp_path_factory.mktemp("tok"))


def _config(tok, epochs=2, **trainer):
    mc = tiny_model_config(tok.name_or_path)
    return PretrainConfig(model=mc, data=DataConfig(batch_size=8), optim=OptimConfig(lr=1e-3),
                          trainer=TrainerConfig(**{"max_epochs": epochs, "accelerator": "cpu", "devices": "1",
                                                   "accumulate_grad_batches": 1, **trainer}))


def _model(tok, seed=0):
    torch.manual_seed(seed)
    return CoGazeModel(resolve_text_vocab(tiny_model_config(tok.name_or_path), tok))


def test_training_steps_lower_contrastive_loss(tok):
    model = _model(tok)
    batch = PretrainCollator(tok)(make_samples(16, seed=3))
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-3)
    model.train()
    first = None
    for _ in range(25):
        out = model(batch)
        first = first if first is not None else {k: float(v.detach()) for k, v in out.losses.items()}
        opt.zero_grad()
        out.loss.backward()
        opt.step()
    last = {k: float(v.detach()) for k, v in model(batch).losses.items()}
    assert last["contrastive"] < 0.7 * first["contrastive"], (first, last)
    assert last["gaze"] < first["gaze"] and last["cls_vision"] < first["cls_vision"]


def test_bad_batches_do_not_crash(tok):
    model = _model(tok).eval()
    col = PretrainCollator(tok)
    cases = {
        "no context": make_samples(4, context_every=0),
        "no gaze": make_samples(4, gaze_every=0),
        "one image": make_samples(1),
    }
    for name, samples in cases.items():
        out = model(col(samples))
        assert torch.isfinite(out.loss), name
    assert "gaze" not in model(col(cases["no gaze"])).losses
    s = make_samples(2)
    s[0]["view"], s[1]["view"] = "NOT A VIEW", None
    b = col(s)
    assert b["view_ids"].tolist() == [14, 14]  # UNKNOWN
    assert torch.isfinite(model(b).loss)
    # context switch: all-absent context equals use_context=False
    b = col(make_samples(4, context_every=0))
    model.config.use_context = False
    a = model(col(make_samples(4, context_every=0))).loss
    model.config.use_context = True
    assert abs(float(a) - float(model(b).loss)) < 1e-6
    bad = make_samples(2)
    bad[1]["gaze"] = [("x", [("t", [float("nan")] * 16)])]
    with pytest.raises(DataError, match="NaN"):
        col(bad)
    with pytest.raises(DataError, match="pixel_values"):
        col([{k: v for k, v in make_samples(1)[0].items() if k != "pixel_values"}])


def test_vision_features_path_gives_same_loss(tok):
    model = _model(tok).eval()
    batch = PretrainCollator(tok)(make_samples(6))
    a = model(batch)
    cached = dict(batch, vision_features=model.encode_images(batch.pop("pixel_values")).half())
    b = model(cached)
    assert abs(float(a.loss) - float(b.loss)) < 1e-2  # fp16 storage
    b32 = model(dict(cached, vision_features=cached["vision_features"].float()))
    assert b32.vision_pooled.shape == (6, 32)


def test_trainer_settings_reach_lightning(tok):
    cfg = _config(tok, accumulate_grad_batches=3, precision="bf16-mixed", num_nodes=1)
    tr = build_trainer(cfg)
    assert tr.accumulate_grad_batches == 3
    assert "bf16" in str(tr.precision_plugin.precision)
    assert tr.num_nodes == 1 and tr.max_epochs == 2


def test_fit_writes_run_folder_and_resume_is_exact(tok, tmp_path):
    train, val = make_samples(32, seed=5), make_samples(12, seed=6, images_per_study=2)
    full = fit(_config(tok, epochs=3), train, val, tmp_path / "full")
    rows = [json.loads(x) for x in (tmp_path / "full" / "metrics.jsonl").read_text().splitlines()]
    assert {"step", "epoch", "split", "contrastive", "loss"} <= set(rows[0])
    tr = [r for r in rows if r["split"] == "train"]
    assert len(tr) == 12 and [r["step"] for r in tr] == list(range(12))
    summary = json.loads((tmp_path / "full" / "summary.json").read_text())
    assert summary["epochs"] == 3 and "retrieval_top1" in summary and "contrastive" in summary["val"]
    assert full["val"]["loss"] == summary["val"]["loss"]
    ck = tmp_path / "full" / "checkpoints" / "epoch-0003"
    assert {p.name for p in ck.iterdir()} == {"model.safetensors", "config.json", "state.pt", "metrics.jsonl",
                                             "checkpoint.json"}

    fit(_config(tok, epochs=1), train, val, tmp_path / "part")
    with pytest.raises(ConfigError, match="already holds a run"):
        fit(_config(tok, epochs=1), train, val, tmp_path / "part")
    resume(tmp_path / "part", train, val, ["trainer.max_epochs=3"])
    rows2 = [json.loads(x) for x in (tmp_path / "part" / "metrics.jsonl").read_text().splitlines()]
    assert len(rows2) == len(rows)
    for a, b in zip(rows, rows2):
        assert (a["step"], a["epoch"], a["split"]) == (b["step"], b["epoch"], b["split"])
        for k in ("contrastive", "cls_vision", "cls_report", "loss"):
            assert abs(a[k] - b[k]) < 1e-6, (a, b)
