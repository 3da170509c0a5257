"""Import the authors' released checkpoints (github mk-runner/CoGaze) as cogaze run folders.

:func:`import_pretrain`: the pretraining checkpoint -> a pretraining run folder (``--checkpoint RUN`` of
every verb). :func:`import_report`: the DistilGPT2 report-generation checkpoint -> ``OUT/encoder`` (its
fine-tuned encoder) and ``OUT/report`` (its decoder) for ``cogaze generate``. Both read the files with
``torch.load(weights_only=True)`` or safetensors only; docs/checkpoints.md describes the key maps.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cogaze.errors import DataError
from cogaze.models.checkpoint_file import read_state_dict
from cogaze.tasks.official.pretrain import DEFAULT_CONFIG, build_model, load_checked, provenance, write_run
from cogaze.tasks.official.report import import_report


def read_view_dict(path: str | Path) -> dict[str, int]:
    """The authors' view dictionary (JSON ``{"PA": 0, "AP": 1, ...}``: view name -> embedding row)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataError(f"cannot read the view dictionary: {err}", path) from None
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, int) for k, v in data.items()):
        raise DataError("the view dictionary must be a JSON object of view name -> row number", path)
    return data


def import_pretrain(checkpoint: str | Path, out: str | Path, config: str | Path | None = None,
                    overrides: Sequence[str] = (), view_dict: dict[str, int] | None = None,
                    allow_unmapped: bool = False) -> dict[str, Any]:
    """Import their pretraining checkpoint into the run folder ``out``; returns a summary."""
    state = read_state_dict(checkpoint)
    pconfig, tokenizer, model = build_model(config, overrides)
    report, notes = load_checked(model, state, str(checkpoint), view_dict, allow_unmapped)
    info = provenance("pretrain", checkpoint, report, notes, config=str(config or DEFAULT_CONFIG))
    write_run(out, pconfig, model, info)
    return {"run": str(out), "tensors": len(report.loaded), "ignored": sorted(report.ignored),
            "unmapped_not_imported": sorted(report.unmapped), "image_encoder_in_checkpoint": len(report.backbone),
            "views": notes.get("views")}


__all__ = ["import_pretrain", "import_report", "read_view_dict"]
