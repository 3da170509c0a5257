"""Pretraining past one machine: 2 nodes x 1 process on 127.0.0.1 (gloo), a killed node, resume; rank sharding.

Each "node" is a separate `cogaze pretrain` process with ``trainer.num_nodes=2 trainer.devices=1`` and its
own ``NODE_RANK``, meeting at ``MASTER_ADDR:MASTER_PORT`` as on a cluster (the run folder is shared,
as it must be between real nodes). The run reads its images from a prepared image store.
"""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from safetensors.torch import load_file
from torch.utils.data import DataLoader

from cogaze.cli import main
from cogaze.data.phantom.generate import generate_phantom
from cogaze.tasks.pretrain.module import EpochSampler
from test_pretrain_ddp import TINY, _reference_step

REPO = Path(__file__).resolve().parents[1]
TERMS = ("contrastive", "cls_vision", "cls_report", "gaze", "loss")
KILL = (
    "import os, sys\n"
    "from cogaze.tasks.pretrain import module as m\n"
    "end = m.PretrainModule.on_train_batch_end\n"
    "def on_train_batch_end(self, *a):\n"
    "    end(self, *a)\n"
    "    if self.total_steps >= int(os.environ['KILL_AT_STEP']):\n"
    "        os._exit(137)  # as if the node died: no clean-up, no exception\n"
    "m.PretrainModule.on_train_batch_end = on_train_batch_end\n"
    "from cogaze.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(args, port, kill_node1_at=0):
    """Start both nodes; returns their Popen objects (node 0 first)."""
    procs = []
    for node in (0, 1):
        env = dict(os.environ, PYTHONPATH=str(REPO / "src"), OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1",
                   MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), NODE_RANK=str(node))
        for k in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "GROUP_RANK"):
            env.pop(k, None)
        if node == 1 and kill_node1_at:
            env["KILL_AT_STEP"] = str(kill_node1_at)
            cmd = [sys.executable, "-c", KILL, *args]
        else:
            cmd = [sys.executable, "-m", "cogaze", *args]
        procs.append(subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True))
    return procs


def _finish(procs, timeout=300):
    outs = [p.communicate(timeout=timeout) for p in procs]
    for p, (_, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]
    return outs


def _rows(run):
    return [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("nodes")
    data = root / "ds"
    generate_phantom(data, n_patients=10, seed=0, image_size=64, gaze_fraction=0.6)
    assert main(["tokenizer", "train", str(data), "--out", str(root / "tok"), "--vocab-size", "300"]) == 0
    assert main(["data", "prepare", str(data), "--size", "64", "--out", str(root / "store"), "--workers", "1"]) == 0
    return root, data


def _args(root, data, run, *extra):
    return ["pretrain", "--config", "configs/pretrain/phantom-scratch.yaml", "--data", str(data), "--run-dir", str(run),
            "--store", str(root / "store"), f"model.tokenizer={root / 'tok'}", *TINY, "trainer.max_epochs=2",
            "trainer.strategy=ddp", "trainer.num_nodes=2", "trainer.devices=1", "trainer.accelerator=cpu", *extra]


def test_two_nodes_match_one_process_and_resume_after_a_killed_node(setup):
    root, data = setup
    run_a, run_b = root / "a", root / "b"
    outs = _finish(_launch(_args(root, data, run_a), _free_port()))
    summary = json.loads(outs[0][0])  # printed by node 0 only
    assert outs[1][0].strip() == "" and summary["epochs"] == 2
    rows_a = _rows(run_a)
    steps = [r["step"] for r in rows_a if r["split"] == "train"]
    assert steps == list(range(len(steps))) and len(steps) >= 4

    # step 1 of 2 nodes = one process running both ranks' batches (the reference of test_pretrain_ddp)
    _, _, mean, _ = _reference_step(run_a, data)  # its config.yaml names the store
    for k in ("contrastive", "cls_vision", "cls_report", "loss"):
        assert abs(rows_a[0][k] - mean[k]) < 1e-5, (k, rows_a[0][k], mean[k])

    # node 1 dies after step 3 (checkpoints every 2 steps); node 0 is stopped like a torn-down job
    procs = _launch(_args(root, data, run_b, "trainer.checkpoint_every_n_steps=2"), _free_port(), kill_node1_at=3)
    procs[1].communicate(timeout=300)
    assert procs[1].returncode == 137
    time.sleep(2)
    procs[0].kill()
    procs[0].communicate(timeout=60)
    last = json.loads((run_b / "checkpoints" / "last.json").read_text())
    assert last["path"] == "step-0000002"
    _finish(_launch(["pretrain", "--resume", str(run_b)], _free_port()))
    rows_b = _rows(run_b)
    assert [(r["step"], r["split"]) for r in rows_a] == [(r["step"], r["split"]) for r in rows_b]  # no duplicates
    for x, y in zip(rows_a, rows_b):
        for k in TERMS:
            assert (k in x) == (k in y) and abs(x.get(k, 0) - y.get(k, 0)) < 1e-6, (k, x, y)
    wa = load_file(str(run_a / "checkpoints" / "epoch-0002" / "model.safetensors"))
    wb = load_file(str(run_b / "checkpoints" / "epoch-0002" / "model.safetensors"))
    assert wa.keys() == wb.keys() and max(float((wa[k] - wb[k]).abs().max()) for k in wa) < 1e-6


class Counting:
    """Item i is i: what each rank's loader yields is exactly which samples it trained on."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return i


@pytest.mark.parametrize("n,world,batch", [(48, 2, 4), (53, 2, 4), (50, 3, 2), (17, 4, 1), (30, 1, 7)])
def test_rank_sharding_has_no_duplicate_or_dropped_sample(n, world, batch):
    for epoch in (0, 1):
        per_rank = []
        for rank in range(world):
            sampler = EpochSampler(n, 11, lambda e=epoch: e, rank, world, batch=batch)
            dl = DataLoader(Counting(n), batch_size=batch, sampler=sampler, drop_last=True)
            per_rank.append([b.tolist() for b in dl])
        assert len({len(b) for b in per_rank}) == 1  # same number of steps on every rank (DDP lockstep)
        seen = [i for batches in per_rank for b in batches for i in b]
        assert len(seen) == len(set(seen))  # no sample twice
        # exactly what one process with the global batch (world x batch, drop_last) trains on, step by step
        single = DataLoader(Counting(n), batch_size=world * batch, drop_last=True,
                            sampler=EpochSampler(n, 11, lambda e=epoch: e, 0, 1, batch=world * batch))
        for k, global_batch in enumerate(single):
            assert sorted(global_batch.tolist()) == sorted(i for r in range(world) for i in per_rank[r][k])
        assert len(seen) == n - n % (world * batch)  # only the drop-last remainder is left out
        if n % (world * batch) == 0:
            assert sorted(seen) == list(range(n))
    # a resumed epoch skips exactly the consumed batches of each rank
    full = list(EpochSampler(n, 11, lambda: 3, world - 1, world, batch=batch))
    resumed = list(EpochSampler(n, 11, lambda: 3, world - 1, world, skip=(3, batch), batch=batch))
    assert resumed == full[batch:]
