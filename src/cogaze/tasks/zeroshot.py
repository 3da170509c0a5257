"""Zero-shot classification with prompt ensembles (spec 5.6).

Each class has a list of prompts. Every prompt is embedded with ``encode_texts(kind="prompt")``
(the encoder adds the ``[CLS] [FINDINGS]`` prefix), L2-normalised, averaged and re-normalised into a
class prototype. An image's score for finding ``c`` is the softmax over the two cosines
``(cos(x, P_c), cos(x, P_negative)) * logit_scale`` taken at ``c``; its prediction is the argmax
(``c`` wins when its cosine is larger). Each label column is thus a one-vs-negative binary problem:
RSNA = {pneumonia, normal}, Shenzhen = {tuberculosis, normal}; the phantom's findings each against
"no finding". AUROC does not depend on ``logit_scale`` (the two-way softmax is monotone in the cosine
difference); it only sets the printed probabilities.

Prompt files are YAML mappings ``class name -> list of prompts``. ``paper`` (the paper's pneumonia,
tuberculosis and normal prompts, plus the reference code's pneumothorax prompts) and ``phantom``
ship with cogaze; any other value is a path.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import torch
import yaml
from torch import Tensor

from cogaze.config import config_to_dict, help_field
from cogaze.errors import ConfigError
from cogaze.models.interface import VisionLanguageEncoder
from cogaze.tasks import _metrics as M
from cogaze.tasks.common import check_encoder, encode_items, l2_normalise
from cogaze.tasks.items import ImageItems
from cogaze.tasks.results import ZeroShotResult

BUILTIN_PROMPTS: tuple[str, ...] = ("paper", "phantom")


@dataclass
class ZeroShotConfig:
    """Zero-shot classification settings."""

    prompts: str = help_field("paper", help="prompt file: 'paper', 'phantom' (shipped) or a YAML path")
    negative_class: str = help_field("normal", help="prompt class every finding is scored against")
    class_map: dict[str, str] = help_field(
        help="label column -> prompt class, where the names differ (default: case-insensitive match)",
        default_factory=dict,
    )
    logit_scale: float = help_field(1 / 0.07, help="cosine multiplier before the two-way softmax (exp(s1))", gt=0)
    batch_size: int = help_field(32, help="images per encoder call", ge=1)
    device: str = help_field("cpu", help="torch device for the encoder")


def _norm(name: str) -> str:
    return " ".join(name.replace("_", " ").lower().split())


def load_prompts(source: str | Path | Mapping[str, list[str]]) -> dict[str, list[str]]:
    """Prompt lists per class from a shipped name, a YAML file or a mapping.

    Raises ConfigError for an unreadable file, a non-mapping, or a class whose prompt list is empty
    or holds non-text / blank entries.
    """
    where = "prompts"
    if isinstance(source, Mapping):
        data: object = dict(source)
    else:
        name = str(source)
        if name in BUILTIN_PROMPTS:
            where = f"shipped prompt file {name}.yaml"
            text = resources.files("cogaze.resources").joinpath("prompts").joinpath(f"{name}.yaml").read_text("utf-8")
        else:
            path = Path(name)
            where = str(path)
            if not path.is_file():
                raise ConfigError(f"prompt file not found: {path} (or use one of {BUILTIN_PROMPTS})")
            text = path.read_text(encoding="utf-8")
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise ConfigError(f"{where}: malformed YAML: {err}") from None
    if not isinstance(data, dict) or not data:
        raise ConfigError(f"{where}: expected a mapping of class name -> list of prompts")
    out: dict[str, list[str]] = {}
    for cls, prompts in data.items():
        if not isinstance(prompts, list) or not prompts:
            raise ConfigError(f"{where}: class {cls!r} has an empty prompt list; give at least one prompt")
        bad = [p for p in prompts if not isinstance(p, str) or not p.strip()]
        if bad:
            raise ConfigError(f"{where}: class {cls!r} has blank or non-text prompts: {bad!r}")
        out[str(cls)] = [p.strip() for p in prompts]
    return out


@torch.no_grad()
def class_prototypes(encoder: VisionLanguageEncoder, prompts: Mapping[str, list[str]]) -> dict[str, Tensor]:
    """Unit-norm prototype (D,) per class: mean of the L2-normalised prompt embeddings, re-normalised."""
    out: dict[str, Tensor] = {}
    for cls, texts in prompts.items():
        if not texts:
            raise ConfigError(f"class {cls!r} has an empty prompt list")
        emb = l2_normalise(encoder.encode_texts(list(texts), kind="prompt").detach().cpu())
        out[cls] = l2_normalise(emb.mean(dim=0))
    return out


def resolve_classes(class_names: tuple[str, ...], prompt_classes: list[str], negative: str,
                    class_map: Mapping[str, str]) -> dict[str, str]:
    """Label column -> prompt class; ConfigError naming what is missing."""
    by_norm = {_norm(c): c for c in prompt_classes}
    if _norm(negative) not in by_norm:
        raise ConfigError(f"negative class {negative!r} has no prompts; prompt classes: {prompt_classes}")
    out = {}
    for name in class_names:
        target = class_map.get(name, name)
        if _norm(target) not in by_norm:
            raise ConfigError(
                f"label column {name!r} has no prompts (looked for {target!r}); prompt classes: "
                f"{prompt_classes}. Map it with class_map"
            )
        if _norm(target) == _norm(negative):
            raise ConfigError(f"label column {name!r} is the negative class {negative!r}: each finding is "
                              "scored against it, so leave that column out of the items")
        out[name] = by_norm[_norm(target)]
    return out


def zero_shot_scores(image_emb: Tensor, positive: Tensor, negative: Tensor,
                     logit_scale: float) -> tuple[np.ndarray, np.ndarray]:
    """(probability of the finding, 0/1 argmax prediction) for (N, D) image embeddings."""
    x = l2_normalise(image_emb)
    cos = torch.stack([x @ positive, x @ negative], dim=1)
    prob = torch.softmax(cos * logit_scale, dim=1)[:, 0]
    return prob.numpy().astype(np.float64), (cos[:, 0] > cos[:, 1]).numpy().astype(np.int64)


def run_zeroshot(encoder: VisionLanguageEncoder, items: ImageItems,
                 config: ZeroShotConfig | None = None,
                 prompts: Mapping[str, list[str]] | None = None) -> ZeroShotResult:
    """Zero-shot AUROC / positive-class F1 / accuracy for every label column of ``items``.

    ``prompts`` (a mapping) overrides ``config.prompts``. Image embeddings are the pooled vision
    latents with the items' context sentences.
    """
    config = config or ZeroShotConfig()
    encoder = check_encoder(encoder, config.device)
    prompt_lists = load_prompts(prompts if prompts is not None else config.prompts)
    mapping = resolve_classes(items.class_names, list(prompt_lists), config.negative_class, config.class_map)
    needed = {*mapping.values(), *[c for c in prompt_lists if _norm(c) == _norm(config.negative_class)]}
    protos = class_prototypes(encoder, {c: prompt_lists[c] for c in needed})
    negative = next(protos[c] for c in protos if _norm(c) == _norm(config.negative_class))
    emb = encode_items(encoder, items, config.batch_size, device=config.device)
    per_class: dict[str, dict[str, float]] = {}
    scores: dict[str, list[float]] = {}
    labels: dict[str, list[int]] = {}
    for col, name in enumerate(items.class_names):
        prob, pred = zero_shot_scores(emb, protos[mapping[name]], negative, config.logit_scale)
        y = items.labels[:, col]
        scores[name], labels[name] = prob.tolist(), y.astype(int).tolist()
        per_class[name] = {
            "AUROC": M.auroc(y, prob),
            "F1": M.binary_f1(y, pred),
            "accuracy": M.accuracy(y, pred),
        }
    metrics = {k: M.macro([v[k] for v in per_class.values()]) for k in ("AUROC", "F1", "accuracy")}
    return ZeroShotResult(
        task="zeroshot",
        dataset=items.name,
        metrics=metrics,
        config=config_to_dict(config) | {"prompt_classes": mapping},
        class_names=list(items.class_names),
        per_class=per_class,
        n_images=len(items),
        ids=list(items.ids),
        labels=labels,
        scores=scores,
    )


__all__ = [
    "BUILTIN_PROMPTS",
    "ZeroShotConfig",
    "class_prototypes",
    "load_prompts",
    "resolve_classes",
    "run_zeroshot",
    "zero_shot_scores",
]
