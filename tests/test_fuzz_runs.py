"""Fuzz suite, run side: settings and inputs that used to train nothing, report results of an untrained
model or end in a traceback (pretrain, finetune, retrieve, zeroshot, explain, train-report, generate,
evaluate). One tiny pretraining run (itself a case: broken training images under --on-error skip) serves
every verb. Each case asserts the exit code and the message (tests/fuzz_support.py)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from PIL import Image

from cogaze.cli import main
from fuzz_support import (
    copy_dataset,
    expect,
    fuzz_kind,
    images_of,
    png_header,
    run_cli,
)

REPO = Path(__file__).resolve().parents[1]
SCRATCH = str(REPO / "configs" / "pretrain" / "phantom-scratch.yaml")
REPORT = str(REPO / "configs" / "report" / "phantom-tiny.yaml")
TINY = [
    "model.vision.config.image_size=64", "model.vision.config.embedding_size=8",
    "model.vision.config.hidden_sizes=[8,16,32]", "model.text.config.hidden_size=32",
    "model.text.config.intermediate_size=64", "model.dim=32", "model.num_latents=4",
    "model.perceiver_depth=1", "model.perceiver_dim_head=8", "data.batch_size=8", "trainer.max_epochs=1",
]


@pytest.fixture(scope="module")
def skip_run(fuzz_phantom, tmp_path_factory):
    """A tiny pretraining run on a copy whose train split holds a 0-byte image and a decompression bomb,
    under --on-error skip: (dataset, tokenizer, run folder, output)."""
    root = tmp_path_factory.mktemp("fuzz_runs")
    data = copy_dataset(fuzz_phantom, root / "ds")
    train = images_of(data, "train")
    train[0].write_bytes(b"")
    png_header(train[1], 20000, 20000)
    tok = root / "tok"
    assert main(["tokenizer", "train", str(data), "--out", str(tok), "--vocab-size", "300"]) == 0
    run = root / "run"
    import io
    import logging

    stream = io.StringIO()  # capsys is function-scoped: this module-scoped run's log goes to a handler
    handler = logging.StreamHandler(stream)
    logging.getLogger().addHandler(handler)
    try:
        code = main(["pretrain", "--config", SCRATCH, "--data", str(data), "--run-dir", str(run),
                     f"model.tokenizer={tok}", "--on-error", "skip", *TINY])
    finally:
        logging.getLogger().removeHandler(handler)
    return data, tok, run, code, stream.getvalue(), train[:2]


def test_pretrain_skips_broken_images(skip_run, record_property):
    """`pretrain --on-error skip` trains on, leaving the 0-byte image and the bomb out with a count."""
    fuzz_kind(record_property, "skip")
    data, _, run, code, log, broken = skip_run
    assert code == 0, log[-3000:]
    assert (run / "checkpoints" / "last.json").is_file()
    assert f"{broken[0].name}: image {broken[0].stem}: image file is empty (0 bytes)" in log
    assert f"{broken[1].name}: image {broken[1].stem}: image too large to decode safely" in log
    assert "2 item(s) skipped while loading and checking" in log


def _pretrain(tmp: Path, data: Path, tok: Path, *extra: str) -> list[str]:
    return ["pretrain", "--config", SCRATCH, "--data", str(data), "--run-dir", str(tmp / "new"),
            f"model.tokenizer={tok}", *TINY, *extra]


PRETRAIN_CASES = [
    ("batch larger than the train split", ["data.batch_size=1000"], 1,
     r"no training step would run: \d+ training image\(s\), data\.batch_size=1000 .* give 0 full batches"),
    ("limit_train_batches rounding to zero", ["trainer.limit_train_batches=0.01"], 1,
     r"no training step would run: .*trainer\.limit_train_batches=0\.01"),
    ("data.batch_size=0", ["data.batch_size=0"], 1,
     r"override 'data\.batch_size=0': config key 'data\.batch_size' = 0 is out of range: allowed >= 1"),
    ("optim.lr=nan", ["optim.lr=nan"], 1, r"config key 'optim\.lr' = nan is out of range: allowed > 0 and <= 10"),
    ("optim.lr=-1", ["optim.lr=-1"], 1, r"config key 'optim\.lr' = -1\.0 is out of range"),
    ("trainer.max_epochs=0", ["trainer.max_epochs=0"], 1,
     r"config key 'trainer\.max_epochs' = 0 is out of range: allowed >= 1"),
    ("trainer.accumulate_grad_batches=0", ["trainer.accumulate_grad_batches=0"], 1,
     r"config key 'trainer\.accumulate_grad_batches' = 0 is out of range"),
    ("trainer.seed=-1", ["trainer.seed=-1"], 1, r"config key 'trainer\.seed' = -1 is out of range: allowed >= 0"),
    ("model.loss.gaze_rho=2", ["model.loss.gaze_rho=2"], 1,
     r"config key 'model\.loss\.gaze_rho' = 2\.0 is out of range: allowed > 0 and <= 1"),
]


@pytest.mark.parametrize(("name", "extra", "code", "pattern"), PRETRAIN_CASES, ids=[c[0] for c in PRETRAIN_CASES])
def test_pretrain_refuses(name, extra, code, pattern, skip_run, tmp_path, capsys, record_property):
    fuzz_kind(record_property, "error")
    data, tok, *_ = skip_run
    expect(capsys, _pretrain(tmp_path, data, tok, *extra), code, pattern)
    assert not (tmp_path / "new" / "metrics.jsonl").exists()  # nothing presented as a result


def test_pretrain_on_an_empty_metadata_csv(skip_run, tmp_path, capsys, record_property):
    fuzz_kind(record_property, "error")
    data, tok, *_ = skip_run
    empty = copy_dataset(data, tmp_path / "empty")
    meta = empty / "mimic-cxr-2.0.0-metadata.csv"
    meta.write_text(meta.read_text().splitlines()[0] + "\n")
    expect(capsys, _pretrain(tmp_path, empty, tok), 1, r"no training step would run: 0 training image\(s\)")


def _task_argv(kind: str, run: Path, data: Path, tmp: Path) -> list[str]:
    if kind == "finetune":
        return ["finetune", "--task", "classification", "--checkpoint", run, "--data", data, "--seeds", "1",
                "--fractions", "100", "--out", tmp / "f.json", "-q"]
    if kind == "retrieve":
        return ["retrieve", "--checkpoint", run, "--data", data, "--split", "train", "--per-class", "1",
                "--classes", "Edema,Cardiomegaly", "--out", tmp / "r.json", "-q"]
    if kind == "zeroshot":
        return ["zeroshot", "--checkpoint", run, "--data", data, "--out", tmp / "z.json", "-q"]
    raise ValueError(kind)


TASK_CASES = [
    ("finetune epochs=0", "finetune", ["epochs=0"], 1,
     r"config key 'epochs' = 0 is out of range: allowed >= 1"),
    ("finetune --fractions 0", "finetune", ["--fractions", "0"], 1,
     r"config key 'fractions' = \[0\]: item 0 \(0\) is out of range: allowed >= 1 and <= 100"),
    ("finetune --fractions 150", "finetune", ["--fractions", "150"], 1, r"config key 'fractions' = \[150\]"),
    ("finetune --seeds 0", "finetune", ["--seeds", "0"], 2, r"Invalid value for '--seeds': 0 is not in the range"),
    ("finetune lr=nan", "finetune", ["lr=nan"], 1, r"config key 'lr' = nan is out of range"),
    ("finetune threshold=1.5", "finetune", ["threshold=1.5"], 1, r"config key 'threshold' = 1\.5 is out of range"),
    ("retrieve ks=[0,-1]", "retrieve", ["ks=[0,-1]"], 1,
     r"config key 'ks' = \[0, -1\]: item 0 \(0\) is out of range: allowed >= 1"),
    ("retrieve ks=[]", "retrieve", ["ks=[]"], 1, r"config key 'ks' = \[\] needs at least 1 item"),
    ("retrieve --per-class 0", "retrieve", ["--per-class", "0"], 2,
     r"Invalid value for '--per-class': 0 is not in the range x>=1"),
    ("retrieve --seed -1", "retrieve", ["--seed", "-1"], 2, r"Invalid value for '--seed'"),
    ("retrieve batch_size=0", "retrieve", ["batch_size=0"], 1, r"config key 'batch_size' = 0 is out of range"),
    ("zeroshot batch_size=-3", "zeroshot", ["batch_size=-3"], 1,
     r"config key 'batch_size' = -3 is out of range: allowed >= 1"),
    ("zeroshot logit_scale=nan", "zeroshot", ["logit_scale=nan"], 1, r"config key 'logit_scale' = nan"),
]


@pytest.mark.parametrize(("name", "verb", "extra", "code", "pattern"), TASK_CASES, ids=[c[0] for c in TASK_CASES])
def test_task_settings(name, verb, extra, code, pattern, skip_run, tmp_path, capsys, record_property):
    fuzz_kind(record_property, "error")
    data, _, run, *_ = skip_run
    expect(capsys, [*_task_argv(verb, run, data, tmp_path), *extra], code, pattern)
    assert not list(tmp_path.glob("*.json"))  # no results written


def test_zeroshot_on_a_decompression_bomb(skip_run, tmp_path, capsys, record_property):
    fuzz_kind(record_property, "error")
    data, _, run, *_ = skip_run
    copy = copy_dataset(data, tmp_path / "ds")
    png_header(images_of(copy, "test")[0], 20000, 20000)
    expect(capsys, _task_argv("zeroshot", run, copy, tmp_path), 1,
           r"\.jpg: image too large to decode safely: Image size \(400000000 pixels\)")


def _explain(run: Path, image: Path, tmp: Path, *extra: str) -> list[str]:
    return ["explain", "--checkpoint", run, "--image", image, "--out", tmp / "ex", *extra]


EXPLAIN_CASES = [
    ("explain --fixations 0", "ok", ["--fixations", "0"], 2, r"Invalid value for '--fixations': 0 is not in the range"),
    ("explain on a 4000x10 image", "wide", [], 1,
     r"wide\.png: image is only 4000x10 pixels \(shorter side below the minimum of 16\)"),
    ("explain on a decompression bomb", "bomb", [], 1, r"bomb\.png: image too large to decode safely"),
    ("explain on a 0-byte file", "empty", [], 1, r"empty\.png: corrupt or unreadable image"),
]


@pytest.mark.parametrize(("name", "make", "extra", "code", "pattern"), EXPLAIN_CASES, ids=[c[0] for c in EXPLAIN_CASES])
def test_explain_inputs(name, make, extra, code, pattern, skip_run, tmp_path, capsys, record_property):
    fuzz_kind(record_property, "error")
    data, _, run, *_ = skip_run
    image = {"ok": lambda p: Image.new("L", (64, 64), 90).save(p), "wide": lambda p: Image.new("L", (4000, 10)).save(p),
             "bomb": lambda p: png_header(p, 20000, 20000), "empty": lambda p: p.write_bytes(b"")}
    path = tmp_path / f"{make}.png"
    image[make](path)
    expect(capsys, _explain(run, path, tmp_path, *extra), code, pattern)
    assert not (tmp_path / "ex" / "explanation.json").exists()


REPORT_CASES = [
    ("train-report train.epochs=0", ["train.epochs=0"], 1, r"config key 'train\.epochs' = 0 is out of range"),
    ("train-report train.batch_size=0", ["train.batch_size=0"], 1, r"config key 'train\.batch_size' = 0"),
    ("train-report decoder.num_beams=0", ["decoder.num_beams=0"], 1, r"config key 'decoder\.num_beams' = 0"),
]


@pytest.mark.parametrize(("name", "extra", "code", "pattern"), REPORT_CASES, ids=[c[0] for c in REPORT_CASES])
def test_train_report_settings(name, extra, code, pattern, skip_run, tmp_path, capsys, record_property):
    fuzz_kind(record_property, "error")
    data, _, run, *_ = skip_run
    expect(capsys, ["train-report", "--checkpoint", run, "--data", data, "--config", REPORT, "--run-dir",
                    tmp_path / "rep", "-q", *extra], code, pattern)
    assert not (tmp_path / "rep").exists()


def _reports_csv(path: Path, long_row: bool = False) -> Path:
    rows = [("a", "Heart size is normal. No effusion.", "Heart size is normal. No pleural effusion."),
            ("b", "Mild edema.", "Mild pulmonary edema." + (" word" * 10_000 if long_row else "")),
            ("c", "Small left effusion.", "Left pleural effusion, small.")]
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["dicom_id", "reference_report", "generated_report"])
        writer.writerows(rows)
    return path


def test_evaluate_negative_bootstrap(tmp_path, capsys, record_property):
    fuzz_kind(record_property, "error")
    expect(capsys, ["evaluate", "reports", _reports_csv(tmp_path / "r.csv"), "--bootstrap", "-5"], 2,
           r"Invalid value for '--bootstrap': -5 is not in the range x>=0")


def test_generate_zero_beams(skip_run, tmp_path, capsys, record_property):
    fuzz_kind(record_property, "error")
    data, _, run, *_ = skip_run
    expect(capsys, ["generate", "--report-run", tmp_path, "--checkpoint", run, "--data", data, "--num-beams", "0"],
           2, r"Invalid value for '--num-beams': 0 is not in the range x>=1")


def test_evaluate_a_10000_word_report(tmp_path, capsys, record_property):
    """METEOR on a 10,000-word row: the row is named (truncation policy) and every other metric comes back."""
    import json

    pytest.importorskip("pycocoevalcap")
    fuzz_kind(record_property, "flag")
    out = tmp_path / "r.json"
    text = expect(capsys, ["evaluate", "reports", _reports_csv(tmp_path / "r.csv", long_row=True), "--bootstrap",
                           "0", "--json", out, "-q"], 0,
                  r"METEOR scored the first 1000 words of 1 long row\(s\): b")
    res = json.loads(out.read_text())
    assert res["METEOR_truncated"] == ["b"] and 0 <= res["METEOR"] <= 1, text
    assert all(res[k] is not None for k in ("BLEU_4", "ROUGE_L", "CIDEr", "CE_14_micro_F1"))
    code, text = run_cli(capsys, ["evaluate", "reports", tmp_path / "r.csv", "--bootstrap", "0",
                                  "--meteor-long-text", "error"])
    assert code == 1 and "METEOR: 1 row(s) have more than 1000 words (b)" in text
