"""Fault injection: damage a stopped run folder the ways a crash, a full disk or a careless user would,
resume it, and check the warning, the checkpoint it falls back to, and that the loss curve and final
weights equal an uninterrupted run's (same seed)."""

import json
import logging
import os
import re
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

from cogaze.checksums import sha256_file
from cogaze.cli import main
from cogaze.config import load_config
from cogaze.errors import CogazeError, ConfigError
from cogaze.tasks.checkpoints import (
    CheckpointDamaged,
    save_safetensors,
    verify_checkpoint,
    verify_safetensors,
)
from cogaze.tasks.pretrain.config import DataConfig, OptimConfig, PretrainConfig, TrainerConfig
from cogaze.tasks.pretrain.pretrained import load_pretrained
from cogaze.tasks.pretrain.recovery import find_resume_point
from cogaze.tasks.pretrain.run import fit, resume
from cogaze.tasks.report_generation import (
    ReportGenConfig,
    ReportItem,
    load_report_generator,
    train_report_generator,
)
from fixture_trees import build_dataset
from pretrain_helpers import make_samples, tiny_model_config, tiny_tokenizer
from report_fixtures import CLASS_REPORTS, ToyEncoder, class_images
from report_fixtures import tiny_tokenizer as report_tokenizer

EPOCHS, BATCH, ACC = 3, 4, 2  # 32 train images: 8 batches = 4 optimizer steps per epoch, 12 in all
STOP = 10  # the interrupted run stops mid-epoch 3: epoch-0001 (step 4), epoch-0002 (step 8), step-0000010
TERMS = ("contrastive", "cls_vision", "cls_report", "gaze", "loss", "retrieval_top1")
NEWEST, EPOCH2, EPOCH1 = "step-0000010 (epoch 2, batch 4, step 10)", "epoch-0002 (epoch 2, batch 0, step 8)", \
    "epoch-0001 (epoch 1, batch 0, step 4)"


@pytest.fixture(scope="module")
def tok(tmp_path_factory):
    return tiny_tokenizer(tmp_path_factory.mktemp("tok"))


@pytest.fixture(scope="module")
def data():
    return make_samples(32, seed=5), make_samples(12, seed=6, images_per_study=2)


def _config(tok, **trainer):
    mc = tiny_model_config(tok.name_or_path)
    mc.text.config["hidden_dropout_prob"] = 0.1  # dropout on: a resume must replay the same masks
    return PretrainConfig(model=mc, data=DataConfig(batch_size=BATCH), optim=OptimConfig(lr=1e-3),
                          trainer=TrainerConfig(**{"max_epochs": EPOCHS, "accelerator": "cpu", "devices": "1",
                                                   "accumulate_grad_batches": ACC, **trainer}))


@pytest.fixture(scope="module")
def runs(tok, data, tmp_path_factory):
    """(uninterrupted run, run stopped at step 10): the second is copied and damaged by each case."""
    root = tmp_path_factory.mktemp("runs")
    fit(_config(tok), *data, root / "ref")
    fit(_config(tok, stop_after_steps=STOP), *data, root / "stopped")
    return root / "ref", root / "stopped"


def _rows(run):
    return [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]


def _assert_same_curve(ref, run):
    """Every metrics row (every step's losses, every val epoch) and the final weights equal the reference."""
    ra, rb = _rows(ref), _rows(run)
    assert [(r["split"], r["step"], r["epoch"], r.get("batch")) for r in ra] == \
        [(r["split"], r["step"], r["epoch"], r.get("batch")) for r in rb]
    for x, y in zip(ra, rb):
        for k in TERMS:
            assert (k in x) == (k in y) and (k not in x or abs(x[k] - y[k]) < 1e-6), (k, x, y)
    wa = load_file(str(ref / "checkpoints" / f"epoch-{EPOCHS:04d}" / "model.safetensors"))
    wb = load_file(str(run / "checkpoints" / f"epoch-{EPOCHS:04d}" / "model.safetensors"))
    assert wa.keys() == wb.keys() and max(float((wa[k] - wb[k]).abs().max()) for k in wa) < 1e-6


def _flip_bits(path, offset_from_end=200):
    """Flip the bits of one byte inside the tensor data (past the safetensors header)."""
    raw = bytearray(path.read_bytes())
    raw[len(raw) - offset_from_end] ^= 0xFF
    path.write_bytes(bytes(raw))


def _truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def truncate_model(ck, ref):
    _truncate(ck / "step-0000010" / "model.safetensors")


def flip_model_bits(ck, ref):
    path = ck / "step-0000010" / "model.safetensors"
    _flip_bits(path)
    assert len(load_file(str(path))) > 0  # still loads: only the checksum tells


def flip_state_bits(ck, ref):
    _flip_bits(ck / "step-0000010" / "state.pt", offset_from_end=2000)


def delete_model(ck, ref):
    (ck / "step-0000010" / "model.safetensors").unlink()


def delete_newest(ck, ref):
    shutil.rmtree(ck / "step-0000010")


def damage_two(ck, ref):
    _truncate(ck / "step-0000010" / "model.safetensors")
    _flip_bits(ck / "epoch-0002" / "model.safetensors")


def delete_last_json(ck, ref):
    (ck / "last.json").unlink()


def last_json_garbage(ck, ref):
    (ck / "last.json").write_text('{"path": "step-00')


def delete_best_json(ck, ref):
    (ck / "best.json").unlink()


def delete_metrics(ck, ref):
    (ck.parent / "metrics.jsonl").unlink()


def delete_metrics_and_truncate(ck, ref):
    (ck.parent / "metrics.jsonl").unlink()
    _truncate(ck / "step-0000010" / "model.safetensors")


def half_line(ck, ref):
    with (ck.parent / "metrics.jsonl").open("a") as fh:
        fh.write('{"step": 10, "epoch": 2, "batch": 4, "split": "tr')


def rows_past_checkpoint_then_half_line(ck, ref):
    """What a run killed at step 11 leaves: two rows logged after the checkpoint, then half a row."""
    extra = [line for line in (ref / "metrics.jsonl").read_text().splitlines() if json.loads(line)["step"] == 10]
    with (ck.parent / "metrics.jsonl").open("a") as fh:
        fh.write("\n".join(extra) + '\n{"step": 11, "epo')


def metrics_cut_short(ck, ref):
    """A metrics.jsonl that lost its first 6 rows (restored from the checkpoints)."""
    path = ck.parent / "metrics.jsonl"
    path.write_text("".join(line + "\n" for line in path.read_text().splitlines()[6:]))


def stale_temps(ck, ref):
    tmp = ck / ".step-0000012.k2j4x9"  # save_checkpoint's temporary folder, killed mid-write
    tmp.mkdir()
    (tmp / "model.safetensors").write_bytes(b"\x00" * 100)
    (ck / ".last.json.abc123.tmp").write_text('{"pa')  # cogaze.io's temporary file
    (ck.parent / ".metrics.jsonl.zz.tmp").write_text("")


DROP_4 = r"metrics.jsonl: 4 row\(s\) logged after checkpoint epoch-0002 dropped \(training repeats them\)$"
CASES = {
    # name: (damage, warnings expected (regexes), checkpoint resumed from, folder set aside)
    "truncate-model": (truncate_model, [r"checkpoint step-0000010 \(last.json points there\) is damaged or missing: .*"
                                        r"model.safetensors: \d+ bytes, the checkpoint was written with \d+ "
                                        r"\(truncated.*falling back to epoch-0002", DROP_4], EPOCH2, "step-0000010"),
    "flip-model-bits": (flip_model_bits, [r"step-0000010/model.safetensors: sha256 differs .*corrupted", DROP_4],
                        EPOCH2, "step-0000010"),
    "flip-state-bits": (flip_state_bits, [r"step-0000010/state.pt: sha256 differs", DROP_4], EPOCH2, "step-0000010"),
    "delete-model": (delete_model, [r"step-0000010/model.safetensors: file is missing", DROP_4], EPOCH2, "step-0000010"),
    "delete-newest-folder": (delete_newest, [r"checkpoint step-0000010 \(last.json points there\) is damaged or missing: "
                                             r".*step-0000010: checkpoint folder is missing", DROP_4], EPOCH2, None),
    "damage-two-newest": (damage_two, [r"step-0000010/model.safetensors: \d+ bytes",
                                       r"epoch-0002/model.safetensors: sha256 differs.*falling back to epoch-0001",
                                       r"best.json pointed at the damaged checkpoint epoch-0002: now at epoch-0001, the lowest val loss up to "
                                       r"epoch-0001",
                                       r"metrics.jsonl: 13 row\(s\) logged after checkpoint epoch-0001 dropped"],
                          EPOCH1, "epoch-0002"),
    "delete-last-json": (delete_last_json, [r"last.json is missing: rebuilt from the checkpoint folders "
                                            r"\(newest intact: step-0000010"], NEWEST, None),
    "garbage-last-json": (last_json_garbage, [r"last.json is unreadable \(JSONDecodeError.*rebuilt"], NEWEST, None),
    "delete-best-json": (delete_best_json, [r"best.json is missing: rebuilt at epoch-0002, the lowest val loss up to "
                                            r"step-0000010$"], NEWEST, None),
    "delete-metrics": (delete_metrics, [r"metrics.jsonl is missing: recreated with the 22 rows the checkpoints hold$"],
                       NEWEST, None),
    "delete-metrics-and-truncate-model": (delete_metrics_and_truncate,
                                          [r"model.safetensors: \d+ bytes",
                                           r"metrics.jsonl is missing: recreated with the 18 rows"], EPOCH2,
                                          "step-0000010"),
    "half-written-metrics-line": (half_line, [r"metrics.jsonl: half-written last line 23 dropped$"], NEWEST, None),
    "rows-past-checkpoint": (rows_past_checkpoint_then_half_line,
                             [r"metrics.jsonl: half-written last line 25 dropped; 2 row\(s\) logged after checkpoint "
                              r"step-0000010 dropped \(training repeats them\)$"], NEWEST, None),
    "metrics-cut-short": (metrics_cut_short, [r"metrics.jsonl: 6 missing row\(s\) restored from the checkpoints$"],
                          NEWEST, None),
    "stale-temp-folders": (stale_temps, [r"removed 3 half-written temporary file\(s\)/folder\(s\) left by a stopped "
                                         r"run: .step-0000012.k2j4x9, .last.json.abc123.tmp, .metrics.jsonl.zz.tmp"],
                           NEWEST, None),
}


@pytest.mark.parametrize("case", list(CASES))
def test_damaged_run_resumes_to_the_uninterrupted_curve(case, runs, data, tmp_path, caplog):
    ref, stopped = runs
    damage, expected, resumed_from, set_aside = CASES[case]
    run = tmp_path / "run"
    shutil.copytree(stopped, run)
    damage(run / "checkpoints", ref)
    with caplog.at_level(logging.INFO, logger="cogaze"):
        summary = resume(run, *data, ["trainer.stop_after_steps=0"])
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and r.name.startswith("cogaze")]
    for pattern in expected:
        assert any(re.search(pattern, w) for w in warnings), (pattern, warnings)
    assert len(warnings) == len(expected), warnings  # one warning per repair, nothing else
    infos = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert f"resuming {run} from checkpoint {resumed_from}" in infos
    if set_aside:
        assert (run / "checkpoints" / "damaged" / set_aside).is_dir()
    assert summary["epochs"] == EPOCHS and summary["steps"] == EPOCHS * 4
    _assert_same_curve(ref, run)
    assert not [p.name for p in run.rglob(".*")]  # no temporary file or folder left
    last = json.loads((run / "checkpoints" / "last.json").read_text())
    assert last == {"path": f"epoch-{EPOCHS:04d}", "epoch": EPOCHS}
    best, ref_best = (json.loads((r / "checkpoints" / "best.json").read_text()) for r in (run, ref))
    assert (best["path"], best["epoch"]) == (ref_best["path"], ref_best["epoch"])
    for epoch in range(1, EPOCHS + 1):  # every checkpoint verifies and stores all rows of its epoch
        folder = run / "checkpoints" / f"epoch-{epoch:04d}"
        assert verify_checkpoint(folder) is not None
        stored = [json.loads(x) for x in (folder / "metrics.jsonl").read_text().splitlines()]
        assert stored == [r for r in _rows(run) if r["epoch"] == epoch - 1]


def test_intact_stopped_run_resumes_without_a_warning(runs, data, tmp_path, caplog):
    ref, stopped = runs
    shutil.copytree(stopped, tmp_path / "run")
    manifest = json.loads((tmp_path / "run" / "checkpoints" / "step-0000010" / "checkpoint.json").read_text())
    model = tmp_path / "run" / "checkpoints" / "step-0000010" / "model.safetensors"
    assert manifest["files"]["model.safetensors"] == {"sha256": sha256_file(model), "bytes": model.stat().st_size}
    assert (manifest["epoch"], manifest["batch"], manifest["global_step"]) == (2, 4, STOP)
    with caplog.at_level(logging.WARNING, logger="cogaze"):
        resume(tmp_path / "run", *data, ["trainer.stop_after_steps=0"])
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING and r.name.startswith("cogaze")]
    _assert_same_curve(ref, tmp_path / "run")


def test_run_stopped_between_checkpoint_and_pointers(runs, data, tmp_path, caplog):
    """Killed after epoch-0003 was renamed into place but before last.json / best.json were updated."""
    ref, _ = runs
    run = tmp_path / "run"
    shutil.copytree(ref, run)
    for name in ("last", "best"):
        (run / "checkpoints" / f"{name}.json").write_text(json.dumps({"path": "epoch-0002", "epoch": 2}))
    assert json.loads((ref / "checkpoints" / "best.json").read_text())["path"] == "epoch-0003"  # val loss falls
    with caplog.at_level(logging.WARNING, logger="cogaze"):
        point = find_resume_point(run)
    assert point.folder.name == "epoch-0003"
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "last.json pointed at epoch-0002, but epoch-0003 is newer and intact" in text
    assert "best.json pointed at epoch-0002 (the run stopped before updating it): now at epoch-0003" in text
    for name in ("last", "best"):
        assert json.loads((run / "checkpoints" / f"{name}.json").read_text()) == \
            json.loads((ref / "checkpoints" / f"{name}.json").read_text())


def test_rows_lost_with_their_checkpoint_are_reported(runs, data, tmp_path, caplog):
    """metrics.jsonl and the epoch-1 checkpoint both gone: the rest is recreated, epoch 1 reported lost."""
    ref, stopped = runs
    run = tmp_path / "run"
    shutil.copytree(stopped, run)
    (run / "metrics.jsonl").unlink()
    shutil.rmtree(run / "checkpoints" / "epoch-0001")
    with caplog.at_level(logging.WARNING, logger="cogaze"):
        resume(run, *data, ["trainer.stop_after_steps=0"])
    assert any(r.getMessage().endswith("metrics.jsonl is missing: recreated with the 13 rows the checkpoints hold "
                                       "(the rows of epoch(s) 1 are lost: their checkpoints hold none)")
               for r in caplog.records)
    later = [r for r in _rows(ref) if r["epoch"] >= 1]  # the overlapping rows: every one of epochs 2 and 3
    assert [(r["split"], r["step"], r.get("batch")) for r in _rows(run)] == \
        [(r["split"], r["step"], r.get("batch")) for r in later]
    assert all(abs(a["loss"] - b["loss"]) < 1e-6 for a, b in zip(_rows(run), later))


def test_no_intact_checkpoint_is_a_clean_error_that_changes_nothing(runs, data, tmp_path):
    _, stopped = runs
    run = tmp_path / "run"
    shutil.copytree(stopped, run)
    for folder in ("step-0000010", "epoch-0002", "epoch-0001"):
        _truncate(run / "checkpoints" / folder / "model.safetensors")
    before = sorted(p.relative_to(run).as_posix() for p in run.rglob("*"))
    with pytest.raises(ConfigError) as err:
        resume(run, *data)
    msg = str(err.value)
    assert msg.startswith(f"{run}: no intact checkpoint to resume from: ")
    for folder in ("step-0000010", "epoch-0002", "epoch-0001"):
        assert f"{folder}/model.safetensors" in msg
    assert sorted(p.relative_to(run).as_posix() for p in run.rglob("*")) == before
    with pytest.raises(ConfigError, match="no checkpoint to resume from"):
        resume(tmp_path / "empty", *data)


def test_fit_refuses_a_folder_with_checkpoints_but_no_last_json(runs, tok, data, tmp_path):
    _, stopped = runs
    shutil.copytree(stopped, tmp_path / "run")
    (tmp_path / "run" / "checkpoints" / "last.json").unlink()
    with pytest.raises(ConfigError, match="already holds a run"):
        fit(_config(tok), *data, tmp_path / "run")
    assert (tmp_path / "run" / "metrics.jsonl").stat().st_size > 0  # not restarted over the old run


def test_checkpoints_from_before_checksums_resume_with_a_warning(runs, data, tmp_path, caplog):
    ref, stopped = runs
    run = tmp_path / "run"
    shutil.copytree(stopped, run)
    for folder in (run / "checkpoints").glob("*-*"):  # what older cogaze versions wrote
        (folder / "checkpoint.json").unlink()
        (folder / "metrics.jsonl").unlink()
    with caplog.at_level(logging.WARNING, logger="cogaze"):
        resume(run, *data, ["trainer.stop_after_steps=0"])
    assert any("written before checkpoints carried checksums: loaded without verification" in r.getMessage()
               for r in caplog.records)
    _assert_same_curve(ref, run)


def test_load_pretrained_verifies_the_checkpoint(runs, tmp_path):
    ref, _ = runs
    run = tmp_path / "run"
    shutil.copytree(ref, run)
    best = json.loads((run / "checkpoints" / "best.json").read_text())["path"]
    enc = load_pretrained(run)
    assert enc is not None
    _flip_bits(run / "checkpoints" / best / "model.safetensors")
    with pytest.raises(CheckpointDamaged, match=f"{best}/model.safetensors: sha256 differs"):
        load_pretrained(run)
    (run / "checkpoints" / "best.json").write_text("{")
    with pytest.raises(ConfigError, match=r"best.json: unreadable checkpoint pointer"):
        load_pretrained(run)
    assert issubclass(CheckpointDamaged, CogazeError)  # the CLI prints it without a traceback


TINY = ["model.vision.config.image_size=64", "model.vision.config.embedding_size=8",
        "model.vision.config.hidden_sizes=[8,16,32]", "model.text.config.hidden_size=32",
        "model.text.config.intermediate_size=64", "model.dim=32", "model.num_latents=4",
        "model.perceiver_depth=1", "model.perceiver_dim_head=8", "data.batch_size=2", "trainer.max_epochs=2"]


def test_cli_resume_falls_back_and_reports_clean_errors(tmp_path, capsys):
    data = build_dataset(tmp_path / "ds")
    tok = tmp_path / "tok"
    assert main(["tokenizer", "train", str(data), "--out", str(tok), "--vocab-size", "300"]) == 0
    run = tmp_path / "run"
    assert main(["pretrain", "--config", "configs/pretrain/phantom-scratch.yaml", "--data", str(data),
                 "--run-dir", str(run), f"model.tokenizer={tok}", *TINY]) == 0
    rows = (run / "metrics.jsonl").read_text()
    _truncate(run / "checkpoints" / "epoch-0002" / "model.safetensors")
    os.remove(run / "metrics.jsonl")
    capsys.readouterr()
    assert main(["pretrain", "--resume", str(run)]) == 0
    err = capsys.readouterr().err
    assert "checkpoint epoch-0002 (last.json points there) is damaged or missing" in err and "falling back to epoch-0001" in err
    assert "metrics.jsonl is missing: recreated with the" in err and "Traceback" not in err
    assert (run / "metrics.jsonl").read_text() == rows  # epoch 2 retrained: the same rows, bit for bit
    for folder in ("epoch-0001", "epoch-0002"):
        _truncate(run / "checkpoints" / folder / "model.safetensors")
    assert main(["pretrain", "--resume", str(run)]) == 1
    err = capsys.readouterr().err
    assert f"error: {run}: no intact checkpoint to resume from: " in err and "Traceback" not in err
    assert "IMPRESSION" not in err  # refused before the dataset was read (its loader warns about one study)


def test_safetensors_carry_their_own_checksum(tmp_path):
    state = {"w": torch.randn(64, 8), "b": torch.arange(5), "h": torch.randn(3).half()}
    path = save_safetensors(state, tmp_path / "m.safetensors", metadata={"note": "x"})
    assert verify_safetensors(path) is True
    loaded = load_file(str(path))
    assert all(torch.equal(loaded[k], state[k]) for k in state)
    _flip_bits(path, offset_from_end=10)
    assert len(load_file(str(path))) == 3  # still loads: only the checksum tells
    with pytest.raises(CheckpointDamaged, match="m.safetensors: sha256 of the weights differs"):
        verify_safetensors(path)
    save_safetensors(state, path)
    _truncate(path)
    with pytest.raises(CheckpointDamaged, match="m.safetensors: "):
        verify_safetensors(path)
    save_file(state, str(tmp_path / "plain.safetensors"))  # written without a checksum: not verifiable
    assert verify_safetensors(tmp_path / "plain.safetensors") is False
    (tmp_path / "empty.safetensors").write_bytes(b"")
    with pytest.raises(CheckpointDamaged, match="not a complete safetensors file"):
        verify_safetensors(tmp_path / "empty.safetensors")


def test_report_model_is_verified_on_load(tmp_path):
    cfg = load_config(ReportGenConfig, overrides=["decoder.n_embd=32", "decoder.n_layer=1", "decoder.n_head=2",
                                                  "train.epochs=1", "train.batch_size=6", "train.seed=1"])
    images = class_images([0, 1, 2], seed=0)
    train = [ReportItem(f"t{i}", f"p{i}", CLASS_REPORTS[i], "PA", pixel_values=images[i]) for i in range(3)]
    train_report_generator(cfg, ToyEncoder(), train, [], tmp_path / "run", report_tokenizer())
    model = tmp_path / "run" / "model.safetensors"
    assert load_report_generator(tmp_path / "run", ToyEncoder(), train) is not None
    _flip_bits(model, offset_from_end=50)
    with pytest.raises(CheckpointDamaged, match="run/model.safetensors: sha256 of the weights differs"):
        load_report_generator(tmp_path / "run", ToyEncoder(), train)
