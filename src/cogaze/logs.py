"""Console output: log set-up, ``--quiet`` / ``--verbose``, progress lines with an ETA, Lightning tamed.

* :func:`configure` installs one stderr handler on the root logger (``LEVEL name: message``) at WARNING
  (quiet), INFO (default) or DEBUG (verbose); :func:`show_progress` tells progress bars whether to draw.
* :class:`Progress` prints ``what i/n: detail (elapsed, ETA)`` lines, for loops that run long.
* :func:`tame_lightning` (called where a Trainer is built): Lightning's package adds its own console
  handler to the ``lightning`` logger while also propagating to the root logger, so every message came
  out twice; it is removed when the application has configured logging, and Lightning's advertisements
  ("Tip: ... try installing litlogger / litmodels") are filtered out.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable

import click

_STATE = {"quiet": False}
_FORMAT = "%(levelname)s %(name)s: %(message)s"
_NOISE = ("💡 Tip:", "was configured so 100% of the batches")


class _LightningNoise(logging.Filter):
    """Drops Lightning's advertisements and its no-op configuration echoes."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("lightning"):
            return True
        message = record.getMessage()
        return not any(n in message for n in _NOISE)


class _Stderr(logging.StreamHandler):
    """A stream handler writing to whatever ``sys.stderr`` is now (it may be swapped, e.g. under pytest)."""

    @property  # type: ignore[override]
    def stream(self):  # noqa: ANN201
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # noqa: ANN001 - set by StreamHandler.__init__; ignored
        pass


def _filtered(handler: logging.Handler) -> None:
    if not any(isinstance(f, _LightningNoise) for f in handler.filters):
        handler.addFilter(_LightningNoise())


def configure(verbosity: int = 0) -> None:
    """Root logging for the command line: -1 quiet (warnings and errors), 0 info, 1 debug."""
    level = logging.WARNING if verbosity < 0 else logging.DEBUG if verbosity > 0 else logging.INFO
    root = logging.getLogger()
    handler = next((h for h in root.handlers if getattr(h, "_cogaze", False)), None)
    if handler is None:
        handler = _Stderr()
        handler.setFormatter(logging.Formatter(_FORMAT))
        handler._cogaze = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    _filtered(handler)
    root.setLevel(level)
    _STATE["quiet"] = verbosity < 0
    if "lightning" in sys.modules:
        tame_lightning()


def quiet() -> bool:
    """Whether ``--quiet`` is in force."""
    return _STATE["quiet"]


def show_progress(requested: bool = True) -> bool:
    """Whether a progress bar that its caller wants drawn should be (not under ``--quiet``)."""
    return requested and not _STATE["quiet"]


def tame_lightning() -> None:
    """One line per Lightning message, no advertisements (call after ``lightning`` is imported)."""
    lightning = logging.getLogger("lightning")
    root = logging.getLogger()
    if root.handlers:
        for h in list(lightning.handlers):  # lightning/__init__.py's console handler: a second copy of each line
            if isinstance(h, logging.StreamHandler):
                lightning.removeHandler(h)
    for h in [*root.handlers, *lightning.handlers]:
        _filtered(h)
    level = logging.WARNING if _STATE["quiet"] else logging.INFO  # lightning.pytorch sets its own INFO level
    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(level)


_LOCAL_BARS = ("Loading weights", "Writing model shards")


def quiet_local_model_bars() -> None:
    """Hide transformers' bars for loading / saving a local model (instant here, one per model built);
    download bars stay. Needs ``transformers.utils.logging.set_tqdm_hook`` (transformers 5), else no-op."""
    from transformers.utils import logging as hf_logging

    if not hasattr(hf_logging, "set_tqdm_hook"):
        return

    def hook(factory, args, kwargs):  # noqa: ANN001, ANN202
        if kwargs.get("desc") in _LOCAL_BARS:
            kwargs = {**kwargs, "disable": True}
        return factory(*args, **kwargs)

    hf_logging.set_tqdm_hook(hook)


def _duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, sec = divmod(int(round(seconds)), 60)
    return f"{minutes}m{sec:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


class Progress:
    """``what i/n: detail (elapsed 12 s, ETA 40 s)`` lines through ``echo`` (default: the ``cogaze`` log).

    ``every_s`` throttles the lines of fast loops (the last step always prints); ``offset`` steps were done
    before (a resumed run): they are counted in the shown position, not in the ETA.
    """

    def __init__(self, total: int, what: str, echo: Callable[[str], None] | None = None, every_s: float = 0.0,
                 offset: int = 0):
        self.total, self.what, self.every_s, self.offset = max(int(total), 1), what, every_s, offset
        self.echo = echo or logging.getLogger("cogaze").info
        self.start = time.perf_counter()
        self._last = self.start if every_s else -float("inf")  # throttled: the first line after every_s

    def line(self, done: int, detail: str = "") -> str:
        elapsed = time.perf_counter() - self.start
        eta = elapsed / done * (self.total - done) if done else float("nan")
        rest = f"elapsed {_duration(elapsed)}" + (f", ETA {_duration(eta)}" if done < self.total and done else "")
        shown = f"{self.offset + done}/{self.offset + self.total}"
        return f"{self.what} {shown}" + (f": {detail}" if detail else "") + f" ({rest})"

    def step(self, done: int, detail: str = "") -> None:
        """Report that ``done`` of ``total`` steps are finished."""
        now = time.perf_counter()
        if done < self.total and now - self._last < self.every_s:
            return
        self._last = now
        self.echo(self.line(done, detail))


def _set_verbosity(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if not value:
        return
    flags = ctx.meta.setdefault("cogaze_verbosity", set())
    flags.add(param.name)
    if len(flags) > 1:
        raise click.UsageError("give --quiet or --verbose, not both")
    configure(-1 if param.name == "quiet" else 1)


def verbosity_options(f: Callable) -> Callable:
    """``-q/--quiet`` (warnings, errors and results only; no progress) and ``-v/--verbose`` (debug)."""
    f = click.option("-v", "--verbose", is_flag=True, expose_value=False, is_eager=True, callback=_set_verbosity,
                     help="Also print debug messages.")(f)
    return click.option("-q", "--quiet", is_flag=True, expose_value=False, is_eager=True, callback=_set_verbosity,
                        help="Print only warnings, errors and results (no progress).")(f)
