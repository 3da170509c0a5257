"""Configuration of a report-generation run."""

from __future__ import annotations

from dataclasses import dataclass, field

from cogaze.config import help_field
from cogaze.models.llm_reporter.config import LLMConfig
from cogaze.models.report_decoder.config import DecoderConfig


@dataclass
class TrainConfig:
    """Optimisation (spec 5.1 defaults; the encoder is frozen, its features computed once)."""

    epochs: int = help_field(30, help="maximum epochs", ge=1)
    batch_size: int = help_field(64, help="examples per step", ge=1)
    lr: float = help_field(5e-5, help="base learning rate (non-decoder parameters); 0 keeps the initial weights "
                          "(e.g. to score an init_from run as it is)", ge=0, le=10)
    decoder_lr_multiplier: float = help_field(10.0, help="the GPT-2 decoder trains at lr x this (the paper)", gt=0)
    weight_decay: float = help_field(0.01, help="AdamW weight decay", ge=0)
    seed: int = help_field(9233, help="seed of initialisation and shuffling", ge=0, le=2**32 - 1)
    eval_batch_size: int = help_field(16, help="examples per generation batch", ge=1)
    validate_from: float = help_field(
        0.0, help="validate (generate the val set, and select the best epoch) only from this fraction of the "
        "epochs on: 0 = every epoch, 0.5 = the second half (early epochs of a decoder trained from scratch are "
        "never its best; generating for them is most of an epoch's time). The last epoch is always validated.",
        ge=0, le=1)
    feature_batch_size: int = help_field(16, help="images per encoder batch when precomputing features", ge=1)


@dataclass
class ReportGenConfig:
    """A report-generation run: 'decoder' (DistilGPT2-style, spec 5.1) or 'llm' (LoRA, spec 5.2)."""

    variant: str = help_field("decoder", help="'decoder' or 'llm'")
    task: str = help_field(
        "findings", help="'findings' (free-text Findings) or 'structured' (SRRG-Findings: headers and '- ' bullets, "
        "line breaks kept; the llm variant then needs llm.task=structured too)")
    init_from: str = help_field(
        "", help="report-generation run folder whose trained weights initialise this run (the paper fine-tunes "
        "the structured decoder from the free-text run); '' = fresh initialisation")
    memory: str = help_field(
        "vision", help="what the report model reads from the encoder: 'vision' (the vision latents) or "
        "'vision+context' (the vision latents followed by the latents that queried the image - context latents, "
        "or the image latent without context: 2 x 128 rows, the paper's decoders, spec 5.1/5.2)")
    decoder: DecoderConfig = field(default_factory=DecoderConfig, metadata={"help": "GPT-2 decoder settings"})
    llm: LLMConfig = field(default_factory=LLMConfig, metadata={"help": "LLM + LoRA settings"})
    train: TrainConfig = field(default_factory=TrainConfig, metadata={"help": "optimisation settings"})
