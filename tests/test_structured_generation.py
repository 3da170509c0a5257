"""Structured report generation: the decoder keeps the header/bullet layout through training and decoding,
fine-tunes from a free-text run, and the LLM target ends with a supervised end of turn."""

from __future__ import annotations

import csv

import pytest
import torch

from cogaze.config import load_config
from cogaze.data.structured import SRRG_HEADERS, format_structured, parse_structured
from cogaze.errors import ConfigError
from cogaze.models.llm_reporter import build_prompt
from cogaze.models.llm_reporter.config import LLMConfig
from cogaze.models.report_decoder.text import ascii_clean
from cogaze.tasks.report_generation import (
    ReportGenConfig,
    ReportItem,
    generate_reports,
    load_report_generator,
    train_report_generator,
)
from cogaze.tasks.report_generation.train import init_from_run
from report_fixtures import CLASS_REPORTS, ToyEncoder, class_images, tiny_tokenizer

STRUCTURED = (
    "Lungs and Airways:\n- The lungs are clear.\n\nPleura:\n- No pleural effusion or pneumothorax.",
    "Lungs and Airways:\n- Adjacent atelectasis.\n\nPleura:\n- Small left pleural effusion.",
    "Lungs and Airways:\n- Mild pulmonary edema.\n\nCardiovascular:\n- The heart is enlarged.",
)
TINY = ["decoder.n_embd=32", "decoder.n_layer=2", "decoder.n_head=2", "decoder.num_beams=2", "train.batch_size=6",
        "train.lr=5e-4", "train.seed=1"]


def _items(labels, seed, targets, prefix="t"):
    images = class_images(labels, seed=seed)
    return [ReportItem(f"{prefix}{i}", f"p{i % 5}", targets[c], "PA", history="cough" if i % 2 else "",
                       pixel_values=images[i], context_format="srrg") for i, c in enumerate(labels)]


def test_structured_decoding_keeps_layout_and_round_trips(tmp_path) -> None:
    cfg = load_config(ReportGenConfig, overrides=[*TINY, "task=structured", "decoder.max_new_tokens=60",
                                                  "decoder.reference_max_tokens=0", "train.epochs=30"])
    train = _items([0, 1, 2] * 4, 0, STRUCTURED)
    val = _items([0, 1, 2], 5, STRUCTURED, prefix="v")
    encoder = ToyEncoder()
    result = train_report_generator(cfg, encoder, train, val, tmp_path / "run", tiny_tokenizer())
    assert set(encoder.context_formats) == {"srrg"}  # the encoder read the history-only context
    assert result.history[-1]["train_loss"] < 0.3 * result.history[0]["train_loss"]
    test = _items([2, 0, 1], 9, STRUCTURED, prefix="x")
    hyps = generate_reports(result.generator, ToyEncoder(), test, tmp_path / "gen.csv")
    assert hyps == [STRUCTURED[2], STRUCTURED[0], STRUCTURED[1]]  # line breaks survive decoding
    for text in hyps:
        parsed = parse_structured(text)
        assert not parsed.problems and set(parsed.sections) <= set(SRRG_HEADERS)
        assert format_structured(parsed.sections) == text  # round trip
    with (tmp_path / "gen.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["reference_report"] for r in rows] == [STRUCTURED[2], STRUCTURED[0], STRUCTURED[1]]
    assert [r["generated_report"] for r in rows] == hyps
    reloaded = load_report_generator(tmp_path / "run", ToyEncoder(), train)
    assert generate_reports(reloaded, ToyEncoder(), test, tmp_path / "again.csv") == hyps


def test_fine_tune_from_a_free_text_run(tmp_path) -> None:
    free_cfg = load_config(ReportGenConfig, overrides=[*TINY, "train.epochs=2"])
    free = train_report_generator(free_cfg, ToyEncoder(), _items([0, 1, 2], 0, CLASS_REPORTS), [],
                                  tmp_path / "free", tiny_tokenizer())
    cfg = load_config(ReportGenConfig, overrides=[*TINY, "task=structured", "train.epochs=1", "train.lr=0",
                                                  f"init_from={tmp_path / 'free'}"])
    run = train_report_generator(cfg, ToyEncoder(), _items([0, 1, 2], 0, STRUCTURED), [], tmp_path / "st",
                                 tiny_tokenizer())
    # learning rate 0: the structured model holds exactly the free-text weights
    for (name, a), (_, b) in zip(free.generator.model.named_parameters(), run.generator.model.named_parameters()):
        assert torch.equal(a, b), name
    wider = load_config(ReportGenConfig, overrides=[*TINY, "decoder.n_embd=16", "task=structured",
                                                    f"init_from={tmp_path / 'free'}"])
    with pytest.raises(ConfigError, match="do not fit this model"):
        train_report_generator(wider, ToyEncoder(), _items([0], 0, STRUCTURED), [], tmp_path / "w", tiny_tokenizer())
    with pytest.raises(ConfigError, match="no model.safetensors"):
        init_from_run(run.generator.model, tmp_path)


def test_task_checks_and_llm_structured_target() -> None:
    with pytest.raises(ConfigError, match="task must be"):
        train_report_generator(load_config(ReportGenConfig, overrides=["task=poem"]), ToyEncoder(),
                               _items([0], 0, STRUCTURED), [], "/nonexistent/never-created", tiny_tokenizer())
    cfg = load_config(ReportGenConfig, overrides=["variant=llm", "task=structured"])
    with pytest.raises(ConfigError, match="llm.task"):
        train_report_generator(cfg, ToyEncoder(), _items([0], 0, STRUCTURED), [], "/nonexistent/x", tiny_tokenizer())
    tok = tiny_tokenizer()
    prompt = build_prompt(tok, LLMConfig(task="structured"), 4, None, [], target=STRUCTURED[1])
    eot = tok.convert_tokens_to_ids("<|eot_id|>")
    assert prompt.target[-1] == eot and tok.decode(prompt.target[:-1]) == STRUCTURED[1]  # supervised end of turn
    assert ascii_clean(" Pleura:\r\n- Small\u00e9 effusion.  \n\n") == "Pleura:- Small effusion."
    assert ascii_clean(" Pleura:\r\n- Small\u00e9 effusion.  \n\n", keep_newlines=True) == "Pleura:\n- Small effusion."


@pytest.mark.parametrize("name", ["phantom-tiny-structured", "mimic-distilgpt2-structured", "mimic-llama-structured"])
def test_structured_configs_load(name: str) -> None:
    from cogaze.resources import config_path
    from cogaze.tasks.report_generation.train import check_task

    cfg = load_config(ReportGenConfig, config_path(f"report/{name}.yaml"))
    assert cfg.task == "structured" and cfg.decoder.reference_max_tokens == 0
    check_task(cfg)
