"""Console output: one line per Lightning message and no advertisements, progress lines, --quiet / --verbose."""

import logging

import pytest

from cogaze import logs
from cogaze.cli import main
from cogaze.logs import Progress


@pytest.fixture(autouse=True)
def _reset():
    yield
    logs.configure(0)


def test_lightning_messages_once_and_no_advertisements(capfd):
    from cogaze.tasks.pretrain.config import PretrainConfig
    from cogaze.tasks.pretrain.run import build_trainer

    logs.configure(0)
    capfd.readouterr()
    build_trainer(PretrainConfig())  # Lightning logs its device lines and a "Tip" while building a Trainer
    err = capfd.readouterr().err
    lines = [x for x in err.splitlines() if x.strip()]
    gpu = [x for x in lines if "GPU available" in x]
    assert len(gpu) == 1 and gpu[0].startswith("INFO lightning.pytorch")  # our format, once
    assert not any("Tip" in x or "litlogger" in x or "litmodels" in x for x in lines), lines
    logs.configure(-1)
    build_trainer(PretrainConfig())
    assert "GPU available" not in capfd.readouterr().err  # --quiet: Lightning's INFO lines too


def test_progress_lines_count_time_and_throttle():
    lines = []
    p = Progress(4, "epoch", lines.append)
    p.step(1, "loss 0.5")
    p.step(4)
    assert lines[0].startswith("epoch 1/4: loss 0.5 (elapsed ") and ", ETA " in lines[0]
    assert lines[1].startswith("epoch 4/4 (elapsed ") and "ETA" not in lines[1]
    quiet_loop = []
    p = Progress(100, "map", quiet_loop.append, every_s=3600)
    for i in range(1, 101):
        p.step(i)
    assert quiet_loop == [quiet_loop[-1]] and quiet_loop[0].startswith("map 100/100")  # only the last line
    resumed = []
    Progress(6, "epoch", resumed.append, offset=4).step(1)
    assert resumed[0].startswith("epoch 5/10")


def test_quiet_and_verbose_options(tmp_path, capfd):
    from cogaze.data.phantom.generate import generate_phantom

    data = tmp_path / "ds"
    generate_phantom(data, n_patients=4, seed=0, image_size=64, progress=False)
    capfd.readouterr()
    assert main(["data", "prepare", str(data), "--out", str(tmp_path / "s1"), "--size", "32", "--workers", "1"]) == 0
    out = capfd.readouterr()
    assert "prepare:" in out.err and "image store" in out.out  # progress bar on stderr, result on stdout
    assert main(["data", "prepare", str(data), "--out", str(tmp_path / "s2"), "--size", "32", "--workers", "1",
                 "--quiet"]) == 0
    out = capfd.readouterr()
    assert out.err == "" and "image store" in out.out  # results only
    assert logging.getLogger().level == logging.WARNING
    assert main(["data", "prepare", str(data), "--out", str(tmp_path / "s3"), "--size", "32", "--workers", "1",
                 "-v"]) == 0
    assert logging.getLogger().level == logging.DEBUG
    assert main(["data", "prepare", str(data), "--out", str(tmp_path / "s4"), "-q", "-v"]) == 2
    assert "not both" in capfd.readouterr().err
    assert main(["demo", "--help"]) == 0 and "--quiet" in capfd.readouterr().out
