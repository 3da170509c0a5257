"""Load the authors' pretraining checkpoint (github mk-runner/CoGaze) into :class:`CoGazeModel`.

Their checkpoint is ``{"state_dict": ..., "optimizer_state": ..., "epoch": ...}`` holding every
trainable parameter (spec 4), named after their modules. The documented key map, theirs -> ours:

=====================================================  ===============================================
theirs                                                  ours
=====================================================  ===============================================
image_encoder.*                                         compared with model.vision.source, not loaded
text_encoder.[bert.]{embeddings,encoder}.*              text_encoder.{embeddings,encoder}.*
image_projector.add_pos_embed.pos_embed  (V, 1, D)      encoder.vision_projector.view_embedding.weight (V, D)
image_projector.add_pos_embed.pos_norm.weight           encoder.vision_projector.norm.weight
image_projector.projector.{0,2}.*                       encoder.vision_projector.mlp.{0,2}.*
text_projector.layers.{0,2}.*                           encoder.text_projector.{0,2}.*
perceiver.layers.i.0.fn.{to_q,to_kv,to_out}.*           encoder.perceiver.blocks.i.cross_attn.*
perceiver.layers.i.0.norm / .0.norm_context             ...blocks.i.cross_norm / context_norm
perceiver.layers.i.1.fn.net.{0,2} / .1.norm             ...blocks.i.cross_ff.{w_in,w_out} / cross_ff_norm
perceiver.layers.i.2.j.0.fn.* / .2.j.0.norm             ...blocks.i.self_attns.j.* / self_norms.j
perceiver.layers.i.2.j.1.fn.net.{0,2} / .2.j.1.norm     ...blocks.i.self_ffs.j.{w_in,w_out} / self_ff_norms.j
shared_latent, latent_type_embed.{context,image}        encoder.shared_latent, encoder.{context,image}_type
{vision,report}_classifier.classifier.*                 heads.{vision,report}.*
logit_scale, logit_scale_gaze                           heads.logit_scale, heads.logit_scale_gaze
=====================================================  ===============================================

Never mapped (reported as ignored): ``perceiver.latents`` (unused by the reference), CXR-BERT heads
(``text_encoder.cls.*``, ``text_encoder.cls_projection_head.*``, ``pooler.*``). The view-embedding rows
follow their view dictionary's order: :func:`reorder_views` maps them to ``cogaze.data.VIEW_POSITIONS``
with that dictionary (spec 12.2).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from cogaze.data.records import VIEW_POSITIONS, parse_view
from cogaze.errors import ConfigError
from cogaze.models.checkpoint_file import read_state_dict

_P = r"perceiver\.layers\.(\d+)\."
_RULES: list[tuple[str, str]] = [
    (r"text_encoder\.(?:bert\.)?((?:embeddings|encoder)\..+)", r"text_encoder.\1"),
    (r"image_projector\.add_pos_embed\.pos_embed", "encoder.vision_projector.view_embedding.weight"),
    (r"image_projector\.add_pos_embed\.pos_norm\.weight", "encoder.vision_projector.norm.weight"),
    (r"image_projector\.projector\.(\d)\.(weight|bias)", r"encoder.vision_projector.mlp.\1.\2"),
    (r"text_projector\.layers\.(\d)\.(weight|bias)", r"encoder.text_projector.\1.\2"),
    (_P + r"0\.fn\.(to_q|to_kv|to_out)\.(.+)", r"encoder.perceiver.blocks.\1.cross_attn.\2.\3"),
    (_P + r"0\.norm\.(.+)", r"encoder.perceiver.blocks.\1.cross_norm.\2"),
    (_P + r"0\.norm_context\.(.+)", r"encoder.perceiver.blocks.\1.context_norm.\2"),
    (_P + r"1\.fn\.net\.0\.(.+)", r"encoder.perceiver.blocks.\1.cross_ff.w_in.\2"),
    (_P + r"1\.fn\.net\.2\.(.+)", r"encoder.perceiver.blocks.\1.cross_ff.w_out.\2"),
    (_P + r"1\.norm\.(.+)", r"encoder.perceiver.blocks.\1.cross_ff_norm.\2"),
    (_P + r"2\.(\d+)\.0\.fn\.(.+)", r"encoder.perceiver.blocks.\1.self_attns.\2.\3"),
    (_P + r"2\.(\d+)\.0\.norm\.(.+)", r"encoder.perceiver.blocks.\1.self_norms.\2.\3"),
    (_P + r"2\.(\d+)\.1\.fn\.net\.0\.(.+)", r"encoder.perceiver.blocks.\1.self_ffs.\2.w_in.\3"),
    (_P + r"2\.(\d+)\.1\.fn\.net\.2\.(.+)", r"encoder.perceiver.blocks.\1.self_ffs.\2.w_out.\3"),
    (_P + r"2\.(\d+)\.1\.norm\.(.+)", r"encoder.perceiver.blocks.\1.self_ff_norms.\2.\3"),
    (r"shared_latent", "encoder.shared_latent"),
    (r"latent_type_embed\.context", "encoder.context_type"),
    (r"latent_type_embed\.image", "encoder.image_type"),
    (r"(vision|report)_classifier\.classifier\.(weight|bias)", r"heads.\1.\2"),
    (r"logit_scale", "heads.logit_scale"),
    (r"logit_scale_gaze", "heads.logit_scale_gaze"),
]
_COMPILED = [(re.compile(p + r"\Z"), r) for p, r in _RULES]


def map_key(name: str) -> str | None:
    """Our parameter name for one of theirs (None = not mapped)."""
    name = re.sub(r"^(?:module\.|model\.)", "", name)
    for pattern, repl in _COMPILED:
        if pattern.match(name):
            return pattern.sub(repl, name)
    return None


# Keys of theirs that are never used, on purpose (module docstring): listed as "ignored", not "unmapped".
IGNORED = re.compile(r"(?:module\.|model\.)?(?:perceiver\.latents|text_encoder\.(?:cls\.|cls_projection_head\.|"
                     r"(?:bert\.)?pooler\.|(?:bert\.)?embeddings\.position_ids\Z))")
_IMAGE_ENCODER = re.compile(r"(?:module\.|model\.)?image_encoder\.(.+)")


@dataclass
class OfficialLoadReport:
    """What :func:`load_official_state` did."""

    loaded: list[str] = field(default_factory=list)
    unmapped: list[str] = field(default_factory=list)  # their keys with no counterpart
    ignored: list[str] = field(default_factory=list)  # their keys never used on purpose (IGNORED)
    shape_mismatch: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # our trainable params not in their checkpoint
    backbone: dict[str, torch.Tensor] = field(default_factory=dict)  # their frozen image encoder (its own names)


def load_official_state(model: nn.Module, state: dict[str, torch.Tensor]) -> OfficialLoadReport:
    """Copy every mappable trainable tensor of ``state`` (their names) into ``model``; report the rest.

    Their frozen image encoder (``image_encoder.*``) is not loaded: the backbone comes from
    ``model.vision.source``; those tensors (names of the transformers version that saved them) are returned
    in ``report.backbone`` for :func:`backbone_differences`.
    """
    ours = model.state_dict()
    report = OfficialLoadReport()
    new: dict[str, torch.Tensor] = {}
    for name, value in state.items():
        if IGNORED.match(name):
            report.ignored.append(name)
            continue
        if (image := _IMAGE_ENCODER.match(name)) is not None:
            report.backbone[image.group(1)] = value
            continue
        target = map_key(name)
        if target is None or target not in ours:
            report.unmapped.append(name)
            continue
        if target.endswith("view_embedding.weight") and value.dim() == 3:
            value = value.squeeze(1)
        if tuple(value.shape) != tuple(ours[target].shape):
            report.shape_mismatch.append(f"{name} {tuple(value.shape)} -> {target} {tuple(ours[target].shape)}")
            continue
        new[target] = value
        report.loaded.append(target)
    model.load_state_dict(new, strict=False)
    report.missing = [n for n, p in model.named_parameters() if p.requires_grad and n not in new]
    return report


def load_official_checkpoint(model: nn.Module, path: str | Path) -> OfficialLoadReport:
    """Read their checkpoint safely (safetensors, or ``torch.load(weights_only=True)``) and load it."""
    return load_official_state(model, read_state_dict(path))


def backbone_differences(backbone: nn.Module, theirs: dict[str, torch.Tensor]) -> list[str]:
    """Where their saved image encoder differs from ``backbone`` (empty list: the same weights).

    Their names are those of the transformers version that saved them (Dinov2's attention was renamed
    since): transformers itself maps them, by loading them into a copy of ``backbone``'s class.
    """
    if not theirs:
        return []
    from cogaze.models.backbones import quiet_transformers

    try:
        with quiet_transformers():
            copy, info = type(backbone).from_pretrained(  # type: ignore[attr-defined]  # a PreTrainedModel
                None, config=backbone.config, state_dict=theirs, output_loading_info=True)
    except Exception as err:  # noqa: BLE001 - any failure to read them is a difference worth naming
        return [f"image_encoder.* cannot be loaded as {type(backbone).__name__} ({type(err).__name__}: {err})"]
    out = [f"{k} (not in the checkpoint's image encoder)" for k in sorted(info.get("missing_keys", []))]
    out += [f"image_encoder.{k} (not in model.vision.source)" for k in sorted(info.get("unexpected_keys", []))]
    ours = backbone.state_dict()
    for name, value in copy.state_dict().items():
        mine = ours[name].float()
        if value.shape != mine.shape or not torch.allclose(value.float(), mine, rtol=1e-4, atol=1e-6):
            diff = "shape" if value.shape != mine.shape else f"max |difference| {float((value.float() - mine).abs().max()):.3g}"
            out.append(f"{name} ({diff})")
    return out


def view_table_key(state: dict[str, torch.Tensor]) -> str | None:
    """Their key of the view-embedding table (``image_projector.add_pos_embed.pos_embed``), if present."""
    return next((k for k in state if (map_key(k) or "").endswith("view_embedding.weight")), None)


def reorder_views(state: dict[str, torch.Tensor], view_dict: dict[str, int]) -> tuple[dict[str, torch.Tensor], dict]:
    """Their view-embedding rows put in ``VIEW_POSITIONS`` order, by their view dictionary (name -> row).

    A view of ours that their dictionary lacks takes their UNKNOWN row (recorded in the returned notes);
    without an UNKNOWN row that is an error. Their names cogaze does not know are listed as unused.
    """
    key = view_table_key(state)
    if key is None:
        raise ConfigError("the checkpoint has no view-embedding table (image_projector.add_pos_embed.pos_embed)")
    table = state[key]
    by_view: dict[str, int] = {}
    unused: list[str] = []
    for name, row in view_dict.items():
        if not isinstance(row, int) or not 0 <= row < table.shape[0]:
            raise ConfigError(f"view dictionary: {name!r} -> {row!r} is no row of the {table.shape[0]}-row table")
        try:
            by_view.setdefault(parse_view(name), row)
        except ValueError:
            unused.append(name)
    filled = [v for v in VIEW_POSITIONS if v not in by_view]
    if filled and "UNKNOWN" not in by_view:
        raise ConfigError(f"view dictionary has no row for {', '.join(filled)} and no UNKNOWN row to use instead")
    rows = [by_view.get(v, by_view.get("UNKNOWN", 0)) for v in VIEW_POSITIONS]
    out = dict(state)
    out[key] = table[rows]
    return out, {"rows": dict(zip(VIEW_POSITIONS, rows)), "from_unknown_row": filled, "unused_names": unused}
