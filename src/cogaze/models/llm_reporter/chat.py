"""How a causal LM wants its conversation serialised, and which of its modules LoRA adapts.

:func:`chat_format`: the tokenizer's own chat template (``tokenizer.apply_chat_template``) when it has
one, else the Llama-3 serialisation with the marker strings of ``LLMConfig.chat`` (``llm.prompt_format``
forces either). The conversation is rendered once as text with sentinel strings where the image tokens
and the similar report go, then cut there, so one code path serves every template. The end-of-turn
token (what a target ends with, and where generation stops) is read off the template too.

:func:`lora_targets`: ``llm.lora_targets`` when given (checked against the model), else peft's
per-architecture table of attention projections (``q_proj``/``v_proj`` for Llama and Qwen2, the fused
``c_attn`` for GPT-2, ...), else the query/value (or fused qkv) linear layers found by name.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from torch import nn

from cogaze.errors import ConfigError
from cogaze.models.llm_reporter.config import LLMConfig

log = logging.getLogger("cogaze.report")

IMAGE = "<<cogaze-image>>"
SIMILAR = "<<cogaze-similar-report>>"
_TARGET = "<<cogaze-target>>"
FORMATS = ("auto", "template", "llama3")


@dataclass(frozen=True)
class ChatFormat:
    """One way of serialising (system, user) + an assistant turn."""

    kind: str  # "template" or "llama3"
    end_of_turn: str  # text closing the assistant turn (a target ends with it)
    eot_id: int  # its token id: generation stops there

    def render(self, tokenizer, cfg: LLMConfig, system: str, user: str) -> str:  # noqa: ANN001
        """The prompt text up to where the assistant's answer starts."""
        if self.kind == "llama3":
            c = cfg.chat
            hs, he, eot = c["header_start"], c["header_end"], c["end_of_turn"]
            return f"{c['begin']}{hs}system{he}\n\n{system}{eot}\n{hs}user{he}\n\n{user}{eot}\n{hs}assistant{he}\n\n"
        return _apply(tokenizer, system, user, None)


def _apply(tokenizer, system: str, user: str, answer: str | None) -> str:  # noqa: ANN001
    """``apply_chat_template`` as text; a template that refuses a system turn gets it in the user turn."""
    def messages(with_system: bool) -> list[dict[str, str]]:
        turns = [{"role": "system", "content": system}, {"role": "user", "content": user}] if with_system else \
            [{"role": "user", "content": f"{system}\n\n{user}"}]
        return turns + ([{"role": "assistant", "content": answer}] if answer is not None else [])

    kwargs = {"tokenize": False, "add_generation_prompt": answer is None}
    try:
        return tokenizer.apply_chat_template(messages(True), **kwargs)
    except Exception:  # noqa: BLE001 - jinja raises its own errors for "system role not supported"
        pass
    try:
        return tokenizer.apply_chat_template(messages(False), **kwargs)
    except Exception as err:  # noqa: BLE001 - a broken template: one clear message
        raise ConfigError(f"the tokenizer's chat template fails ({type(err).__name__}: {err}); "
                          "use llm.prompt_format=llama3") from None


def chat_format(tokenizer, cfg: LLMConfig) -> ChatFormat:  # noqa: ANN001
    """The serialisation ``cfg.prompt_format`` asks for (``auto``: the tokenizer's template when it has one)."""
    if cfg.prompt_format not in FORMATS:
        raise ConfigError(f"llm.prompt_format must be one of {', '.join(FORMATS)}, got {cfg.prompt_format!r}")
    has_template = bool(getattr(tokenizer, "chat_template", None))
    if cfg.prompt_format == "template" and not has_template:
        raise ConfigError(f"llm.prompt_format=template but the tokenizer of {cfg.lm!r} has no chat template")
    if cfg.prompt_format == "llama3" or not has_template:
        eot = cfg.chat["end_of_turn"]
        eot_id = tokenizer.convert_tokens_to_ids(eot)
        if eot_id is None or eot_id == tokenizer.unk_token_id:
            raise ConfigError(f"the tokenizer of {cfg.lm!r} has no chat template and no end-of-turn token {eot!r} "
                              "for the Llama-3 format (llm.chat.end_of_turn)")
        return ChatFormat("llama3", eot, int(eot_id))
    full = _apply(tokenizer, "S", "U", _TARGET)
    if _TARGET not in full:
        raise ConfigError(f"the chat template of {cfg.lm!r} drops the assistant's answer; use llm.prompt_format=llama3")
    after = full.split(_TARGET, 1)[1]
    ids = tokenizer(after, add_special_tokens=False)["input_ids"] if after else []
    special = set(tokenizer.all_special_ids) | set(getattr(tokenizer, "added_tokens_decoder", {}) or {})
    first = next((i for i in ids if i in special), None)
    if first is None:  # the template closes the turn with no token of its own: end with EOS
        if tokenizer.eos_token_id is None:
            raise ConfigError(f"the chat template of {cfg.lm!r} has no end-of-turn token and the tokenizer no EOS")
        first = int(tokenizer.eos_token_id)
    return ChatFormat("template", tokenizer.convert_ids_to_tokens(int(first)), int(first))


# Name-based discovery for architectures peft has no table for (the attention's query and value
# projections, or a fused query-key-value projection).
_QUERY = re.compile(r"(?:^|\.)(q_proj|query|q|wq|q_lin)$")
_VALUE = re.compile(r"(?:^|\.)(v_proj|value|v|wv|v_lin)$")
_FUSED = re.compile(r"(?:^|\.)(c_attn|qkv_proj|query_key_value|Wqkv|qkv|W_pack)$")


def lora_targets(model: nn.Module, cfg: LLMConfig) -> list[str]:
    """The module names LoRA adapts (see the module docstring); a ConfigError lists the choices when none fit."""
    linear = [n for n, m in model.named_modules() if _is_projection(m)]
    leaves = sorted({n.rsplit(".", 1)[-1] for n in linear})
    if cfg.lora_targets:
        absent = [t for t in cfg.lora_targets if t not in leaves]
        if absent:
            raise ConfigError(f"llm.lora_targets {absent} are no linear layers of {cfg.lm!r}; its linear layers: "
                              f"{', '.join(leaves)}")
        return list(cfg.lora_targets)
    from peft.utils import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as TABLE

    model_type = getattr(getattr(model, "config", None), "model_type", "")
    found = [t for t in TABLE.get(model_type, []) if t in leaves]
    if not found:
        query, value, fused = (sorted({m.group(1) for n in linear if (m := rx.search(n))})
                               for rx in (_QUERY, _VALUE, _FUSED))
        found = query + value if query and value else fused
    if not found:
        raise ConfigError(f"cannot tell which layers of {cfg.lm!r} ({model_type}) are the attention's query and value "
                          f"projections: set llm.lora_targets (its linear layers: {', '.join(leaves)})")
    log.info("LoRA on %s (%s, from its architecture)", ", ".join(found), model_type or type(model).__name__)
    return found


def _is_projection(module: nn.Module) -> bool:
    """A linear layer LoRA can adapt: nn.Linear or transformers' GPT-2 Conv1D."""
    return isinstance(module, nn.Linear) or type(module).__name__ == "Conv1D"
