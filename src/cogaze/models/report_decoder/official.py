"""Loading the authors' DistilGPT2 report-generation checkpoint (spec 5.1) by a documented key map.

The reference checkpoint is ``{"state_dict": {name: tensor}, "optimizer_state": ..., "epoch": ...}``
(spec 4, "Checkpoint content"). Its decoder is a transformers ``GPT2LMHeadModel`` with
cross-attention, stored under a module prefix: ``language_model.encoder_decoder.decoder.`` in the
reference's ``ReportGeneration`` module (a transformers ``EncoderDecoderModel`` around the decoder);
any prefix is found by locating the key ending in ``transformer.wte.weight``. Inside the prefix the
names are transformers' GPT-2 names, which are also ours under ``gpt2.``:

==========================================================  =====================================
authors' key (after the prefix)                             ours
==========================================================  =====================================
transformer.wte.weight / transformer.wpe.weight             gpt2.transformer.wte/wpe.weight
transformer.h.{i}.ln_1 / ln_2 / ln_cross_attn .weight/.bias gpt2.transformer.h.{i}.<same>
transformer.h.{i}.attn.c_attn / c_proj .weight/.bias        gpt2.transformer.h.{i}.attn.<same>
transformer.h.{i}.crossattention.q_attn / c_attn / c_proj   gpt2.transformer.h.{i}.crossattention.<same>
transformer.h.{i}.mlp.c_fc / c_proj .weight/.bias           gpt2.transformer.h.{i}.mlp.<same>
transformer.ln_f.weight/.bias                               gpt2.transformer.ln_f.<same>
lm_head.weight                                              gpt2.lm_head.weight (tied to wte)
transformer.h.{i}.attn.bias / .masked_bias (old buffers)    dropped (causal-mask buffers, no weights)
==========================================================  =====================================

GPT-2 linear layers are ``Conv1D`` with (in, out) weights in both, so no transposes are needed.
Keys outside the decoder prefix belong to the CoGaze encoder (returned for the encoder's own loader).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from torch import Tensor

from cogaze.errors import DataError
from cogaze.models.checkpoint_file import read_state_dict
from cogaze.models.report_decoder.model import ReportDecoder

_BUFFER = re.compile(r"transformer\.h\.\d+\.(attn|crossattention)\.(bias|masked_bias)$")
DEFAULT_PREFIX = "language_model.encoder_decoder.decoder."


@dataclass
class LoadReport:
    """What happened to each key of an official checkpoint."""

    loaded: list[str] = field(default_factory=list)
    """Our parameter names that received a tensor."""
    unmapped: list[str] = field(default_factory=list)
    """Checkpoint keys inside the decoder prefix that have no counterpart (or a shape mismatch)."""
    missing: list[str] = field(default_factory=list)
    """Our decoder parameters the checkpoint did not provide (they keep their init)."""
    dropped_buffers: list[str] = field(default_factory=list)
    """Old GPT-2 causal-mask buffers, ignored on purpose."""
    encoder_state: dict[str, Tensor] = field(default_factory=dict)
    """Keys outside the decoder prefix (the CoGaze encoder's), unchanged."""


def read_checkpoint(path: str | Path) -> dict[str, Tensor]:
    """The flat state dict of a checkpoint file (.safetensors, or a torch file read with weights_only)."""
    return read_state_dict(path)


def find_decoder_prefix(state: dict[str, Tensor]) -> str:
    """The module prefix in front of ``transformer.wte.weight`` (``language_model.encoder_decoder.decoder.`` in the reference)."""
    hits = [k[: -len("transformer.wte.weight")] for k in state if k.endswith("transformer.wte.weight")]
    if len(hits) != 1:
        raise DataError(f"expected exactly one GPT-2 decoder (key ending in transformer.wte.weight), found {len(hits)}")
    return hits[0]


def map_official_keys(state: dict[str, Tensor], prefix: str | None = None) -> tuple[dict[str, Tensor], LoadReport]:
    """Split an official state dict into our decoder names and the rest (see the module table)."""
    prefix = find_decoder_prefix(state) if prefix is None else prefix
    report = LoadReport()
    mapped: dict[str, Tensor] = {}
    for key, value in state.items():
        if not key.startswith(prefix):
            report.encoder_state[key] = value
            continue
        inner = key[len(prefix) :]
        if _BUFFER.search(inner):
            report.dropped_buffers.append(key)
        elif inner.startswith(("transformer.", "lm_head.")):
            mapped["gpt2." + inner] = value
        else:
            report.unmapped.append(key)
    return mapped, report


def load_official_decoder(decoder: ReportDecoder, state: dict[str, Tensor], prefix: str | None = None) -> LoadReport:
    """Copy the decoder weights of an official checkpoint into ``decoder``; returns what was (not) used."""
    mapped, report = map_official_keys(state, prefix)
    ours = decoder.state_dict()
    usable: dict[str, Tensor] = {}
    for name, value in mapped.items():
        if name in ours and ours[name].shape == value.shape:
            usable[name] = value
        else:
            where = "no such parameter" if name not in ours else f"shape {tuple(value.shape)} != {tuple(ours[name].shape)}"
            report.unmapped.append(f"{name} ({where})")
    tied = {"gpt2.lm_head.weight"} if decoder.config.tie_word_embeddings else set()
    for name in tied:
        usable.pop(name, None)  # tied to wte: loading it too could overwrite wte with a stale copy
    decoder.load_state_dict(usable, strict=False)
    report.loaded = sorted(usable)
    report.missing = sorted(
        n for n in ours if n.startswith("gpt2.") and n not in usable and n not in tied
    )
    return report
