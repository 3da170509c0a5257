"""Run pipeline stages one after another: time each, show progress, keep going past a failure.

A stage that raises is recorded as failed with its error (and the traceback logged at debug level);
stages that need it are skipped with the reason, never left out. Results go to a
:class:`~cogaze.html.page.ReportPage` stage table. ``KeyboardInterrupt`` is not caught.
"""

from __future__ import annotations

import logging
import resource
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from cogaze.html.blocks import stage_message

log = logging.getLogger("cogaze.stages")


@dataclass
class StageResult:
    """Outcome of one stage: status "ok", "failed" or "skipped"; ``value`` is what the stage returned."""

    name: str
    seconds: float | None
    status: str
    message: str
    value: Any = None
    cpu_seconds: float | None = None


def process_cpu_seconds() -> float:
    """User + system CPU time of this process (all threads) and of its finished child processes."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class StageRunner:
    """Runs named stages, printing ``[i/n] name ...`` progress through ``echo`` (default: the log).

    ``page`` (a ReportPage) receives every result via ``add_stage_status`` as it happens; ``clock``
    and ``cpu_clock`` (process CPU seconds) are injectable for tests. ``ok_before`` marks stages that
    succeeded elsewhere (e.g. in another process) as available to ``needs``.
    """

    def __init__(self, page: Any = None, total: int | None = None, echo: Callable[[str], None] | None = None,
                 clock: Callable[[], float] = time.perf_counter,
                 cpu_clock: Callable[[], float] = process_cpu_seconds, ok_before: Sequence[str] = ()) -> None:
        self.page = page
        self.total = total
        self.echo = echo or log.info
        self.clock = clock
        self.cpu_clock = cpu_clock
        self.results: dict[str, StageResult] = {}
        self.ok_before = set(ok_before)

    def ok(self, name: str) -> bool:
        """True when stage ``name`` ran and succeeded."""
        if name in self.ok_before:
            return True
        res = self.results.get(name)
        return res is not None and res.status == "ok"

    def record(self, result: StageResult) -> None:
        """Add the result of a stage that ran elsewhere (another process) to the results and the page."""
        self._record(result)

    def _record(self, result: StageResult) -> None:
        self.results[result.name] = result
        if self.page is not None:
            self.page.add_stage_status(result.name, result.seconds, result.status, result.message, result.cpu_seconds)

    def run(self, name: str, fn: Callable[..., Any], *args: Any, needs: Sequence[str] = (), index: int | None = None,
            **kwargs: Any) -> Any:
        """Run ``fn(*args, **kwargs)`` as stage ``name``; returns its value, or None if it failed or
        was skipped because a stage in ``needs`` did not succeed. ``index``: the stage's number in the
        ``[i/n]`` prefix (default: how many stages ran before it, plus one)."""
        if name in self.results:
            raise ValueError(f"stage {name!r} was already run")
        index = index or len(self.results) + 1
        prefix = f"[{index}/{self.total}]" if self.total else f"[{index}]"
        missing = [n for n in needs if not self.ok(n)]
        if missing:
            why = ", ".join(f"{n} ({self.results[n].status if n in self.results else 'not run'})" for n in missing)
            message = f"skipped: needs {why}"
            self.echo(f"{prefix} {name}: {message}")
            self._record(StageResult(name, None, "skipped", message))
            return None
        self.echo(f"{prefix} {name} ...")
        start, cpu_start = self.clock(), self.cpu_clock()
        try:
            value = fn(*args, **kwargs)
        except Exception as err:  # a failing stage is reported, and the run goes on
            seconds, cpu = self.clock() - start, self.cpu_clock() - cpu_start
            message = stage_message("failed", err)
            log.debug("stage %s failed", name, exc_info=True)
            self.echo(f"{prefix} {name} FAILED after {seconds:.1f} s: {message}")
            self._record(StageResult(name, seconds, "failed", message, cpu_seconds=cpu))
            return None
        seconds, cpu = self.clock() - start, self.cpu_clock() - cpu_start
        self.echo(f"{prefix} {name} done in {seconds:.1f} s (CPU {cpu:.1f} s)")
        self._record(StageResult(name, seconds, "ok", "", value, cpu_seconds=cpu))
        return value

    @property
    def failed(self) -> list[str]:
        """Names of the stages that failed, in run order."""
        return [r.name for r in self.results.values() if r.status == "failed"]
