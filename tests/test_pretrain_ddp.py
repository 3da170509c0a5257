"""`cogaze pretrain trainer.strategy=ddp trainer.devices=2` on CPU (gloo), checked against one process.

Each rank computes the losses on its own half of the global batch (no cross-rank gather, like the
reference code) and DDP averages the gradients. So step 1 of two processes of B images must equal one
process that runs the two halves and averages their losses: same gradients, same updated weights, and
the logged (rank-mean) losses equal the mean of the two halves' losses.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import lightning as L
import torch
from safetensors.torch import load_file

from cogaze.cli import main
from cogaze.config import load_config
from cogaze.data.dataset import load_dataset
from cogaze.data.phantom.generate import generate_phantom
from cogaze.models.cogaze import CoGazeModel
from cogaze.models.pretrained import image_geometry
from cogaze.models.tokenizer import load_tokenizer
from cogaze.tasks.pretrain.collate import PretrainCollator, finish_batch
from cogaze.tasks.pretrain.config import PretrainConfig
from cogaze.tasks.pretrain.module import EpochSampler
from cogaze.tasks.pretrain.pipeline import build_samples

REPO = Path(__file__).resolve().parents[1]
B = 4  # images per rank
TINY = [
    "model.vision.config.image_size=64", "model.vision.config.embedding_size=8",
    "model.vision.config.hidden_sizes=[8,16,32]", "model.text.config.hidden_size=32",
    "model.text.config.intermediate_size=64", "model.dim=32", "model.num_latents=4",
    "model.perceiver_depth=1", "model.perceiver_dim_head=8", "optim.lr=0.001",
    f"data.batch_size={B}", "trainer.max_epochs=1", "trainer.accumulate_grad_batches=1",
    "trainer.matmul_precision=highest",  # "medium" lets CPU matmuls run in bf16
]


def _reference_step(run: Path, data: Path):
    """One process: rank r's batch and dropout seed, losses averaged over r = 0, 1, one AdamW step."""
    config = load_config(PretrainConfig, run / "config.yaml")
    t = config.trainer
    tok = load_tokenizer(config.model.tokenizer)
    L.seed_everything(t.seed, verbose=False)  # as pretrain.run._run before building the module
    model = CoGazeModel(config.model)
    train, _ = build_samples(config, load_dataset(data).records, run)
    collate = PretrainCollator(tok, config.model.max_text_length)
    geometry = image_geometry(config.model)  # uint8 images are normalised as on the device
    losses = []
    for rank in (0, 1):
        idx = list(EpochSampler(len(train), t.seed, lambda: 0, rank, 2, batch=B))[:B]
        torch.manual_seed(t.seed + rank)  # PretrainModule.on_train_batch_start at epoch 0, batch 0
        losses.append(model(finish_batch(collate([train[i] for i in idx]), geometry)).losses)
    mean = {k: (losses[0][k] + losses[1][k]) / 2 for k in losses[0] if k in losses[1]}
    mean["loss"].backward()
    params = [p for p in model.parameters() if p.requires_grad]
    grads = [p.grad.clone() for p in params]
    opt = torch.optim.AdamW(params, lr=config.optim.lr, weight_decay=config.optim.weight_decay)
    opt.step()
    return model, grads, {k: float(v) for k, v in mean.items()}, losses


def test_ddp_two_cpu_processes_match_one_process(tmp_path):
    data = tmp_path / "ds"
    generate_phantom(data, n_patients=10, seed=0, image_size=64, gaze_fraction=0.6)
    tok = tmp_path / "tok"
    assert main(["tokenizer", "train", str(data), "--out", str(tok), "--vocab-size", "300"]) == 0
    run = tmp_path / "run"
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"), OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    for k in ("RANK", "LOCAL_RANK", "NODE_RANK", "WORLD_SIZE"):
        env.pop(k, None)
    cmd = [sys.executable, "-m", "cogaze", "pretrain", "--config", "configs/pretrain/phantom-scratch.yaml",
           "--data", str(data), "--run-dir", str(run), f"model.tokenizer={tok}", *TINY,
           "trainer.strategy=ddp", "trainer.devices=2", "trainer.accelerator=cpu", "trainer.stop_after_steps=1"]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout)  # printed once (rank 0 only)
    assert summary["steps"] == 1 and summary["stopped_at"] == {"epoch": 0, "batch": 1}

    model, grads, mean, halves = _reference_step(run, data)
    # (b) the logged step-1 losses are the mean over ranks of each rank's losses
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 1 and rows[0]["step"] == 0
    for k in ("contrastive", "cls_vision", "cls_report", "loss"):
        assert abs(rows[0][k] - mean[k]) < 1e-5, (k, rows[0][k], mean[k])
    assert abs(halves[0]["contrastive"] - halves[1]["contrastive"]) > 1e-3  # the two ranks did differ
    gaze = [float(h["gaze"]) for h in halves if "gaze" in h]  # a rank without gaze items has no gaze term
    assert ("gaze" in rows[0]) == bool(gaze)
    if gaze:
        assert abs(rows[0]["gaze"] - sum(gaze) / len(gaze)) < 1e-5

    # (a) DDP's averaged gradient (AdamW's first moment after one step is 0.1 * grad) and the updated weights
    state = torch.load(run / "checkpoints" / "step-0000001" / "state.pt", weights_only=True)
    ddp_grads = [state["optimizer"]["state"][i]["exp_avg"] / 0.1 for i in range(len(grads))]
    scale = max(float(g.abs().max()) for g in grads)
    assert scale > 1e-3
    assert max(float((a - b).abs().max()) for a, b in zip(grads, ddp_grads)) < 1e-5 * scale
    # Adam's first step is lr * g / (|g| + eps): a gradient difference dg moves a weight by at most
    # lr * dg / eps, which matters only where |g| ~ eps (1e-8) and float noise is comparable to g.
    saved = load_file(str(run / "checkpoints" / "step-0000001" / "model.safetensors"))
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    assert set(names) <= saved.keys()
    lr, eps = state["optimizer"]["param_groups"][0]["lr"], 1e-8
    worst = 0.0
    strong = []
    for name, g, gd in zip(names, grads, ddp_grads):
        diff = (model.get_parameter(name).detach() - saved[name]).abs()
        worst = max(worst, float((diff - 1e-6 - lr * (g - gd).abs() / eps).max()))
        strong.append(diff[g.abs() > 1e-6])  # well-conditioned elements
    assert worst <= 0, worst
    strong = torch.cat(strong)
    assert len(strong) > 1000 and float(strong.max()) < 1e-6


def test_fsdp_on_cpu_is_a_config_error_naming_the_settings():
    """FSDP needs CUDA devices (docs/scaling.md): on CPU the run stops before any work with a ConfigError
    that names the trainer settings, not a library traceback."""
    import pytest

    from cogaze.errors import ConfigError
    from cogaze.resources import config_path
    from cogaze.tasks.pretrain.run import build_trainer

    cfg = load_config(PretrainConfig, config_path("pretrain/phantom-tiny.yaml"), ["trainer.strategy=fsdp"])
    with pytest.raises(ConfigError, match=r"strategy='fsdp', accelerator='cpu'.*requires a GPU accelerator"):
        build_trainer(cfg)
    assert build_trainer(load_config(PretrainConfig, config_path("pretrain/phantom-tiny.yaml"))).world_size == 1
