"""Portable run folders: where a run's backbones live, recorded so the run loads from anywhere.

At the start of a run every local model source (``model.vision.source``, ``model.text.source``) is made
absolute in the saved config and its path relative to the run folder goes to ``sources.json``. Loading
tries the recorded path, then the relative one (a whole tree moved or copied together), and fails at
once, naming every path tried, when a source that was a local folder is gone (never a slow hub lookup).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from cogaze.errors import ConfigError
from cogaze.io import atomic_write_json

SOURCES_FILE = "sources.json"
KEYS = ("vision", "text")


def _looks_local(value: str) -> bool:
    """A path rather than a hub id: absolute, ``./`` / ``../`` / ``~``, or more than one ``/``."""
    return value.startswith(("/", ".", "~")) or value.count("/") > 1 or os.sep != "/" and os.sep in value


def record_sources(model_config: Any, run_dir: Path) -> None:
    """Make existing local sources absolute in ``model_config`` and write ``run_dir/sources.json``."""
    recorded: dict[str, dict[str, str]] = {}
    for key in KEYS:
        sub = getattr(model_config, key, None)
        value = getattr(sub, "source", None) if sub is not None else None
        if sub is None or not value:
            continue
        path = Path(value).expanduser()
        if path.is_dir():
            absolute = path.resolve()
            sub.source = str(absolute)
            recorded[key] = {"absolute": str(absolute), "relative_to_run": os.path.relpath(absolute, run_dir.resolve())}
        elif _looks_local(value):
            raise ConfigError(f"model.{key}.source {value}: no such folder")
    if recorded:
        atomic_write_json(run_dir / SOURCES_FILE, recorded)


def resolve_sources(model_config: Any, run_dir: Path) -> None:
    """Point ``model_config``'s local sources at folders that exist now (see the module docstring)."""
    recorded: dict[str, dict[str, str]] = {}
    file = run_dir / SOURCES_FILE
    if file.is_file():
        try:
            recorded = json.loads(file.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise ConfigError(f"{file}: malformed JSON: {err}") from None
    for key in KEYS:
        sub = getattr(model_config, key, None)
        value = getattr(sub, "source", None) if sub is not None else None
        if sub is None or not value:
            continue
        entry = recorded.get(key, {})
        tried = [Path(value).expanduser()]
        if "relative_to_run" in entry:
            tried.append(run_dir / entry["relative_to_run"])
        if not Path(value).is_absolute():
            tried.append(run_dir / value)
        found = next((p for p in tried if p.is_dir()), None)
        if found is not None:
            sub.source = str(found.resolve())
        elif entry or _looks_local(value):
            raise ConfigError(f"{run_dir}: the {key} backbone folder of this run is missing; tried "
                              + ", ".join(str(p) for p in tried)
                              + f" (set model.{key}.source in {run_dir / 'config.yaml'} to its new place)")
