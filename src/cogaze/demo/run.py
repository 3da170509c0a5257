"""``cogaze demo``: every stage of the system on the phantom, one self-contained HTML page at the end.

Stages run in three lanes. ``setup`` (phantom, tokenizer, frozen backbone) runs first. Then the
``main`` chain (pretraining -> report generation -> structured reports) and the ``side`` stages (the
downstream checks of the pretrained encoder, gaze, the ablations, which pretrain runs of their own)
share the cores: with ``DemoConfig.workers=2`` the side stages run in a second process
(:mod:`cogaze.demo.lanes`); with 1 everything runs here, one stage after another, with the same torch
thread count (``DemoConfig.threads``, default 1 per process), so the numbers are the same. The page
lists the sections in pipeline order whatever order they finished in.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from cogaze import __version__
from cogaze.demo.config import DemoConfig, preset
from cogaze.demo.stages import DemoState, write_json
from cogaze.html.page import ReportPage
from cogaze.html.stages import StageResult, StageRunner, process_cpu_seconds

log = logging.getLogger("cogaze.demo")

Stage = tuple[str, str, tuple[str, ...]]
"""(name, lane, needs)."""

STAGES: list[Stage] = [
    ("phantom dataset", "setup", ()),
    ("tokenizer", "setup", ("phantom dataset",)),
    ("vision backbone", "setup", ()),
    ("pretraining", "main", ("tokenizer", "vision backbone")),
    ("zero-shot classification", "side", ("pretraining",)),
    ("retrieval", "side", ("pretraining",)),
    ("linear probe", "side", ("pretraining",)),
    ("segmentation", "side", ("pretraining",)),
    ("report generation", "main", ("pretraining",)),
    ("structured reports", "main", ("report generation",)),
    ("gaze prediction", "side", ("pretraining",)),
    ("ablations", "side", ("phantom dataset", "tokenizer", "vision backbone")),
]
"""The pipeline in page order."""


def stage_functions() -> dict[str, Callable[[DemoState], Any]]:
    """Stage name -> the function that runs it."""
    from cogaze.demo import ablations, gaze, reports, segmentation, stages, structured

    return {
        "phantom dataset": stages.make_phantom, "tokenizer": stages.train_tokenizer,
        "vision backbone": stages.train_vision_backbone, "pretraining": stages.pretrain_main,
        "zero-shot classification": stages.zeroshot, "retrieval": stages.retrieval,
        "linear probe": stages.linear_probe, "segmentation": segmentation.segmentation,
        "report generation": reports.report_generation, "structured reports": structured.structured_reports,
        "gaze prediction": gaze.gaze_stage, "ablations": ablations.ablations,
    }


def limit_threads(n: int) -> None:
    """``n`` threads for torch and for every native thread pool loaded so far (OpenMP, BLAS): with more
    threads than free cores, the waiting ones spin and burn the cores other work needs."""
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(n)
    threadpool_limits(limits=n)


@contextmanager
def keep_caller_threads() -> Iterator[int]:
    """Yield torch's thread count and, on exit, give torch and every native pool back what the caller had.

    Each library is restored on its own: two copies of one runtime (torch's libgomp and scikit-learn's)
    can hold different counts, and restoring by runtime name would hand torch the other copy's count.
    """
    from threadpoolctl import threadpool_limits

    threads = torch.get_num_threads()
    limiter = threadpool_limits(limits=None)  # records each loaded library's count
    try:
        yield threads
    finally:
        limiter.restore_original_limits()
        torch.set_num_threads(threads)


def _verbosity() -> int:
    from cogaze.logs import quiet

    return -1 if quiet() else 1 if logging.getLogger().getEffectiveLevel() <= logging.DEBUG else 0


def _side_order(side: list[Stage], main: set[str]) -> list[Stage]:
    """Side stages that need no main stage first (they can start at once), then the others, in page order."""
    return sorted(side, key=lambda st: any(n in main for n in st[2]))


def run_demo(out: str | Path, quick: bool = False, config: DemoConfig | None = None,
             echo: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run the demo into ``out``; writes ``report.html``, ``results.json`` and ``timings.json``.

    A failing stage is recorded in the page (and the stages that need it are marked skipped); the
    returned dict holds every stage's status, wall-clock and CPU seconds and the collected results.
    With ``config.workers`` 2 a second process is spawned: a script calling this needs the usual
    ``if __name__ == "__main__":`` guard (``cogaze demo`` has it).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = config or preset(quick)
    torch.manual_seed(cfg.seed)
    mode = "quick" if quick else "full"
    page = ReportPage("cogaze demo", f"CoGaze end to end on the phantom ({mode} mode, cogaze {__version__})")
    page.add_section("Run", "Every stage of the pipeline with its wall-clock and CPU time on this machine (the "
                     "side stages run in a second process while pretraining and report generation train, so "
                     "the total is less than the sum). A failed stage shows its error here; stages that needed "
                     "it are marked skipped.")
    page.add_stage_table()
    head = list(page.sections)
    state = DemoState(out=out, cfg=cfg, page=page)
    stages = [st for st in STAGES if not (st[0] == "ablations" and cfg.ablation_seeds <= 0)]
    number = {st[0]: i + 1 for i, st in enumerate(stages)}
    functions = stage_functions()
    runner = StageRunner(page, total=len(stages), echo=echo or (lambda m: print(m, flush=True)))
    sections: dict[str, list] = {}

    def run_here(name: str, needs: tuple[str, ...], threads: int) -> None:
        if cfg.threads:
            limit_threads(threads)
        first = len(page.sections)
        runner.run(name, functions[name], state, needs=needs, index=number[name])
        sections[name] = page.sections[first:]

    start, cpu_start = time.perf_counter(), process_cpu_seconds()
    with keep_caller_threads() as threads:  # the caller gets its thread counts back however this ends
        for name, _, needs in (st for st in stages if st[1] == "setup"):
            run_here(name, needs, cfg.threads)
        # each lane's threads from here on, whether or not a second process runs (the same numbers either way)
        lane_threads = cfg.threads or max(1, threads // 2)
        torch.set_num_threads(lane_threads)
        main = [st for st in stages if st[1] == "main"]
        side = _side_order([st for st in stages if st[1] == "side"], {st[0] for st in main})
        lane = None
        try:
            if cfg.workers > 1 and side:
                from cogaze.demo.lanes import SideJob, SideLane

                assert state.data_dir is not None
                lane = SideLane(SideJob(out=out, cfg=cfg, data_dir=state.data_dir, tokenizer_dir=state.tokenizer_dir,
                                        backbone_dir=state.backbone_dir,
                                        stages=[(n, number[n], needs) for n, _, needs in side],
                                        main_stages=[n for n, _, _ in main],
                                        done_before={n: r.status for n, r in runner.results.items()},
                                        total=len(stages), threads=cfg.threads or max(1, threads - lane_threads),
                                        verbosity=_verbosity()))
            for name, _, needs in main if lane else [st for st in stages if st[1] != "setup"]:
                run_here(name, needs, lane_threads)
                if lane is not None:
                    lane.main_stage_done(name, runner.results[name].status)
            if lane is not None:
                done, crash = lane.collect()
                for result, secs, results in done:
                    runner.record(result)
                    sections[result.name] = secs
                    state.results.update(results)
                for name, _, _ in side:
                    if name not in runner.results:
                        runner.record(StageResult(name, None, "failed", crash or "the side process ended early"))
        except BaseException:
            if lane is not None:
                lane.stop()
            raise
    total, total_cpu = time.perf_counter() - start, process_cpu_seconds() - cpu_start
    order = [st[0] for st in stages]
    page.arrange(head + [sec for name in order for sec in sections.get(name, [])], stage_order=order)
    page.run_time = (total, total_cpu)
    timings = {n: {"status": runner.results[n].status, "seconds": runner.results[n].seconds,
                   "cpu_seconds": runner.results[n].cpu_seconds, "message": runner.results[n].message}
               for n in order}
    write_json(out / "timings.json", {"mode": mode, "total_seconds": total, "total_cpu_seconds": total_cpu,
                                      "workers": cfg.workers, "stages": timings})
    write_json(out / "results.json", {k: state.results[k] for k in _result_order(state.results)})
    page.write(out / "report.html")
    return {"mode": mode, "total_seconds": total, "total_cpu_seconds": total_cpu, "stages": timings,
            "failed": [n for n in order if runner.results[n].status == "failed"],
            "results": state.results, "report": str(out / "report.html")}


_RESULT_ORDER = ("phantom", "tokenizer", "backbone", "pretrain", "zeroshot", "retrieval", "linear_probe", "segmentation",
                 "report_generation", "report_generation_examples", "structured_reports", "gaze", "grounding",
                 "grounding_summary", "ablations")


def _result_order(results: dict[str, Any]) -> list[str]:
    """results.json keys in pipeline order (known keys first), whichever process filled them."""
    return [k for k in _RESULT_ORDER if k in results] + [k for k in results if k not in _RESULT_ORDER]
