"""Mid-epoch checkpoints: stop after k optimizer steps (or get killed), resume, and match an uninterrupted run."""

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from cogaze.errors import ConfigError
from cogaze.tasks.pretrain.config import DataConfig, OptimConfig, PretrainConfig, TrainerConfig
from cogaze.tasks.pretrain.module import EpochSampler
from cogaze.tasks.pretrain.run import fit, resume
from pretrain_helpers import make_samples, tiny_model_config, tiny_tokenizer

EPOCHS, BATCH, ACC = 3, 4, 2  # 32 train images: 8 batches = 4 optimizer steps per epoch
TERMS = ("contrastive", "cls_vision", "cls_report", "gaze", "loss")


@pytest.fixture(scope="module")
def tok(tmp_path_factory):
    return tiny_tokenizer(tmp_path_factory.mktemp("tok"))


@pytest.fixture(scope="module")
def data():
    return make_samples(32, seed=5), make_samples(12, seed=6, images_per_study=2)


def _config(tok, **trainer):
    mc = tiny_model_config(tok.name_or_path)
    mc.text.config["hidden_dropout_prob"] = 0.1  # dropout on: a resume must replay the same masks
    return PretrainConfig(model=mc, data=DataConfig(batch_size=BATCH),
                          optim=OptimConfig(lr=1e-3),
                          trainer=TrainerConfig(**{"max_epochs": EPOCHS, "accelerator": "cpu", "devices": "1",
                                                   "accumulate_grad_batches": ACC, **trainer}))


def _rows(run):
    return [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]


def _weights(run):
    return load_file(str(run / "checkpoints" / f"epoch-{EPOCHS:04d}" / "model.safetensors"))


def _assert_same_run(a, b):
    ra, rb = _rows(a), _rows(b)
    assert [(r["step"], r["epoch"], r.get("batch"), r["split"]) for r in ra] == \
        [(r["step"], r["epoch"], r.get("batch"), r["split"]) for r in rb]
    for x, y in zip(ra, rb):
        for k in TERMS:
            assert (k in x) == (k in y)
            if k in x:
                assert abs(x[k] - y[k]) < 1e-6, (k, x, y)
    wa, wb = _weights(a), _weights(b)
    assert wa.keys() == wb.keys()
    assert max(float((wa[k] - wb[k]).abs().max()) for k in wa) < 1e-6


class KillAfter:
    """A sample list whose ``limit``-th read raises, like a process killed mid-epoch."""

    def __init__(self, samples, limit):
        self.samples, self.limit, self.reads = samples, limit, 0

    def __len__(self):
        return len(self.samples)

    def label_matrix(self):  # what lazy sample sets offer: class counts without reading images
        return np.stack([s["labels"].numpy() for s in self.samples])

    def __getitem__(self, i):
        self.reads += 1
        if self.limit and self.reads > self.limit:
            raise RuntimeError("killed")
        return self.samples[i]


def test_sampler_skips_consumed_batches_of_one_epoch():
    epoch = [3]
    full = list(EpochSampler(20, 7, lambda: epoch[0], rank=1, world=2))
    s = EpochSampler(20, 7, lambda: epoch[0], rank=1, world=2, skip=(3, 4))
    assert len(s) == 6 and list(s) == full[4:]
    epoch[0] = 4
    assert len(s) == 10 and list(s) == list(EpochSampler(20, 7, lambda: 4, rank=1, world=2))


def test_stop_mid_epoch_then_resume_equals_uninterrupted(tok, data, tmp_path):
    train, val = data
    fit(_config(tok), train, val, tmp_path / "a")
    rows_a = _rows(tmp_path / "a")
    assert [r["step"] for r in rows_a if r["split"] == "train"] == [s // ACC for s in range(EPOCHS * 8)]

    k = 6  # epoch 1, after 4 of its 8 batches (not a multiple of the 4 steps per epoch)
    summary = fit(_config(tok, stop_after_steps=k), train, val, tmp_path / "b")
    assert summary["steps"] == k and summary["epochs"] == 1
    assert summary["stopped_at"] == {"epoch": 1, "batch": 4}
    last = json.loads((tmp_path / "b" / "checkpoints" / "last.json").read_text())
    assert last == {"path": "step-0000006", "epoch": 1, "batch": 4, "step": 6}
    state = torch.load(tmp_path / "b" / "checkpoints" / "step-0000006" / "state.pt", weights_only=True)
    assert (state["epoch"], state["batch"], state["global_step"]) == (1, 4, 6)
    train_b = [r for r in _rows(tmp_path / "b") if r["split"] == "train"]
    assert len(train_b) == 12 and train_b[-1]["batch"] == 3
    assert not (tmp_path / "b" / "checkpoints" / "epoch-0002").exists()  # no false epoch end
    with pytest.raises(ConfigError, match="already at step 6"):
        resume(tmp_path / "b", train, val)
    summary = resume(tmp_path / "b", train, val, ["trainer.stop_after_steps=0"])
    assert summary["epochs"] == EPOCHS and summary["steps"] == EPOCHS * 4 and "stopped_at" not in summary
    _assert_same_run(tmp_path / "a", tmp_path / "b")
    assert not list((tmp_path / "b" / "checkpoints").glob("step-*"))  # superseded by the epoch checkpoints


def test_killed_run_resumes_from_step_checkpoint_without_duplicate_rows(tok, data, tmp_path):
    train, val = data
    fit(_config(tok), train, val, tmp_path / "a")
    killer = KillAfter(train, limit=BATCH * (2 * 8 + 7))  # dies fetching epoch 2's batch 7
    with pytest.raises(RuntimeError, match="killed"):
        fit(_config(tok, checkpoint_every_n_steps=3), killer, val, tmp_path / "c")
    last = json.loads((tmp_path / "c" / "checkpoints" / "last.json").read_text())
    assert last["path"] == "step-0000009" and (last["epoch"], last["batch"]) == (2, 2)
    assert [p.name for p in (tmp_path / "c" / "checkpoints").glob("step-*")] == ["step-0000009"]
    assert max(r["step"] for r in _rows(tmp_path / "c")) >= 10  # rows logged past the checkpoint
    killer.limit = 0
    resume(tmp_path / "c", killer, val)
    _assert_same_run(tmp_path / "a", tmp_path / "c")
