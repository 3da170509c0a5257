"""``cogaze demo``: every stage of the system on the phantom, one self-contained HTML page at the end."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from cogaze import __version__
from cogaze.demo.config import DemoConfig, preset
from cogaze.demo.stages import DemoState, write_json
from cogaze.html.page import ReportPage
from cogaze.html.stages import StageRunner

log = logging.getLogger("cogaze.demo")


def _stages() -> list[tuple[str, Callable[[DemoState], Any], tuple[str, ...]]]:
    from cogaze.demo import ablations, gaze, reports, segmentation, stages, structured

    return [
        ("phantom dataset", stages.make_phantom, ()),
        ("tokenizer", stages.train_tokenizer, ("phantom dataset",)),
        ("vision backbone", stages.train_vision_backbone, ()),
        ("pretraining", stages.pretrain_main, ("tokenizer", "vision backbone")),
        ("zero-shot classification", stages.zeroshot, ("pretraining",)),
        ("retrieval", stages.retrieval, ("pretraining",)),
        ("linear probe", stages.linear_probe, ("pretraining",)),
        ("segmentation", segmentation.segmentation, ("pretraining",)),
        ("report generation", reports.report_generation, ("pretraining",)),
        ("structured reports", structured.structured_reports, ("report generation",)),
        ("gaze prediction", gaze.gaze_stage, ("pretraining",)),
        ("ablations", ablations.ablations, ("pretraining",)),
    ]


def run_demo(out: str | Path, quick: bool = False, config: DemoConfig | None = None,
             echo: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run the demo into ``out``; writes ``report.html``, ``results.json`` and ``timings.json``.

    A failing stage is recorded in the page (and the stages that need it are marked skipped); the
    returned dict holds every stage's status and seconds and the collected results.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = config or preset(quick)
    torch.manual_seed(cfg.seed)
    mode = "quick" if quick else "full"
    page = ReportPage("cogaze demo", f"CoGaze end to end on the phantom ({mode} mode, cogaze {__version__})")
    page.add_section("Run", "Every stage of the pipeline with its wall-clock time on this machine. A failed "
                     "stage shows its error here; stages that needed it are marked skipped.")
    page.add_stage_table()
    state = DemoState(out=out, cfg=cfg, page=page)
    stages = [s for s in _stages() if not (s[0] == "ablations" and cfg.ablation_seeds <= 0)]
    runner = StageRunner(page, total=len(stages), echo=echo or (lambda m: print(m, flush=True)))
    start = time.perf_counter()
    for name, fn, needs in stages:
        runner.run(name, fn, state, needs=needs)
    total = time.perf_counter() - start
    timings = {n: {"status": r.status, "seconds": r.seconds, "message": r.message} for n, r in runner.results.items()}
    write_json(out / "timings.json", {"mode": mode, "total_seconds": total, "stages": timings})
    write_json(out / "results.json", state.results)
    page.write(out / "report.html")
    return {"mode": mode, "total_seconds": total, "stages": timings, "failed": runner.failed,
            "results": state.results, "report": str(out / "report.html")}
