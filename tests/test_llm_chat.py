"""The LLM reporter with other causal-LM families: their own chat templates, LoRA on their own attention layers."""

from __future__ import annotations

import copy

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel, Qwen2Config, Qwen2ForCausalLM

from cogaze.errors import ConfigError
from cogaze.models.llm_reporter import LLMConfig, build_prompt, load_llm_reporter
from cogaze.models.llm_reporter.chat import chat_format
from cogaze.models.llm_reporter.prompt import FINDINGS_INSTRUCTIONS, FINDINGS_SYSTEM
from report_fixtures import CLASS_REPORTS, tiny_tokenizer

CHATML = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
          "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
# a template of another shape, with no system role (as Gemma's): the system text goes into the user turn
NO_SYSTEM = ("{% for m in messages %}{% if m['role'] == 'system' %}{{ raise_exception('no system role') }}{% endif %}"
             "### {{ m['role'] }}:\n{{ m['content'] }}<|endoftext|>\n{% endfor %}"
             "{% if add_generation_prompt %}### assistant:\n{% endif %}")


def _tokenizer(template: str, extra: list[str] = ()):
    tok = copy.deepcopy(tiny_tokenizer())
    if extra:
        tok.add_special_tokens({"additional_special_tokens": list(extra)})
    tok.chat_template = template
    return tok


@pytest.fixture(scope="module")
def qwen2(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("tiny-qwen2")
    tok = _tokenizer(CHATML, ["<|im_start|>", "<|im_end|>"])
    torch.manual_seed(0)
    Qwen2ForCausalLM(Qwen2Config(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                 num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                                 initializer_range=0.3, tie_word_embeddings=False)).save_pretrained(path)
    tok.save_pretrained(path)
    return str(path)


@pytest.fixture(scope="module")
def gpt2(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("tiny-gpt2")
    tok = _tokenizer(NO_SYSTEM)
    torch.manual_seed(0)
    GPT2LMHeadModel(GPT2Config(vocab_size=len(tok), n_embd=32, n_layer=2, n_head=2, n_positions=1024,
                               initializer_range=0.3)).save_pretrained(path)
    tok.save_pretrained(path)
    return str(path)


def test_prompt_is_the_tokenizers_chat_template(qwen2: str) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(qwen2)
    cfg = LLMConfig(lm=qwen2)
    p = build_prompt(tok, cfg, 4, "The lungs are clear.", ["Edema"], target="Mild edema.")
    user = ("Input:\n1. Image: \n2. Similar report: The lungs are clear.\n3. Predicted diseases: Edema\n"
            + FINDINGS_INSTRUCTIONS)
    expected = tok.apply_chat_template([{"role": "system", "content": FINDINGS_SYSTEM},
                                        {"role": "user", "content": user}], tokenize=False, add_generation_prompt=True)
    assert tok.decode(p.prefix + p.suffix) == expected  # the image tokens sit right after "1. Image: "
    assert tok.decode(p.prefix).endswith("<|im_start|>user\nInput:\n1. Image: ")
    im_end = tok.convert_tokens_to_ids("<|im_end|>")
    assert p.target[-1] == im_end and tok.decode(p.target[:-1]) == "Mild edema."
    assert chat_format(tok, cfg).kind == "template"
    assert chat_format(tok, LLMConfig(lm=qwen2, prompt_format="llama3")).kind == "llama3"  # forced, markers exist
    with pytest.raises(ConfigError, match="no chat template"):
        chat_format(tiny_tokenizer(), LLMConfig(prompt_format="template"))


def test_template_without_system_role_gets_the_system_text_in_the_user_turn(gpt2: str) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(gpt2)
    p = build_prompt(tok, LLMConfig(lm=gpt2, task="structured"), 4, None, [], target="Pleura:\n- Small effusion.")
    text = tok.decode(p.prefix + p.suffix)
    assert text.startswith("### user:\nYou are a radiologist. Write the Findings") and text.endswith("### assistant:\n")
    assert "### system" not in text and p.target[-1] == tok.convert_tokens_to_ids("<|endoftext|>")


@pytest.mark.parametrize("family", ["qwen2", "gpt2"])
def test_lora_on_each_architectures_attention_and_training(family: str, request) -> None:
    path = request.getfixturevalue(family)
    torch.manual_seed(0)
    reporter, tok = load_llm_reporter(LLMConfig(lm=path), latent_dim=16)
    trainable = {n: p.numel() for n, p in reporter.named_parameters() if p.requires_grad}
    r, adapter = 16, 16 * 32 + 32
    if family == "qwen2":  # peft's table for qwen2: q_proj (32 -> 32) and v_proj (32 -> 16, 2 kv heads)
        assert reporter.lora_targets == ["q_proj", "v_proj"]
        assert sum(trainable.values()) == 2 * (r * (32 + 32) + r * (32 + 16)) + adapter
    else:  # GPT-2 has no q/v projections: its fused c_attn (32 -> 96)
        assert reporter.lora_targets == ["c_attn"]
        assert sum(trainable.values()) == 2 * r * (32 + 96) + adapter
    assert all("lora_" in n or n.startswith("adapter.") for n in trainable)
    assert reporter.eot_id == reporter.chat.eot_id and reporter.chat.kind == "template"
    latents = torch.randn(3, 4, 16, generator=torch.Generator().manual_seed(0))
    prompts = [build_prompt(tok, reporter.cfg, 4, None, [], target=CLASS_REPORTS[i], fmt=reporter.chat)
               for i in range(3)]
    opt = torch.optim.AdamW(reporter.parameter_groups(3e-2))
    losses = []
    for _ in range(15):
        loss = reporter(latents, prompts)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0], losses
    reporter.eval()
    infer = [build_prompt(tok, reporter.cfg, 4, None, [], fmt=reporter.chat) for _ in range(3)]
    rows = reporter.generate(latents, infer, num_beams=1, max_new_tokens=8)
    assert len(rows) == 3 and all(len(row) <= 8 and reporter.eot_id not in row for row in rows)


def test_lora_targets_that_do_not_exist_are_named(gpt2: str) -> None:
    with pytest.raises(ConfigError, match=r"\['q_proj'\] are no linear layers .*c_attn, c_fc, c_proj"):
        load_llm_reporter(LLMConfig(lm=gpt2, lora_targets=["q_proj"]), latent_dim=16)
