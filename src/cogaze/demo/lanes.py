"""A second process for the demo's side stages: they run while the main process trains.

The demo's stages form two chains once the frozen backbone exists (see ``cogaze.demo.run``): the main
chain (pretraining -> report generation -> structured reports) and side stages that do not feed it
(the ablations, which pretrain their own runs, and the downstream checks of the pretrained encoder).
On a 2-core machine each chain gets one core: :class:`SideLane` starts a spawned process that rebuilds
the demo state from the folders the setup stages wrote, runs the side stages in the order given, waits
(through a queue) for a main stage it needs, and sends back each stage's result, page sections and
results. Every stage seeds its own randomness and both processes use the same number of torch threads,
so a stage computes the same numbers in either process (``DemoConfig.workers=1`` runs everything in
one process, for comparison).
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import queue
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("cogaze.demo")
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


@dataclass
class SideJob:
    """What the side process needs: the demo folder and settings, the setup stages' outputs, its stages."""

    out: Path
    cfg: Any
    data_dir: Path
    tokenizer_dir: Path | None
    backbone_dir: Path | None
    stages: list[tuple[str, int, tuple[str, ...]]]
    """(name, number in the pipeline, needs) in the order to run them."""
    main_stages: list[str]
    """Stages of the main process the side stages may wait for."""
    done_before: dict[str, str]
    """Status of every stage that ended before the side process started (the setup stages)."""
    total: int
    threads: int
    verbosity: int


def _child(job: SideJob, inbox: Any, outbox: Any) -> None:
    """Entry point of the side process (spawned: a fresh interpreter, no inherited torch threads)."""

    from cogaze.demo.run import limit_threads
    from cogaze.logs import configure

    configure(job.verbosity)
    limit_threads(job.threads)
    try:
        from cogaze.data.dataset import load_dataset
        from cogaze.demo.run import stage_functions
        from cogaze.demo.stages import DemoState
        from cogaze.html.page import ReportPage
        from cogaze.html.stages import StageRunner

        page = ReportPage("side")
        s = DemoState(out=job.out, cfg=job.cfg, page=page, data_dir=job.data_dir,
                      records=load_dataset(job.data_dir).records, tokenizer_dir=job.tokenizer_dir,
                      backbone_dir=job.backbone_dir)
        functions = stage_functions()
        main_status: dict[str, str] = dict(job.done_before)
        runner = StageRunner(total=job.total, echo=lambda m: print(m, flush=True))
        for name, index, needs in job.stages:
            for need in needs:  # wait for the main stages this one needs
                while need in job.main_stages and need not in main_status:
                    done, status = inbox.get()
                    main_status[done] = status
            runner.ok_before = {n for n, st in main_status.items() if st == "ok"}
            if "pretraining" in needs and s.encoder is None and main_status.get("pretraining") == "ok":
                from cogaze.tasks.pretrain.pretrained import load_pretrained

                s.run_dir = s.out / "pretrain"
                s.encoder = load_pretrained(s.run_dir)
            first = len(page.sections)
            before = set(s.results)
            limit_threads(job.threads)  # pools of libraries loaded by earlier stages too
            runner.run(name, functions[name], s, needs=needs, index=index)
            result = runner.results[name]
            result.value = None  # stage return values stay in this process
            outbox.put(("stage", result, page.sections[first:], {k: s.results[k] for k in set(s.results) - before}))
    except BaseException as err:  # noqa: BLE001 - reported to the main process, which marks the rest failed
        outbox.put(("crash", f"{type(err).__name__}: {err}", traceback.format_exc()))
    finally:
        outbox.put(("end",))


class SideLane:
    """The side process seen from the main one: start it, tell it how main stages ended, collect results."""

    def __init__(self, job: SideJob) -> None:
        ctx = mp.get_context("spawn")
        self.job = job
        self.inbox, self.outbox = ctx.Queue(), ctx.Queue()
        self.process = ctx.Process(target=_child, args=(job, self.inbox, self.outbox), name="cogaze-demo-side",
                                   daemon=True)
        # The child's native thread pools (OpenMP, OpenBLAS, MKL) are sized from the environment when its
        # libraries load: give it the lane's count from the start (spare threads spin while they wait).
        saved = {k: os.environ.get(k) for k in THREAD_VARIABLES}
        os.environ.update({k: str(job.threads) for k in THREAD_VARIABLES})
        try:
            self.process.start()
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        self.start = time.perf_counter()

    def main_stage_done(self, name: str, status: str) -> None:
        """Tell the side process that main stage ``name`` ended with ``status``."""
        if name in self.job.main_stages:
            self.inbox.put((name, status))

    def collect(self) -> tuple[list[tuple[Any, list, dict]], str | None]:
        """Wait for the side process to finish; returns (per stage: result, page sections, results) and
        the crash message (None when it ended normally)."""
        done: list[tuple[Any, list, dict]] = []
        crash = None
        while True:
            try:
                msg = self.outbox.get(timeout=5.0)
            except queue.Empty:
                if not self.process.is_alive():
                    crash = crash or f"the side process died (exit code {self.process.exitcode})"
                    break
                continue
            if msg[0] == "stage":
                done.append(msg[1:])
            elif msg[0] == "crash":
                crash = msg[1]
                log.debug("side process traceback:\n%s", msg[2])
            else:
                break
        self.process.join(timeout=30)
        return done, crash

    def stop(self) -> None:
        """End the side process now (the main process is being interrupted)."""
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(timeout=10)
