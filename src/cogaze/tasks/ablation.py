"""Ablations (issue 9 item 3): each CoGaze variant pretrained over several seeds, scored with the demo's
scorers (gaze alignment, retrieval P@1, zero-shot and linear-probe AUROC), means with 95 % CIs.

The variants (:data:`VARIANTS`) and the per-run scoring (:mod:`cogaze.tasks.phantom_scores`) are
shared with the demo; this module runs them on any dataset folder from a pretraining config and writes
``ablations.json`` and ``ablations.csv``.
"""

from __future__ import annotations

import csv
import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cogaze.errors import ConfigError
from cogaze.io import atomic_path
from cogaze.logs import Progress
from cogaze.metrics.stats import mean_ci

log = logging.getLogger("cogaze.ablation")

TOKENIZER_VOCAB = 2000
"""Vocabulary of the tokenizer trained when none is given (the demo's size)."""

CSV_COLUMNS = ("variant", "metric", "mean", "ci_low", "ci_high", "n")

VARIANTS: dict[str, list[str]] = {
    "CoGaze (full)": [],
    "without gaze": ["model.loss.gaze=none"],
    "without context": ["model.use_context=false"],
    "single positive": ["model.loss.single_positive=true"],
    "gaze as binary mask": ["model.loss.gaze=bce_mask"],
}
"""Ablation name -> pretraining overrides (the paper's ablations)."""


def variant_slug(name: str) -> str:
    """Folder name of an ablation variant: ``"CoGaze (full)"`` -> ``"cogaze-full"``."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def resolve_variants(names: Sequence[str] | None) -> list[str]:
    """Canonical variant names (keys of VARIANTS) for names or slugs, case-insensitive; all for None/empty."""
    if not names:
        return list(VARIANTS)
    lookup = {k.lower(): k for k in VARIANTS} | {variant_slug(k): k for k in VARIANTS}
    out: list[str] = []
    for name in names:
        key = lookup.get(name.strip().lower()) or lookup.get(variant_slug(name))
        if key is None:
            valid = ", ".join(f"{variant_slug(k)} ({k!r})" for k in VARIANTS)
            raise ConfigError(f"unknown ablation variant {name!r}; valid: {valid}")
        if key not in out:
            out.append(key)
    return out


def summarise(values: Sequence[float], confidence: float = 0.95) -> dict[str, float | int]:
    """Mean and Student-t confidence interval over seeds; with one value the interval is [mean, mean]
    (no spread can be estimated from a single seed). NaN values are left out of the count."""
    finite = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not finite:
        return {"mean": float("nan"), "ci_low": float("nan"), "ci_high": float("nan"), "n": 0}
    mean, half = mean_ci(finite, confidence)
    half = 0.0 if math.isnan(half) else half
    return {"mean": mean, "ci_low": mean - half, "ci_high": mean + half, "n": len(finite)}


@dataclass
class AblationResult:
    """Per-run scores ``runs[variant][seed index] = {metric: value}`` and their summary
    ``summary[variant][metric] = {mean, ci_low, ci_high, n}``."""

    runs: dict[str, list[dict[str, float]]] = field(default_factory=dict)
    summary: dict[str, dict[str, dict[str, float | int]]] = field(default_factory=dict)
    seeds: list[int] = field(default_factory=list)
    epochs: int = 0
    config: str = ""
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"runs": self.runs, "summary": self.summary, "seeds": self.seeds, "epochs": self.epochs,
                "config": self.config, "note": self.note}

    def rows(self) -> list[dict[str, Any]]:
        """One CSV row per (variant, metric)."""
        return [{"variant": v, "metric": m, **s} for v, per in self.summary.items() for m, s in per.items()]

    def write(self, out_dir: str | Path) -> tuple[Path, Path]:
        """Write ``ablations.json`` and ``ablations.csv`` atomically; returns their paths."""
        from cogaze.tasks.results import write_json_atomic

        out = Path(out_dir)
        js = write_json_atomic(self.to_dict(), out / "ablations.json")
        path = out / "ablations.csv"
        with atomic_path(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(CSV_COLUMNS))
            writer.writeheader()
            writer.writerows(self.rows())
        return js, path

    def table(self, digits: int = 3) -> str:
        """Variants x metrics, each cell ``mean [low, high]``."""
        from cogaze.tasks.results import format_table

        metrics: list[str] = []
        for per in self.summary.values():
            metrics.extend(m for m in per if m not in metrics)
        rows = []
        for variant, per in self.summary.items():
            cells = []
            for m in metrics:
                s = per.get(m)
                cells.append("-" if s is None or not s["n"] else
                             f"{s['mean']:.{digits}f} [{s['ci_low']:.{digits}f}, {s['ci_high']:.{digits}f}]")
            rows.append([variant, *cells])
        return format_table(["variant", *metrics], rows)


def run_ablations(data_dir: str | Path, out_dir: str | Path, config_path: str | Path | None = None,
                  tokenizer_dir: str | Path | None = None, seeds: int = 3, epochs: int = 6,
                  variants: Sequence[str] | None = None, overrides: Sequence[str] = (),
                  probe_epochs: int | None = None) -> AblationResult:
    """Pretrain every variant x seed into ``out_dir/<variant-slug>/seed-<k>`` (``trainer.seed`` = the
    config's seed + k), score each run and write ``ablations.json`` / ``ablations.csv``.

    ``config_path`` defaults to the shipped ``pretrain/phantom-tiny.yaml`` (its frozen backbone folder,
    ``model.vision.source``, must exist: ``cogaze backbone train``); without ``tokenizer_dir`` a
    tokenizer is trained on the dataset's train split (as the demo does) into ``out_dir/tokenizer``.
    ``overrides`` are dotlist settings applied to every run before the variant's own.
    ``probe_epochs`` sets the linear-probe epochs of the scoring (default: the demo's). The runs share one
    gaze cache and one feature cache under ``out_dir/caches`` (fingerprinted: a variant whose inputs
    differ rebuilds them).
    """
    from cogaze.config import load_config
    from cogaze.data.dataset import load_dataset
    from cogaze.resources import config_path as shipped
    from cogaze.tasks.phantom_scores import ScoringSetup, score_run
    from cogaze.tasks.pretrain.config import PretrainConfig
    from cogaze.tasks.pretrain.pipeline import pretrain

    if seeds < 1 or epochs < 1:
        raise ConfigError(f"seeds ({seeds}) and epochs ({epochs}) must be at least 1")
    names = resolve_variants(variants)
    cfg_file = Path(config_path) if config_path else shipped("pretrain/phantom-tiny.yaml")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    records = load_dataset(data_dir).records
    setup = ScoringSetup(records=records, data_dir=Path(data_dir))
    if probe_epochs is not None:
        setup.probe_epochs = probe_epochs
    if tokenizer_dir is None:
        from cogaze.models.tokenizer import train_tokenizer

        texts = [t for r in records.split("train") for t in (r.findings, r.indication, r.history) if t]
        tokenizer_dir = out / "tokenizer"
        train_tokenizer(texts, tokenizer_dir, vocab_size=TOKENIZER_VOCAB)
    common = [f"model.tokenizer={tokenizer_dir}", *overrides, f"trainer.max_epochs={epochs}"]
    base_seed = load_config(PretrainConfig, cfg_file, common).trainer.seed  # bad overrides fail here, early
    result = AblationResult(seeds=[base_seed + k for k in range(seeds)], epochs=epochs, config=str(cfg_file))
    if seeds == 1:
        result.note = "one seed per variant: the intervals are [mean, mean] (no spread can be estimated)"
    progress = Progress(len(names) * seeds, "ablation run", log.info)
    for v, name in enumerate(names):
        for k in range(seeds):
            seed = base_seed + k
            run_dir = out / variant_slug(name) / f"seed-{k}"
            progress.step(v * seeds + k, f"now '{name}', seed {seed} -> {run_dir}")
            cfg = load_config(PretrainConfig, cfg_file, [*common, *VARIANTS[name], f"trainer.seed={seed}"])
            pretrain(cfg, data_dir, run_dir, gaze_cache=out / "caches" / "gaze.safetensors", records=records,
                     feature_cache=out / "caches" / "vision_features")
            setup.seed = seed  # scoring draws (retrieval sample, probe init) follow the run's seed
            scores = {m: float(v) for m, v in score_run(run_dir, setup).items()}
            result.runs.setdefault(name, []).append(scores)
    progress.step(len(names) * seeds, "every variant scored")
    for name, runs in result.runs.items():
        metrics: list[str] = []
        for r in runs:
            metrics.extend(m for m in r if m not in metrics)
        result.summary[name] = {m: summarise([r.get(m, float("nan")) for r in runs]) for m in metrics}
    result.write(out)
    return result
