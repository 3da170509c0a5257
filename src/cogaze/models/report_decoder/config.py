"""Configuration of the GPT-2 report decoder."""

from __future__ import annotations

from dataclasses import dataclass

from cogaze.config import help_field


@dataclass
class DecoderConfig:
    """The DistilGPT2-style decoder of spec 5.1 (random init by default, spec D10)."""

    gpt2: str = help_field(
        "tiny",
        help="GPT-2 config source: 'tiny' (the sizes below), 'distilgpt2' (built-in DistilGPT2 sizes, "
        "no download), a local directory or a hub id holding a GPT-2 config.json",
    )
    init: str = help_field(
        "random", help="'random' (the paper default) or 'pretrained' (load GPT-2 weights from `gpt2`; ablation)"
    )
    n_layer: int = help_field(2, help="layers of the 'tiny' config", ge=1)
    n_head: int = help_field(2, help="attention heads of the 'tiny' config", ge=1)
    n_embd: int = help_field(64, help="width of the 'tiny' config", ge=1)
    n_positions: int = help_field(256, help="positions of the 'tiny' config", ge=2)
    max_target_tokens: int = help_field(200, help="training target length in tokens, BOS and EOS included (the paper)",
                                        ge=2)
    num_beams: int = help_field(10, help="beam width at generation (the paper: 10)", ge=1)
    no_repeat_ngram_size: int = help_field(
        0, help="block any n-gram of this size from repeating in a generated report (0 = off, spec: off; "
        "the phantom config uses 4 against 'of evidence of evidence' loops of tiny decoders)", ge=0)
    max_new_tokens: int = help_field(100, help="maximum generated tokens after the start token (the paper: 100 in total)",
                                     ge=1)
    length_penalty: float = help_field(
        1.0, help="beam search scores a hypothesis as log-probability / length ** this (transformers' "
        "length_penalty; 1.0 = the reference code's default; > 1 favours longer reports)", ge=-10, le=10)
    reference_max_tokens: int = help_field(
        100, help="references are cut to this many tokens (start token included) before scoring (the paper); 0 = off"
    , ge=0)
    prompt: str = help_field(
        "", help="text after the start token that every target begins with (e.g. '' for findings, a tag for SRRG)"
    )
