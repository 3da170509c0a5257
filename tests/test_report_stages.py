"""StageRunner: timing, progress, failures reported and dependants skipped."""

from __future__ import annotations

import pytest

from cogaze.errors import DataError
from cogaze.html.page import ReportPage
from cogaze.html.stages import StageRunner
from html_check import check_page


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_runner_times_fails_and_skips():
    clock = FakeClock()
    lines: list[str] = []
    page = ReportPage("run")
    runner = StageRunner(page, total=4, echo=lines.append, clock=clock, cpu_clock=lambda: clock.t / 2)

    def work(seconds, value):
        clock.t += seconds
        return value

    def broken():
        clock.t += 2.5
        raise DataError("mask size 512x512 does not match image 224x224", "masks/p10.png", 3)

    assert runner.run("phantom", work, 1.5, value=42) == 42
    assert runner.run("segmentation", broken) is None
    assert runner.run("evaluation", work, 9.0, 1, needs=["segmentation", "phantom"]) is None
    assert runner.run("report", work, 0.25, "ok", needs=["phantom"]) == "ok"

    r = runner.results
    assert (r["phantom"].status, r["phantom"].seconds, r["phantom"].value) == ("ok", 1.5, 42)
    assert (r["segmentation"].status, r["segmentation"].seconds) == ("failed", 2.5)
    assert r["segmentation"].message == "DataError: masks/p10.png, line 3: mask size 512x512 does not match image 224x224"
    assert r["evaluation"].status == "skipped" and r["evaluation"].seconds is None
    assert r["evaluation"].message == "skipped: needs segmentation (failed)"
    assert runner.failed == ["segmentation"] and runner.ok("report") and not runner.ok("evaluation")
    assert clock.t == 100.0 + 1.5 + 2.5 + 0.25  # the skipped stage never ran
    assert lines == [
        "[1/4] phantom ...", "[1/4] phantom done in 1.5 s (CPU 0.8 s)",
        "[2/4] segmentation ...",
        "[2/4] segmentation FAILED after 2.5 s: DataError: masks/p10.png, line 3: mask size 512x512 does not "
        "match image 224x224",
        "[3/4] evaluation: skipped: needs segmentation (failed)",
        "[4/4] report ...", "[4/4] report done in 0.2 s (CPU 0.1 s)",
    ]
    html = page.render()
    check_page(html)
    assert [s.name for s in page.stages] == ["phantom", "segmentation", "evaluation", "report"]
    assert "1 of 4 stages failed: segmentation" in html
    assert "mask size 512x512" in html


def test_runner_lets_keyboard_interrupt_through_and_rejects_reruns():
    runner = StageRunner(echo=lambda s: None)

    def interrupted():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        runner.run("slow", interrupted)
    runner.run("a", lambda: 1)
    with pytest.raises(ValueError, match="already run"):
        runner.run("a", lambda: 1)
    assert runner.run("b", lambda: 2, needs=["never"]) is None
    assert runner.results["b"].message == "skipped: needs never (not run)"
