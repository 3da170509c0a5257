"""Run pipeline stages one after another: time each, show progress, keep going past a failure.

A stage that raises is recorded as failed with its error (and the traceback logged at debug level);
stages that need it are skipped with the reason, never left out. Results go to a
:class:`~cogaze.html.page.ReportPage` stage table. ``KeyboardInterrupt`` is not caught.
"""

from __future__ import annotations

import logging
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


class StageRunner:
    """Runs named stages, printing ``[i/n] name ...`` progress through ``echo`` (default: the log).

    ``page`` (a ReportPage) receives every result via ``add_stage_status`` as it happens; ``clock``
    is injectable for tests.
    """

    def __init__(self, page: Any = None, total: int | None = None, echo: Callable[[str], None] | None = None,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.page = page
        self.total = total
        self.echo = echo or log.info
        self.clock = clock
        self.results: dict[str, StageResult] = {}

    def ok(self, name: str) -> bool:
        """True when stage ``name`` ran and succeeded."""
        res = self.results.get(name)
        return res is not None and res.status == "ok"

    def _record(self, result: StageResult) -> None:
        self.results[result.name] = result
        if self.page is not None:
            self.page.add_stage_status(result.name, result.seconds, result.status, result.message)

    def run(self, name: str, fn: Callable[..., Any], *args: Any, needs: Sequence[str] = (), **kwargs: Any) -> Any:
        """Run ``fn(*args, **kwargs)`` as stage ``name``; returns its value, or None if it failed or
        was skipped because a stage in ``needs`` did not succeed."""
        if name in self.results:
            raise ValueError(f"stage {name!r} was already run")
        index = len(self.results) + 1
        prefix = f"[{index}/{self.total}]" if self.total else f"[{index}]"
        missing = [n for n in needs if not self.ok(n)]
        if missing:
            why = ", ".join(f"{n} ({self.results[n].status if n in self.results else 'not run'})" for n in missing)
            message = f"skipped: needs {why}"
            self.echo(f"{prefix} {name}: {message}")
            self._record(StageResult(name, None, "skipped", message))
            return None
        self.echo(f"{prefix} {name} ...")
        start = self.clock()
        try:
            value = fn(*args, **kwargs)
        except Exception as err:  # a failing stage is reported, and the run goes on
            seconds = self.clock() - start
            message = stage_message("failed", err)
            log.debug("stage %s failed", name, exc_info=True)
            self.echo(f"{prefix} {name} FAILED after {seconds:.1f} s: {message}")
            self._record(StageResult(name, seconds, "failed", message))
            return None
        seconds = self.clock() - start
        self.echo(f"{prefix} {name} done in {seconds:.1f} s")
        self._record(StageResult(name, seconds, "ok", "", value))
        return value

    @property
    def failed(self) -> list[str]:
        """Names of the stages that failed, in run order."""
        return [r.name for r in self.results.values() if r.status == "failed"]
