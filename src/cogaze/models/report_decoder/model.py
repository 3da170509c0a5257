"""GPT2LMHeadModel with cross-attention over vision latents; teacher forcing and cached beam search.

The decoder reads the encoder's latents (B, m, D) as ``encoder_hidden_states`` (all positions
attended, no mask: spec 5.1). A linear projection maps D to the decoder width when they differ.
Generation is transformers' ``generate`` (beam search and KV cache come from there).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from transformers import GPT2Config, GPT2LMHeadModel

from cogaze.errors import ConfigError
from cogaze.models.report_decoder.config import DecoderConfig

DISTILGPT2_SIZES: dict[str, Any] = {"n_layer": 6, "n_head": 12, "n_embd": 768, "n_positions": 1024}
"""distilgpt2's published config.json sizes (so the paper config builds without a download)."""


def build_gpt2_config(cfg: DecoderConfig, vocab_size: int, bos_id: int, eos_id: int, pad_id: int) -> GPT2Config:
    """The GPT-2 config of ``cfg`` with cross-attention, our vocabulary and special ids."""
    special: dict[str, Any] = {"bos_token_id": bos_id, "eos_token_id": eos_id, "pad_token_id": pad_id}
    if cfg.gpt2 == "tiny":
        sizes: dict[str, Any] = {"n_layer": cfg.n_layer, "n_head": cfg.n_head, "n_embd": cfg.n_embd, "n_positions": cfg.n_positions}
        config = GPT2Config(vocab_size=vocab_size, **sizes, **special)
    elif cfg.gpt2 == "distilgpt2" and not Path(cfg.gpt2).exists():
        config = GPT2Config(vocab_size=vocab_size, **DISTILGPT2_SIZES, **special)
    else:
        try:
            config = GPT2Config.from_pretrained(cfg.gpt2)
        except (OSError, ValueError) as err:
            raise ConfigError(f"decoder.gpt2={cfg.gpt2!r}: cannot read a GPT-2 config there ({err})") from None
        config.vocab_size = vocab_size
        for key, value in special.items():
            setattr(config, key, value)
    config.add_cross_attention = True
    return config


class ReportDecoder(nn.Module):
    """GPT-2 decoder conditioned on vision latents by cross-attention."""

    def __init__(self, gpt2_config: GPT2Config, latent_dim: int, pretrained_from: str | None = None):
        super().__init__()
        if pretrained_from is not None:
            self.gpt2 = GPT2LMHeadModel.from_pretrained(pretrained_from, config=gpt2_config, ignore_mismatched_sizes=True)
        else:
            self.gpt2 = GPT2LMHeadModel(gpt2_config)
        width = gpt2_config.n_embd
        self.project = nn.Identity() if latent_dim == width else nn.Linear(latent_dim, width)
        self.latent_dim = latent_dim

    @property
    def config(self) -> GPT2Config:
        return self.gpt2.config

    def memory(self, latents: Tensor) -> Tensor:
        """(B, m, D) latents -> (B, m, n_embd) cross-attention memory."""
        return self.project(latents)

    def forward(self, latents: Tensor, input_ids: Tensor, attention_mask: Tensor, labels: Tensor | None = None):
        """Teacher-forced pass: (logits (B, L, V), mean token cross-entropy or None).

        ``labels`` are already aligned with ``input_ids`` (labels[t] is the token after input t, -100 =
        ignored), so the loss is computed here rather than by GPT2LMHeadModel, which would shift again.
        """
        logits = self.gpt2(
            input_ids=input_ids,
            attention_mask=attention_mask,
            encoder_hidden_states=self.memory(latents),
            use_cache=False,
        ).logits
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits.flatten(0, 1).float(), labels.flatten(), ignore_index=-100)
        return logits, loss

    @torch.no_grad()
    def generate(
        self,
        latents: Tensor,
        prompt_ids: Tensor,
        num_beams: int = 10,
        max_new_tokens: int = 100,
        use_cache: bool = True,
        no_repeat_ngram_size: int = 0,
        length_penalty: float = 1.0,
    ) -> Tensor:
        """Beam search (greedy when ``num_beams`` is 1); returns (B, T) ids after the prompt."""
        batch = latents.shape[0]
        ids = prompt_ids.to(latents.device).expand(batch, -1).contiguous()
        # length_penalty only means something to beam search: passed to greedy decoding, transformers
        # warns that the flag is invalid.
        beam_only = {"length_penalty": length_penalty} if num_beams > 1 else {}
        out = self.gpt2.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            encoder_hidden_states=self.memory(latents),
            num_beams=num_beams,
            do_sample=False,
            max_new_tokens=max_new_tokens,
            use_cache=use_cache,
            no_repeat_ngram_size=no_repeat_ngram_size or None,
            pad_token_id=self.config.pad_token_id,
            eos_token_id=self.config.eos_token_id,
            **beam_only,
        )
        return out[:, ids.shape[1] :]

    def parameter_groups(self, lr: float, multiplier: float = 10.0) -> list[dict]:
        """AdamW groups: the GPT-2 decoder at ``lr * multiplier``, the rest (projection) at ``lr`` (spec 5.1)."""
        decoder = [p for p in self.gpt2.parameters() if p.requires_grad]
        rest = [p for p in self.project.parameters() if p.requires_grad]
        groups = [{"params": decoder, "lr": lr * multiplier, "name": "decoder"}]
        if rest:
            groups.append({"params": rest, "lr": lr, "name": "rest"})
        return groups
