"""The GPT-2 report decoder: targets, greedy = beam 1, KV cache, and learning a toy task."""

from __future__ import annotations

import torch

from cogaze.models.report_decoder import DecoderConfig, ReportDecoder, TextCodec, build_gpt2_config
from cogaze.models.report_decoder.text import ascii_clean
from report_fixtures import CLASS_REPORTS, tiny_tokenizer


def _decoder(latent_dim: int = 16, seed: int = 0) -> tuple[ReportDecoder, TextCodec]:
    tok = tiny_tokenizer()
    codec = TextCodec(tok)
    torch.manual_seed(seed)
    cfg = DecoderConfig(n_layer=2, n_head=2, n_embd=32, n_positions=128)
    config = build_gpt2_config(cfg, codec.vocab_size, codec.eos_id, codec.eos_id, codec.pad_id)
    return ReportDecoder(config, latent_dim).eval(), codec


def test_targets_shift_and_mask() -> None:
    codec = TextCodec(tiny_tokenizer())
    batch = codec.encode_targets(["The lungs are clear.", "No pleural effusion or pneumothorax. [SEP] x"])
    full0 = tiny_tokenizer()("<|endoftext|> The lungs are clear. ", add_special_tokens=False)["input_ids"] + [0]
    n = len(full0)
    assert batch["input_ids"][0, : n - 1].tolist() == full0[:-1]
    assert batch["labels"][0, : n - 1].tolist() == full0[1:]
    assert (batch["labels"][0, n - 1 :] == -100).all()
    assert (batch["attention_mask"][0, : n - 1] == 1).all() and (batch["attention_mask"][0, n - 1 :] == 0).all()
    sep = codec.sep_id
    assert sep not in batch["input_ids"][1].tolist() and sep in batch["labels"][1].tolist()


def test_target_truncation_and_reference_truncation() -> None:
    codec = TextCodec(tiny_tokenizer(), max_tokens=6)
    batch = codec.encode_targets(["The lungs are clear. No pleural effusion or pneumothorax."])
    assert batch["input_ids"].shape == (1, 5)
    ref = codec.truncate_reference("The heart is enlarged. Mild pulmonary edema is present.", 4)
    ids = tiny_tokenizer()("<|endoftext|> The heart is enlarged.", add_special_tokens=False)["input_ids"]
    assert ref == tiny_tokenizer().decode(ids[:4], skip_special_tokens=True).strip()
    assert len(ref) < len("The heart is enlarged.")


def test_ascii_clean() -> None:
    assert ascii_clean("  No effusion\u2014seen.\n ") == "No effusionseen."


def _manual_greedy(model: ReportDecoder, latents: torch.Tensor, start: torch.Tensor, steps: int) -> torch.Tensor:
    ids = start.expand(latents.shape[0], -1).clone()
    for _ in range(steps):
        logits = model.gpt2(input_ids=ids, encoder_hidden_states=model.memory(latents), use_cache=False).logits
        ids = torch.cat([ids, logits[:, -1].argmax(-1, keepdim=True)], dim=1)
    return ids[:, start.shape[1] :]


def test_beam_one_equals_greedy_and_cache_changes_nothing() -> None:
    model, codec = _decoder()
    latents = torch.randn(3, 5, 16, generator=torch.Generator().manual_seed(1))
    start = codec.prompt_ids()
    with torch.no_grad():
        greedy = _manual_greedy(model, latents, start, 12)
    beam1 = model.generate(latents, start, num_beams=1, max_new_tokens=12)
    n = beam1.shape[1]
    # generate stops at EOS (then pads); the manual loop runs on: compare up to the first EOS
    for row_g, row_b in zip(greedy.tolist(), beam1.tolist()):
        cut = row_g.index(codec.eos_id) + 1 if codec.eos_id in row_g[:n] else n
        assert row_b[:cut] == row_g[:cut]
    for beams in (1, 4):
        cached = model.generate(latents, start, num_beams=beams, max_new_tokens=15, use_cache=True)
        uncached = model.generate(latents, start, num_beams=beams, max_new_tokens=15, use_cache=False)
        assert torch.equal(cached, uncached)


def test_projection_when_dims_differ() -> None:
    model, _ = _decoder(latent_dim=16)
    assert isinstance(model.project, torch.nn.Linear) and model.project.out_features == 32
    same, _ = _decoder(latent_dim=32)
    assert isinstance(same.project, torch.nn.Identity)
    groups = model.parameter_groups(1e-3)
    assert groups[0]["lr"] == 1e-2 and groups[1]["lr"] == 1e-3
    n_all = sum(p.numel() for p in model.parameters())
    assert sum(p.numel() for g in groups for p in g["params"]) == n_all


def test_toy_task_is_learned() -> None:
    """Latents -> a fixed sentence per class: loss falls and greedy decoding reproduces the sentences."""
    model, codec = _decoder(latent_dim=16, seed=3)
    model.train()
    gen = torch.Generator().manual_seed(0)
    prototypes = torch.randn(3, 4, 16, generator=gen)
    labels = torch.arange(3).repeat(4)
    opt = torch.optim.AdamW(model.parameter_groups(5e-4), weight_decay=0.0)
    targets = codec.encode_targets([CLASS_REPORTS[i] for i in labels.tolist()])
    losses = []
    for _ in range(60):
        latents = prototypes[labels] + 0.05 * torch.randn(len(labels), 4, 16, generator=gen)
        _, loss = model(latents, **targets)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.2 * losses[0]
    model.eval()
    out = codec.decode(model.generate(prototypes, codec.prompt_ids(), num_beams=1, max_new_tokens=40))
    assert out == list(CLASS_REPORTS)
    out_beam = codec.decode(model.generate(prototypes, codec.prompt_ids(), num_beams=3, max_new_tokens=40))
    assert out_beam == list(CLASS_REPORTS)


def test_structured_reports_share_the_code_prompt_prefixes_targets() -> None:
    tok = tiny_tokenizer()
    codec = TextCodec(tok, prompt="[FINDINGS]")
    structured = "Pleura:\n- Small left pleural effusion.\nCardiovascular:\n- The heart is enlarged."
    batch = codec.encode_targets([structured])
    start = codec.prompt_ids()[0].tolist()
    assert start[0] == codec.eos_id and len(start) > 1
    assert batch["input_ids"][0, : len(start)].tolist() == start
    assert "\n- Small left" in tok.decode(batch["labels"][0][batch["labels"][0] >= 0].tolist())
    assert codec.truncate_reference(structured, 0) == ascii_clean(structured)


def test_works_with_the_cogaze_tokenizer(tmp_path) -> None:
    from cogaze.models.tokenizer import train_tokenizer
    from report_fixtures import _corpus

    tok = train_tokenizer(_corpus(), tmp_path / "tok", vocab_size=400)
    codec = TextCodec(tok)
    assert (codec.eos_id, codec.pad_id) == (tok.convert_tokens_to_ids("<|endoftext|>"), tok.convert_tokens_to_ids("[PAD]"))
    labels = codec.encode_targets([CLASS_REPORTS[1]])["labels"][0]
    assert codec.decode(labels[labels >= 0].unsqueeze(0)) == [CLASS_REPORTS[1]]


def _ngrams(row: list[int], n: int, stop: int) -> list[tuple[int, ...]]:
    row = row[: row.index(stop)] if stop in row else row
    return [tuple(row[i : i + n]) for i in range(len(row) - n + 1)]


def test_no_repeat_ngram_blocks_loops() -> None:
    model, codec = _decoder(seed=3)
    latents = torch.zeros(2, 5, 16)
    start = codec.prompt_ids()
    free = model.generate(latents, start, num_beams=1, max_new_tokens=40)
    grams = [_ngrams(r, 2, codec.eos_id) for r in free.tolist()]
    assert any(len(g) != len(set(g)) for g in grams)  # a random tiny decoder loops
    blocked = model.generate(latents, start, num_beams=3, max_new_tokens=40, no_repeat_ngram_size=2)
    for row in blocked.tolist():
        g = _ngrams(row, 2, codec.eos_id)
        assert len(g) == len(set(g)) and len(g) > 0


def test_length_penalty_reaches_beam_search() -> None:
    """``decoder.length_penalty`` > 1 favours longer finished beams, < 0 shorter ones."""
    model, codec = _decoder(seed=5)
    latents = torch.randn(6, 5, 16, generator=torch.Generator().manual_seed(2))
    start = codec.prompt_ids()

    def lengths(lp: float) -> list[int]:
        rows = model.generate(latents, start, num_beams=4, max_new_tokens=30, length_penalty=lp).tolist()
        return [r.index(codec.eos_id) if codec.eos_id in r else len(r) for r in rows]

    short, plain, long = lengths(-2.0), lengths(1.0), lengths(3.0)
    assert sum(short) < sum(long)
    assert sum(short) <= sum(plain) <= sum(long)


def test_greedy_decoding_does_not_pass_length_penalty(monkeypatch) -> None:
    """length_penalty is a beam-search flag: passed to greedy decoding, transformers warns that it is
    invalid (one line per generation call in the demo's quick mode)."""
    model, codec = _decoder()
    latents = torch.randn(2, 5, 16, generator=torch.Generator().manual_seed(3))
    plain = model.generate(latents, codec.prompt_ids(), num_beams=1, max_new_tokens=6)
    seen: list[dict] = []
    real = model.gpt2.generate
    monkeypatch.setattr(model.gpt2, "generate", lambda **kw: seen.append(kw) or real(**kw))
    greedy = model.generate(latents, codec.prompt_ids(), num_beams=1, max_new_tokens=6, length_penalty=2.0)
    model.generate(latents, codec.prompt_ids(), num_beams=2, max_new_tokens=6, length_penalty=2.0)
    assert torch.equal(greedy, plain)
    assert "length_penalty" not in seen[0] and seen[1]["length_penalty"] == 2.0
