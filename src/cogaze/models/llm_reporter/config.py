"""Configuration of the LLM + LoRA report generator."""

from __future__ import annotations

from dataclasses import dataclass, field

from cogaze.config import help_field


@dataclass
class LLMConfig:
    """Spec 5.2 (free text) / 5.3 (structured): LoRA on q/v, a one-layer adapter, everything of cogaze frozen."""

    lm: str = help_field("meta-llama/Llama-3.2-3B-Instruct", help="causal LM: local directory or hub id")
    task: str = help_field("findings", help="'findings' (the paper prompt) or 'structured' (SRRG prompt, the paper)")
    lora_r: int = help_field(16, help="LoRA rank", ge=1)
    lora_alpha: int = help_field(16, help="LoRA alpha", ge=1)
    lora_dropout: float = help_field(0.1, help="LoRA dropout", ge=0, lt=1)
    lora_targets: list[str] = help_field(
        default_factory=list, help="module names LoRA is applied to; empty = the attention's query and value "
        "projections of the LM's architecture (q_proj, v_proj for Llama as the paper; c_attn for GPT-2)"
    )
    prompt_format: str = help_field(
        "auto", help="'auto' (the tokenizer's chat template when it has one, else the Llama-3 format), "
        "'template' (require the chat template) or 'llama3' (the markers in `chat`)")
    adapter_lr_divisor: float = help_field(5.0, help="the adapter trains at lr / this (reference code)", gt=0)
    num_beams: int = help_field(3, help="beam width at generation (the paper: 3)", ge=1)
    max_new_tokens: int = help_field(100, help="maximum generated tokens (the paper: 100)", ge=1)
    min_new_tokens: int = help_field(0, help="minimum generated tokens (reference code: 80)", ge=0)
    max_similar_tokens: int = help_field(100, help="the similar report keeps its last this-many tokens", ge=0)
    max_text_tokens: int = help_field(400, help="cap on the prompt text after the image tokens", ge=1)
    context_window: int = help_field(
        0, help="maximum sequence length (prompt + image tokens + target); 0 = the LM's max_position_embeddings"
    , ge=0)
    disease_threshold: float = help_field(0.5, help="sigmoid(logit) >= this -> disease named in the prompt", ge=0, le=1)
    use_similar_case: bool = help_field(True, help="put the retrieved similar case into the prompt")
    use_diseases: bool = help_field(True, help="put the predicted diseases into the prompt")
    chat: dict[str, str] = field(
        default_factory=lambda: {
            "begin": "<|begin_of_text|>",
            "header_start": "<|start_header_id|>",
            "header_end": "<|end_header_id|>",
            "end_of_turn": "<|eot_id|>",
        },
        metadata={"help": "marker strings of the Llama-3 format (prompt_format=llama3, or a tokenizer without a chat "
                          "template); keys begin, header_start, header_end, end_of_turn"},
    )
