"""Training a report generator on frozen-encoder features and writing generated reports.

A plain loop rather than Lightning: the encoder is frozen and its features are precomputed once,
so a step is one decoder forward/backward and model selection needs generation, which is simplest
to keep in the same loop.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from cogaze.config import save_config
from cogaze.data.records import CHEXPERT_CLASSES
from cogaze.errors import ConfigError, Problems
from cogaze.logs import Progress
from cogaze.models.interface import VisionLanguageEncoder
from cogaze.models.llm_reporter import build_prompt, load_llm_reporter
from cogaze.models.report_decoder import ReportDecoder, TextCodec, build_gpt2_config
from cogaze.tasks.checkpoints import save_safetensors, verify_safetensors
from cogaze.tasks.report_generation.baselines import nearest_training_index, predicted_diseases
from cogaze.tasks.report_generation.config import ReportGenConfig
from cogaze.tasks.report_generation.items import (
    MEMORIES,
    FeatureBank,
    ReportItem,
    drop_empty_targets,
    precompute_features,
)
from cogaze.tasks.report_generation.output import write_reports_csv
from cogaze.tasks.report_generation.selection import (
    SelectionMetric,
    bleu4_plus_ce_f1,
    structured_bleu_plus_section_ce,
)

log = logging.getLogger("cogaze.report")
TASKS: tuple[str, ...] = ("findings", "structured")


@dataclass
class ReportGenerator:
    """A trained model with what generation needs (tokenizer, training bank for similar cases)."""

    config: ReportGenConfig
    model: Any  # ReportDecoder or LLMReporter
    tokenizer: Any
    train_bank: FeatureBank
    train_subjects: list[str]
    train_targets: list[str]

    def _prompts(self, feats: FeatureBank, subjects: Sequence[str], targets: Sequence[str] | None):
        cfg = self.config.llm
        sim = nearest_training_index(feats.pooled, subjects, self.train_bank.pooled, self.train_subjects)
        dis = predicted_diseases(feats.logits, cfg.disease_threshold, CHEXPERT_CLASSES) or [[] for _ in subjects]
        window = self.model.context_window
        chat = getattr(self.model, "chat", None)
        return [build_prompt(self.tokenizer, cfg, feats.latents.shape[1],
                             None if s is None else self.train_targets[s], dis[i],
                             None if targets is None else targets[i], window, chat) for i, s in enumerate(sim)]

    @property
    def structured(self) -> bool:
        """Structured reports (SRRG): line breaks are part of the text and survive decoding."""
        return self.config.task == "structured"

    def codec(self) -> TextCodec:
        dcfg = self.config.decoder
        return TextCodec(self.tokenizer, dcfg.prompt, dcfg.max_target_tokens, keep_newlines=self.structured)

    def loss(self, feats: FeatureBank, subjects: Sequence[str], targets: Sequence[str]) -> torch.Tensor:
        if self.config.variant == "llm":
            return self.model(feats.latents, self._prompts(feats, subjects, targets))
        return self.model(feats.latents, **self.codec().encode_targets(targets))[1]

    @torch.no_grad()
    def generate(self, feats: FeatureBank, subjects: Sequence[str], num_beams: int | None = None) -> list[str]:
        """Generated reports (ASCII-cleaned) for the rows of ``feats``."""
        self.model.eval()
        if self.config.variant == "llm":
            from cogaze.models.report_decoder.text import ascii_clean

            rows = self.model.generate(feats.latents, self._prompts(feats, subjects, None), num_beams=num_beams)
            return [ascii_clean(self.tokenizer.decode(r, skip_special_tokens=True), self.structured) for r in rows]
        dcfg = self.config.decoder
        codec = self.codec()
        ids = self.model.generate(feats.latents, codec.prompt_ids(), num_beams or dcfg.num_beams, dcfg.max_new_tokens,
                                  no_repeat_ngram_size=dcfg.no_repeat_ngram_size, length_penalty=dcfg.length_penalty)
        return codec.decode(ids)

    def reference(self, text: str) -> str:
        """The reference as scored (cut to ``decoder.reference_max_tokens`` tokens, spec D26)."""
        return self.codec().truncate_reference(text, self.config.decoder.reference_max_tokens)


@dataclass
class TrainResult:
    generator: ReportGenerator
    best_score: float
    history: list[dict] = field(default_factory=list)
    n_skipped_empty: int = 0


def _subset(bank: FeatureBank, idx: list[int]) -> FeatureBank:
    return FeatureBank(bank.latents[idx], bank.pooled[idx], None if bank.logits is None else bank.logits[idx],
                       bank.memory)


def check_task(config: ReportGenConfig) -> None:
    """The task is 'findings' or 'structured', and the LLM prompt agrees with it."""
    if config.task not in TASKS:
        raise ConfigError(f"task must be one of {', '.join(TASKS)}, got {config.task!r}")
    if config.memory not in MEMORIES:
        raise ConfigError(f"memory must be one of {', '.join(MEMORIES)}, got {config.memory!r}")
    if config.variant == "llm" and config.llm.task != config.task:
        raise ConfigError(f"task={config.task!r} but llm.task={config.llm.task!r}: the LLM prompt must match the task "
                          f"(set llm.task={config.task})")


def init_from_run(model: torch.nn.Module, run_dir: str | Path) -> int:
    """Copy the trained weights of another report-generation run into ``model``; returns how many tensors.

    Every saved tensor must exist in ``model`` with the same shape (same architecture and vocabulary),
    else a ConfigError names the file and the first mismatches.
    """
    from safetensors.torch import load_file

    path = Path(run_dir) / "model.safetensors"
    if not path.is_file():
        raise ConfigError(f"init_from={run_dir}: no model.safetensors there (pass a `cogaze train-report` run folder)")
    verify_safetensors(path)  # the sha256 written with it (files from before checksums pass unverified)
    state = load_file(str(path))
    ours = dict(model.named_parameters())
    bad = [f"{k} {'(not in this model)' if k not in ours else f'{tuple(v.shape)} != {tuple(ours[k].shape)}'}"
           for k, v in state.items() if k not in ours or ours[k].shape != v.shape]
    if bad:
        raise ConfigError(f"{path}: weights do not fit this model ({len(bad)} of {len(state)}: {'; '.join(bad[:3])}); "
                          "the run to initialise from must use the same decoder sizes and tokenizer")
    model.load_state_dict(state, strict=False)
    return len(state)


def _build(config: ReportGenConfig, tokenizer, latent_dim: int):
    check_task(config)
    if config.variant == "decoder":
        codec = TextCodec(tokenizer)
        gcfg = build_gpt2_config(config.decoder, codec.vocab_size, codec.eos_id, codec.eos_id, codec.pad_id)
        pretrained = config.decoder.gpt2 if config.decoder.init == "pretrained" else None
        model = ReportDecoder(gcfg, latent_dim, pretrained_from=pretrained)
        return model, tokenizer, model.parameter_groups(config.train.lr, config.train.decoder_lr_multiplier)
    if config.variant == "llm":
        model, tokenizer = load_llm_reporter(config.llm, latent_dim, tokenizer)
        return model, tokenizer, model.parameter_groups(config.train.lr)
    raise ConfigError(f"variant must be 'decoder' or 'llm', got {config.variant!r}")


def _save(path: Path, model: torch.nn.Module) -> None:
    # trainable parameters only (named_parameters lists a tied weight once; frozen LLM weights stay in the LM)
    state = {k: v.detach().contiguous() for k, v in model.named_parameters() if v.requires_grad}
    save_safetensors(state, path)  # atomically, with the sha256 its loaders check


def train_report_generator(
    config: ReportGenConfig,
    encoder: VisionLanguageEncoder | None,
    train_items: Sequence[ReportItem],
    val_items: Sequence[ReportItem],
    run_dir: str | Path,
    tokenizer=None,
    selection_metric: SelectionMetric | None = None,
    problems: Problems | None = None,
) -> TrainResult:
    """Train, select the best epoch on validation (higher score = better), save it in ``run_dir``.

    Empty training findings are skipped and counted. ``tokenizer`` is any HF tokenizer (required for
    the decoder variant; the LLM variant loads its own when None). Writes ``run_dir/model.safetensors``
    (best epoch, atomically) and ``run_dir/config.yaml``.
    """
    tcfg = config.train
    problems = problems or Problems("skip")
    before = problems.n_skipped
    train_items = drop_empty_targets(train_items, problems)
    n_skipped = problems.n_skipped - before
    if not train_items:
        raise ConfigError("no training item with non-empty findings")
    if tokenizer is None and config.variant == "decoder":
        raise ConfigError("the decoder variant needs a tokenizer (cogaze.models.tokenizer)")
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    save_config(config, run_dir / "config.yaml")
    train_bank = precompute_features(encoder, train_items, tcfg.feature_batch_size, config.memory)
    val_bank = precompute_features(encoder, val_items, tcfg.feature_batch_size, config.memory) if val_items else None
    torch.manual_seed(tcfg.seed)
    model, tokenizer, groups = _build(config, tokenizer, train_bank.latents.shape[-1])
    if config.variant == "llm" and not config.llm.lora_targets:  # record what the architecture chose
        config.llm.lora_targets = list(model.lora_targets)
        save_config(config, run_dir / "config.yaml")
    if config.init_from:
        n = init_from_run(model, config.init_from)
        log.info("initialised %d weight tensors from %s", n, config.init_from)
    tokenizer.save_pretrained(str(run_dir / "tokenizer"))
    gen = ReportGenerator(config, model, tokenizer, train_bank, [it.subject_id for it in train_items],
                          [it.target for it in train_items])
    opt = torch.optim.AdamW(groups, weight_decay=tcfg.weight_decay)
    metric = selection_metric or (structured_bleu_plus_section_ce if config.task == "structured" else bleu4_plus_ce_f1)
    order_gen = torch.Generator().manual_seed(tcfg.seed)
    best, history = float("-inf"), []
    progress = Progress(tcfg.epochs, "report generator epoch", log.info)
    if not 0.0 <= tcfg.validate_from < 1.0:
        raise ConfigError(f"train.validate_from must lie in [0, 1), got {tcfg.validate_from}")
    first_val = min(tcfg.epochs, int(tcfg.validate_from * tcfg.epochs) + 1)  # 1-based; the last epoch always
    for epoch in range(tcfg.epochs):
        model.train()
        losses = []
        idx = torch.randperm(len(train_items), generator=order_gen).tolist()
        for start in range(0, len(train_items), tcfg.batch_size):
            batch = idx[start : start + tcfg.batch_size]
            loss = gen.loss(_subset(train_bank, batch), [gen.train_subjects[i] for i in batch],
                            [gen.train_targets[i] for i in batch])
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        row = {"epoch": epoch, "train_loss": sum(losses) / len(losses)}
        if val_bank is not None and epoch + 1 >= first_val:
            hyps = _generate_all(gen, val_bank, [it.subject_id for it in val_items], tcfg.eval_batch_size)
            row["val_score"] = float(metric(hyps, [gen.reference(it.target) for it in val_items]))
        score = row.get("val_score", -row["train_loss"] if val_bank is None else float("-inf"))
        if score > best:
            best = score
            _save(run_dir / "model.safetensors", model)
        history.append(row)
        progress.step(epoch + 1, f"train loss {row['train_loss']:.4f}"
                      + (f", val score {row['val_score']:.4f}" if "val_score" in row else ""))
    from safetensors.torch import load_file

    model.load_state_dict(load_file(str(run_dir / "model.safetensors")), strict=False)
    return TrainResult(gen, best, history, n_skipped)


def _generate_all(gen: ReportGenerator, bank: FeatureBank, subjects: Sequence[str], batch_size: int,
                  num_beams: int | None = None) -> list[str]:
    out: list[str] = []
    for start in range(0, len(bank), batch_size):
        idx = list(range(start, min(start + batch_size, len(bank))))
        out += gen.generate(_subset(bank, idx), [subjects[i] for i in idx], num_beams)
    return out


def generate_reports(generator: ReportGenerator, encoder: VisionLanguageEncoder | None, items: Sequence[ReportItem],
                     out_csv: str | Path, num_beams: int | None = None, batch_size: int = 16,
                     features: FeatureBank | None = None) -> list[str]:
    """Generate a report per item and write the CSV ``cogaze evaluate reports`` reads (atomically).

    ``features``: the items' encoder features when the caller has them already (else computed here)."""
    bank = features if features is not None else precompute_features(encoder, items, batch_size,
                                                                      generator.config.memory)
    if len(bank) != len(items):
        raise ConfigError(f"features for {len(bank)} items given with {len(items)} items")
    if bank.memory != generator.config.memory:
        raise ConfigError(f"features hold memory={bank.memory!r} latents but the decoder reads "
                          f"memory={generator.config.memory!r}")
    hyps = _generate_all(generator, bank, [it.subject_id for it in items], batch_size, num_beams)
    write_reports_csv(out_csv, [it.dicom_id for it in items], [generator.reference(it.target) for it in items], hyps)
    return hyps


def load_report_generator(run_dir: str | Path, encoder: VisionLanguageEncoder | None,
                          train_items: Sequence[ReportItem], batch_size: int = 16) -> ReportGenerator:
    """Rebuild a trained generator from ``run_dir`` (config.yaml, tokenizer/, model.safetensors).

    ``train_items`` are the training examples (their features are the similar-case bank of the LLM
    variant; empty findings are dropped as in training). Without any, the bank is empty: the decoder
    variant does not use it, and the LLM variant's prompt then states that no similar report is available.
    """
    from safetensors.torch import load_file
    from transformers import AutoTokenizer

    from cogaze.config import load_config

    run_dir = Path(run_dir)
    verify_safetensors(run_dir / "model.safetensors")  # a flipped bit would load and change every report
    config = load_config(ReportGenConfig, run_dir / "config.yaml")
    tokenizer = AutoTokenizer.from_pretrained(str(run_dir / "tokenizer"))
    train_items = drop_empty_targets(train_items)
    if train_items:
        bank = precompute_features(encoder, train_items, batch_size, config.memory)
    else:
        dim = getattr(encoder, "embed_dim", None)
        if not isinstance(dim, int):
            raise ConfigError("loading a report generator without training items needs an encoder (its embed_dim "
                              "is the decoder's latent width)")
        bank = FeatureBank(torch.zeros(0, 1, dim), torch.zeros(0, dim), None, config.memory)
    torch.manual_seed(config.train.seed)
    model, tokenizer, _ = _build(config, tokenizer, bank.latents.shape[-1])
    missing = set(load_file(str(run_dir / "model.safetensors"))) - {n for n, _ in model.named_parameters()}
    if missing:
        raise ConfigError(f"{run_dir / 'model.safetensors'}: unexpected weights {sorted(missing)[:5]}")
    model.load_state_dict(load_file(str(run_dir / "model.safetensors")), strict=False)
    return ReportGenerator(config, model.eval(), tokenizer, bank, [it.subject_id for it in train_items],
                           [it.target for it in train_items])
