"""The LLM + LoRA reporter: one prompt builder, truncation, placeholders, trainable set, training."""

from __future__ import annotations

import logging

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from cogaze.errors import ConfigError
from cogaze.models.llm_reporter import (
    NO_DISEASES,
    NO_SIMILAR_CASE,
    LLMConfig,
    build_prompt,
    load_llm_reporter,
)
from cogaze.models.llm_reporter.model import paper_lora_counts
from report_fixtures import CLASS_REPORTS, tiny_tokenizer


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory) -> str:
    """A random 2-layer Llama with the tiny tokenizer, saved and loaded by path."""
    path = tmp_path_factory.mktemp("tiny-llama")
    tok = tiny_tokenizer()
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024, initializer_range=0.3,
                      bos_token_id=tok.convert_tokens_to_ids("<|begin_of_text|>"),
                      eos_token_id=tok.convert_tokens_to_ids("<|eot_id|>"), pad_token_id=tok.pad_token_id)
    LlamaForCausalLM(cfg).save_pretrained(path)
    tok.save_pretrained(path)
    return str(path)


def test_training_and_inference_prompts_are_the_same() -> None:
    tok, cfg = tiny_tokenizer(), LLMConfig()
    train = build_prompt(tok, cfg, 4, "The lungs are clear.", ["Edema", "Atelectasis"], target="Mild edema.")
    infer = build_prompt(tok, cfg, 4, "The lungs are clear.", ["Edema", "Atelectasis"])
    assert train.prefix == infer.prefix and train.suffix == infer.suffix and infer.target == []
    eot = tok.convert_tokens_to_ids("<|eot_id|>")
    assert train.target[-1] == eot and tok.decode(train.target[:-1]) == "Mild edema."
    text = tok.decode(train.prefix + train.suffix)
    assert text.startswith("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are a radiologist.")
    assert "2. Similar report: The lungs are clear.\n3. Predicted diseases: Edema, Atelectasis\n" in text
    assert text.endswith("<|eot_id|>\n<|start_header_id|>assistant<|end_header_id|>\n\n")


def test_missing_similar_case_and_no_disease_are_stated() -> None:
    tok = tiny_tokenizer()
    p = build_prompt(tok, LLMConfig(), 4, None, [])
    text = tok.decode(p.suffix)
    assert f"2. Similar report: {NO_SIMILAR_CASE}\n" in text and f"3. Predicted diseases: {NO_DISEASES}\n" in text
    assert build_prompt(tok, LLMConfig(), 4, "   ", []).suffix == p.suffix


def test_similar_report_is_cut_from_the_left() -> None:
    tok = tiny_tokenizer()
    long = " ".join(CLASS_REPORTS * 20)
    p = build_prompt(tok, LLMConfig(max_similar_tokens=10), 4, long, [])
    sim_ids = tok(long, add_special_tokens=False)["input_ids"]
    assert all(t in p.suffix for t in sim_ids[-10:])
    assert tok.decode(p.suffix).count("Similar report:") == 1 and not p.truncated


def test_prompt_longer_than_window_is_truncated_with_warning(caplog) -> None:
    tok, cfg = tiny_tokenizer(), LLMConfig()
    full = build_prompt(tok, cfg, 4, CLASS_REPORTS[1], [], target=CLASS_REPORTS[2])
    window = len(full) - 8
    with caplog.at_level(logging.WARNING, logger="cogaze.html"):
        short = build_prompt(tok, cfg, 4, CLASS_REPORTS[1], [], target=CLASS_REPORTS[2], context_window=window)
    assert short.truncated and len(short) == window and "truncated" in caplog.text
    assert short.target == full.target and len(short.suffix) == len(full.suffix) - 8  # similar report shrank first
    n_sim = len(tok(CLASS_REPORTS[1], add_special_tokens=False)["input_ids"])
    window = len(full) - n_sim - 3  # the whole similar report goes, then 3 target tokens
    tight = build_prompt(tok, cfg, 4, CLASS_REPORTS[1], [], target=CLASS_REPORTS[2], context_window=window)
    assert tight.target == full.target[:-3] and len(tight) == window
    assert len(tight.suffix) == len(full.suffix) - n_sim
    with pytest.raises(ConfigError, match="context window"):
        build_prompt(tok, cfg, 4, "x", [], context_window=10)


def test_structured_prompt_and_bad_task() -> None:
    tok = tiny_tokenizer()
    p = build_prompt(tok, LLMConfig(task="structured"), 4, None, [], target="Pleura:\n- Small effusion.")
    text = tok.decode(p.prefix + p.suffix)
    assert "Lungs and Airways; Pleura;" in text and text.endswith("Image: <|eot_id|>\n<|start_header_id|>assistant<|end_header_id|>\n\n")
    with pytest.raises(ConfigError):
        build_prompt(tok, LLMConfig(task="poem"), 4, None, [])


def test_only_adapter_and_lora_train_and_loss_falls(tiny_llama: str) -> None:
    torch.manual_seed(0)
    reporter, tok = load_llm_reporter(LLMConfig(lm=tiny_llama), latent_dim=16)
    trainable = {n: p.numel() for n, p in reporter.named_parameters() if p.requires_grad}
    # LoRA r=16 on q (32->32) and v (32->16) in 2 layers + adapter 16->32 with bias
    assert sum(trainable.values()) == 2 * (16 * (32 + 32) + 16 * (32 + 16)) + (16 * 32 + 32)
    assert all("lora_" in n or n.startswith("adapter.") for n in trainable)
    cfg = reporter.cfg
    latents = torch.randn(3, 4, 16, generator=torch.Generator().manual_seed(0))
    prompts = [build_prompt(tok, cfg, 4, None, [], target=CLASS_REPORTS[i], context_window=reporter.context_window)
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
    infer = [build_prompt(tok, cfg, 4, None, []) for _ in range(3)]
    cached = reporter.generate(latents, infer, num_beams=1, max_new_tokens=8, use_cache=True)
    uncached = reporter.generate(latents, infer, num_beams=1, max_new_tokens=8, use_cache=False)
    assert cached == uncached and len(cached) == 3 and all(len(r) <= 8 for r in cached)
    beams = reporter.generate(latents, infer, num_beams=2, max_new_tokens=8)
    assert len(beams) == 3


def test_paper_lora_count() -> None:
    counts = paper_lora_counts()
    assert counts["lora"] == 28 * 16 * ((3072 + 3072) + (3072 + 1024)) == 4_587_520
    assert counts["adapter"] == 768 * 3072 + 3072
    assert counts["trainable"] == 6_949_888  # spec 2.8: about 6.95M
    assert 3.2e9 < counts["total"] < 3.25e9
