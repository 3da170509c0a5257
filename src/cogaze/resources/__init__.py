"""Data files shipped with cogaze (prompt lists, ...) and the shipped configs."""

from __future__ import annotations

from pathlib import Path

from cogaze.errors import ConfigError

CONFIGS = Path(__file__).resolve().parent / "configs"
"""The shipped configs, package data of cogaze (``<repo>/configs`` links here in a source checkout)."""


def config_path(name: str) -> Path:
    """Path of a shipped config, e.g. ``config_path("pretrain/phantom-tiny.yaml")``."""
    path = CONFIGS / name
    if not path.is_file():
        known = sorted(str(q.relative_to(CONFIGS)) for q in CONFIGS.rglob("*.yaml"))
        raise ConfigError(f"shipped config {name} not found; shipped: {', '.join(known)}")
    return path
