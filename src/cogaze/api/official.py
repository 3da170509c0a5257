"""Import the authors' released CoGaze checkpoints as cogaze run folders (docs/checkpoints.md)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cogaze.errors import ConfigError

KINDS = ("pretrain", "report")


def import_official(kind: str, checkpoint: str | Path, out: str | Path, *,
                    pretrain_checkpoint: str | Path | None = None, config: str | Path | None = None,
                    overrides: Sequence[str] = (), report_config: str | Path | None = None,
                    report_overrides: Sequence[str] = (), view_dict: str | Path | None = None,
                    allow_unmapped: bool = False) -> dict[str, Any]:
    """Turn a released checkpoint into run folders every verb accepts; returns what was imported.

    ``kind="pretrain"``: the pretraining checkpoint -> the run folder ``out`` (``--checkpoint`` of
    ``explain``, ``zeroshot``, ``retrieve``, ``finetune``, ``train-report``). ``kind="report"``: the DistilGPT2
    report checkpoint -> ``out/encoder`` + ``out/report`` (``generate --checkpoint out/encoder --report-run
    out/report``); its disease heads come from ``pretrain_checkpoint``. The model is built from ``config``
    (default: the shipped mimic-paper.yaml) with dotlist ``overrides`` (e.g. ``model.vision.source=DIR``);
    ``view_dict`` is the authors' view-name -> row JSON. Weights are read without running pickled code.
    """
    from cogaze.tasks.official import import_pretrain, import_report, read_view_dict

    views = read_view_dict(view_dict) if view_dict else None
    if kind == "pretrain":
        return import_pretrain(checkpoint, out, config, overrides, views, allow_unmapped)
    if kind != "report":
        raise ConfigError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if pretrain_checkpoint is None:
        raise ConfigError("the report checkpoint has no disease heads or temperatures: pass the released pretraining "
                          "checkpoint too (--pretrain), they are taken from it")
    return import_report(checkpoint, out, pretrain_checkpoint, config, overrides, report_config, report_overrides,
                         views, allow_unmapped)
