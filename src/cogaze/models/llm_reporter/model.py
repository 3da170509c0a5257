"""A causal LM with LoRA (peft) that reads vision latents through a one-layer adapter (spec 5.2).

The adapter maps each (frozen) vision latent to one soft token in the LM's embedding space; the
soft tokens sit between the prompt prefix and suffix built by :func:`build_prompt`. Only the
adapter and the LoRA matrices train. Training batches are right-padded, generation batches
left-padded (so every prompt ends where generation starts).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from cogaze.errors import ConfigError
from cogaze.models.llm_reporter.config import LLMConfig
from cogaze.models.llm_reporter.prompt import PromptIds


def lora_config(cfg: LLMConfig):
    """The peft LoraConfig of ``cfg`` (causal LM, no bias)."""
    from peft import LoraConfig

    return LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                      target_modules=list(cfg.lora_targets), bias="none", task_type="CAUSAL_LM")


class LLMReporter(nn.Module):
    """LoRA-adapted causal LM + vision adapter. ``lm`` is a transformers causal LM (not yet peft-wrapped)."""

    def __init__(self, lm: nn.Module, latent_dim: int, cfg: LLMConfig, pad_id: int, eot_id: int):
        super().__init__()
        from peft import get_peft_model

        for p in lm.parameters():
            p.requires_grad_(False)
        self.lm = get_peft_model(lm, lora_config(cfg))
        hidden = int(getattr(lm.config, "hidden_size"))  # noqa: B009  # lm is a transformers PreTrainedModel
        self.adapter = nn.Linear(latent_dim, hidden)
        self.cfg = cfg
        self.pad_id, self.eot_id = pad_id, eot_id

    @property
    def context_window(self) -> int:
        return self.cfg.context_window or int(getattr(self.lm.config, "max_position_embeddings", 0) or 0)

    def parameter_groups(self, lr: float) -> list[dict]:
        """LoRA at ``lr``, the adapter at ``lr / adapter_lr_divisor`` (reference code)."""
        lora = [p for p in self.lm.parameters() if p.requires_grad]
        return [{"params": lora, "lr": lr, "name": "lora"},
                {"params": list(self.adapter.parameters()), "lr": lr / self.cfg.adapter_lr_divisor, "name": "adapter"}]

    def _sequence(self, latents: Tensor, prompt: PromptIds, with_target: bool) -> tuple[Tensor, Tensor]:
        """(T, H) embeddings and (T,) labels (-100 except the target) of one example."""
        embed = self.lm.get_input_embeddings()
        device = latents.device
        if latents.shape[0] != prompt.n_visual:
            raise ConfigError(f"prompt built for {prompt.n_visual} visual tokens, latents have {latents.shape[0]}")
        before = torch.tensor(prompt.prefix, dtype=torch.long, device=device)
        after = torch.tensor(prompt.suffix + (prompt.target if with_target else []), dtype=torch.long, device=device)
        visual = self.adapter(latents).to(embed.weight.dtype)
        seq = torch.cat([embed(before), visual, embed(after)], dim=0)
        labels = torch.full((seq.shape[0],), -100, dtype=torch.long, device=device)
        if with_target and prompt.target:
            labels[-len(prompt.target) :] = torch.tensor(prompt.target, device=device)
        return seq, labels

    def _batch(self, latents: Tensor, prompts: Sequence[PromptIds], with_target: bool, left: bool):
        rows = [self._sequence(latents[i], p, with_target) for i, p in enumerate(prompts)]
        width = max(r[0].shape[0] for r in rows)
        hidden = rows[0][0].shape[1]
        pad_vec = self.lm.get_input_embeddings()(torch.tensor([self.pad_id], device=latents.device))[0]
        embeds = pad_vec.expand(len(rows), width, hidden).clone()
        mask = torch.zeros(len(rows), width, dtype=torch.long, device=latents.device)
        labels = torch.full((len(rows), width), -100, dtype=torch.long, device=latents.device)
        for i, (seq, lab) in enumerate(rows):
            n = seq.shape[0]
            span = slice(width - n, width) if left else slice(0, n)
            embeds[i, span] = seq
            mask[i, span] = 1
            labels[i, span] = lab
        return embeds, mask, labels

    def forward(self, latents: Tensor, prompts: Sequence[PromptIds]) -> Tensor:
        """Mean cross-entropy over the target tokens (+ end of turn) of a batch."""
        embeds, mask, labels = self._batch(latents, prompts, with_target=True, left=False)
        logits = self.lm(inputs_embeds=embeds, attention_mask=mask).logits
        # position t predicts token t+1: shift here (labels are aligned with the inputs)
        return nn.functional.cross_entropy(logits[:, :-1].flatten(0, 1).float(), labels[:, 1:].flatten(),
                                           ignore_index=-100)

    @torch.no_grad()
    def generate(self, latents: Tensor, prompts: Sequence[PromptIds], num_beams: int | None = None,
                 max_new_tokens: int | None = None, use_cache: bool = True) -> list[list[int]]:
        """New token ids per example (stopped at end of turn, which is dropped)."""
        embeds, mask, _ = self._batch(latents, prompts, with_target=False, left=True)
        out = self.lm.generate(
            inputs_embeds=embeds, attention_mask=mask, do_sample=False,
            num_beams=num_beams or self.cfg.num_beams, max_new_tokens=max_new_tokens or self.cfg.max_new_tokens,
            min_new_tokens=self.cfg.min_new_tokens, eos_token_id=self.eot_id, pad_token_id=self.pad_id,
            use_cache=use_cache,
        )
        rows = []
        for row in out.tolist():
            if self.eot_id in row:
                row = row[: row.index(self.eot_id)]
            rows.append([t for t in row if t != self.pad_id])
        return rows


def load_llm_reporter(cfg: LLMConfig, latent_dim: int, tokenizer=None, dtype: torch.dtype | None = None):
    """Load ``cfg.lm`` (local dir or hub id) and its tokenizer, and wrap them; returns (reporter, tokenizer)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = tokenizer or AutoTokenizer.from_pretrained(cfg.lm)
        lm = AutoModelForCausalLM.from_pretrained(cfg.lm, dtype=dtype) if dtype else AutoModelForCausalLM.from_pretrained(cfg.lm)
    except (OSError, ValueError) as err:
        raise ConfigError(f"llm.lm={cfg.lm!r}: cannot load a causal LM there ({err})") from None
    eot = cfg.chat["end_of_turn"]
    eot_id = tokenizer.convert_tokens_to_ids(eot)
    if eot_id is None or eot_id == tokenizer.unk_token_id:
        raise ConfigError(f"the tokenizer of {cfg.lm!r} has no end-of-turn token {eot!r} (llm.chat.end_of_turn)")
    pad = "<|finetune_right_pad_id|>" if "<|finetune_right_pad_id|>" in tokenizer.get_vocab() else tokenizer.pad_token
    pad_id = tokenizer.convert_tokens_to_ids(pad) if pad is not None else eot_id
    return LLMReporter(lm, latent_dim, cfg, pad_id=pad_id, eot_id=eot_id), tokenizer


def paper_lora_counts() -> dict[str, int]:
    """Trainable / total parameters of the spec-2.8 LoRA config (Llama-3.2-3B dims) on the meta device."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(hidden_size=3072, num_hidden_layers=28, num_attention_heads=24, num_key_value_heads=8,
                         head_dim=128, intermediate_size=8192, vocab_size=128_256, tie_word_embeddings=True,
                         max_position_embeddings=131_072)
    with torch.device("meta"):
        reporter = LLMReporter(LlamaForCausalLM(config), 768, LLMConfig(), pad_id=0, eot_id=1)
    trainable = sum(p.numel() for p in reporter.parameters() if p.requires_grad)
    lora = sum(p.numel() for n, p in reporter.named_parameters() if "lora_" in n)
    total = sum(p.numel() for p in reporter.parameters())
    return {"lora": lora, "adapter": trainable - lora, "trainable": trainable, "total": total}
