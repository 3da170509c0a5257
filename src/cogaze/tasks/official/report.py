"""The authors' released DistilGPT2 report-generation checkpoint -> an encoder run + a report run.

Their report model fine-tunes the whole CoGaze vision path together with the decoder (spec 2.7), so
the checkpoint holds both: the decoder (under ``language_model.encoder_decoder.decoder.``) becomes a
``cogaze train-report``-style run folder (``OUT/report``), the fine-tuned encoder a pretraining-style
run folder (``OUT/encoder``). The report model has no disease heads and no temperatures: those come
from the released pretraining checkpoint (``pretrain_checkpoint``), recorded in ``import.json``.
``cogaze generate --report-run OUT/report --checkpoint OUT/encoder`` then decodes with them.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from safetensors.torch import save_file

from cogaze.config import load_config, save_config
from cogaze.errors import ConfigError, DataError
from cogaze.io import atomic_write_json, current_umask
from cogaze.models.checkpoint_file import read_state_dict
from cogaze.models.official import map_key
from cogaze.models.report_decoder import ReportDecoder, TextCodec, build_gpt2_config
from cogaze.models.report_decoder.official import find_decoder_prefix, load_official_decoder
from cogaze.resources import config_path as shipped_config
from cogaze.tasks.official.pretrain import (
    IMPORT_FILE,
    build_model,
    listing,
    load_checked,
    provenance,
    sha256,
    write_run,
)
from cogaze.tasks.report_generation.config import ReportGenConfig

DEFAULT_REPORT_CONFIG = "report/mimic-distilgpt2.yaml"


def split_report_state(state: dict, source: str | Path) -> tuple[str, dict, dict]:
    """(decoder prefix, decoder tensors, encoder tensors) of a report-generation checkpoint."""
    try:
        prefix = find_decoder_prefix(state)
    except DataError as err:
        raise DataError(f"not a DistilGPT2 report-generation checkpoint: {err.message}", source) from None
    decoder = {k: v for k, v in state.items() if k.startswith(prefix)}
    encoder = {k: v for k, v in state.items() if not k.startswith(prefix)}
    return prefix, decoder, encoder


def add_heads(encoder_state: dict, pretrain_state: dict) -> list[str]:
    """Put the pretraining checkpoint's disease heads and temperatures into ``encoder_state`` where it has none."""
    have = {map_key(k) for k in encoder_state}
    taken = []
    for key, value in pretrain_state.items():
        target = map_key(key)
        if target is not None and target.startswith("heads.") and target not in have:
            encoder_state[key] = value
            taken.append(key)
    return sorted(taken)


def build_decoder(report_config: str | Path | None, overrides: Sequence[str], tokenizer: Any, latent_dim: int
                  ) -> tuple[ReportGenConfig, ReportDecoder]:
    """The report config and a decoder built from it for the encoder's tokenizer and width."""
    config = load_config(ReportGenConfig, report_config or shipped_config(DEFAULT_REPORT_CONFIG), overrides)
    if config.variant != "decoder":
        raise ConfigError(f"the official report checkpoint is the DistilGPT2 decoder: the report config must have "
                          f"variant: decoder, not {config.variant!r}")
    if config.memory != "vision+context":
        raise ConfigError(f"the official decoder attends to [vision latents; context latents]: the report config must "
                          f"have memory: vision+context, not {config.memory!r}")
    codec = TextCodec(tokenizer)
    gcfg = build_gpt2_config(config.decoder, codec.vocab_size, codec.eos_id, codec.eos_id, codec.pad_id)
    return config, ReportDecoder(gcfg, latent_dim)


def import_report(checkpoint: str | Path, out: str | Path, pretrain_checkpoint: str | Path,
                  config: str | Path | None = None, overrides: Sequence[str] = (),
                  report_config: str | Path | None = None, report_overrides: Sequence[str] = (),
                  view_dict: dict[str, int] | None = None, allow_unmapped: bool = False) -> dict[str, Any]:
    """Import their report checkpoint into ``out/encoder`` and ``out/report``; returns a summary."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"{out} exists and is not empty: choose a new --out folder")
    prefix, decoder_state, encoder_state = split_report_state(read_state_dict(checkpoint), checkpoint)
    heads = add_heads(encoder_state, read_state_dict(pretrain_checkpoint))
    pconfig, tokenizer, model = build_model(config, overrides)
    report, notes = load_checked(model, encoder_state, str(checkpoint), view_dict, allow_unmapped)
    rconfig, decoder = build_decoder(report_config, report_overrides, tokenizer, int(model.config.dim))
    drep = load_official_decoder(decoder, decoder_state, prefix)
    problems = []
    if drep.missing:
        problems.append(listing("decoder parameters the checkpoint does not have (they would stay randomly "
                               "initialised; the decoder sizes come from the report config)", sorted(drep.missing)))
    if drep.unmapped and not allow_unmapped:
        problems.append(listing("decoder keys that do not fit the decoder the report config builds "
                               "(--allow-unmapped imports without them)", sorted(drep.unmapped)))
    if problems:
        raise ConfigError(f"{checkpoint}: cannot import:\n" + "\n".join(problems))
    source = {"pretrain_checkpoint": str(Path(pretrain_checkpoint).resolve()),
              "pretrain_sha256": sha256(pretrain_checkpoint), "heads_from_pretrain_checkpoint": heads}
    encoder_info = provenance("report-encoder", checkpoint, report, notes, **source)
    decoder_info = {"kind": "report-decoder", "checkpoint": encoder_info["checkpoint"], "sha256": encoder_info["sha256"],
                    "prefix": prefix, "loaded": len(drep.loaded), "dropped_buffers": len(drep.dropped_buffers),
                    "unmapped_not_imported": sorted(drep.unmapped), "encoder_run": "../encoder"}
    out.mkdir(parents=True, exist_ok=True)
    write_run(out / "encoder", pconfig, model, encoder_info)
    _write_report_run(out / "report", rconfig, tokenizer, decoder, decoder_info)
    return {"encoder": str(out / "encoder"), "report": str(out / "report"), "encoder_tensors": len(report.loaded),
            "decoder_tensors": len(drep.loaded), "heads_from_pretrain_checkpoint": heads,
            "ignored": sorted(report.ignored), "unmapped_not_imported": sorted(report.unmapped) + sorted(drep.unmapped)}


def _write_report_run(out: Path, config: ReportGenConfig, tokenizer: Any, decoder: ReportDecoder,
                      info: dict[str, Any]) -> None:
    """config.yaml, tokenizer/, model.safetensors as ``cogaze train-report`` writes them, plus import.json."""
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}."))
    os.chmod(tmp, 0o777 & ~current_umask())
    try:
        save_config(config, tmp / "config.yaml")
        tokenizer.save_pretrained(str(tmp / "tokenizer"))
        state = {k: v.detach().contiguous() for k, v in decoder.named_parameters() if v.requires_grad}
        save_file(state, str(tmp / "model.safetensors"))
        atomic_write_json(tmp / IMPORT_FILE, info, default=str)
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
