"""The report task: empty findings skipped, training on the toy, CSV output, baselines, LLM run."""

from __future__ import annotations

import csv

import pytest
import torch

from cogaze.config import load_config
from cogaze.errors import ConfigError, DataError, Problems
from cogaze.tasks.report_generation import (
    ReportGenConfig,
    ReportItem,
    generate_reports,
    load_report_generator,
    most_common_report,
    nearest_neighbour_reports,
    precompute_features,
    train_report_generator,
)
from cogaze.tasks.report_generation.baselines import predicted_diseases
from report_fixtures import CLASS_REPORTS, ToyEncoder, class_images, tiny_tokenizer


def _items(labels, seed, prefix="t"):
    images = class_images(labels, seed=seed)
    return [ReportItem(f"{prefix}{i}", f"p{i % 5}", CLASS_REPORTS[c], "PA", pixel_values=images[i])
            for i, c in enumerate(labels)]

def test_train_generate_beats_most_common(tmp_path) -> None:
    cfg = load_config(ReportGenConfig, overrides=[
        "decoder.n_embd=32", "decoder.n_layer=2", "decoder.n_head=2", "decoder.num_beams=2",
        "decoder.max_new_tokens=30", "train.epochs=25", "train.batch_size=6", "train.lr=5e-4", "train.seed=1"])
    labels = [0, 1, 2] * 4
    train = _items(labels, 0) + [ReportItem("e0", "p9", "  ", pixel_values=class_images([0])[0])]
    val = _items([0, 1, 2], 5, prefix="v")
    problems = Problems("skip")
    result = train_report_generator(cfg, ToyEncoder(), train, val, tmp_path / "run", tiny_tokenizer(),
                                    problems=problems)
    assert result.n_skipped_empty == 1 and problems.n_skipped == 1
    assert result.history[-1]["train_loss"] < 0.3 * result.history[0]["train_loss"]
    assert (tmp_path / "run" / "model.safetensors").is_file() and (tmp_path / "run" / "config.yaml").is_file()
    test = _items([2, 0, 1], 9, prefix="x")
    out = tmp_path / "reports.csv"
    hyps = generate_reports(result.generator, ToyEncoder(), test, out)
    assert hyps == [CLASS_REPORTS[2], CLASS_REPORTS[0], CLASS_REPORTS[1]]
    with out.open() as fh:
        rows = list(csv.DictReader(fh))
    assert [r["dicom_id"] for r in rows] == ["x0", "x1", "x2"] and rows[0]["reference_report"] == CLASS_REPORTS[2]
    reloaded = load_report_generator(tmp_path / "run", ToyEncoder(), train)
    assert generate_reports(reloaded, ToyEncoder(), test, tmp_path / "again.csv") == hyps
    # the most-common baseline is right on one in three only
    assert sum(most_common_report([it.target for it in train]) == r for r in [CLASS_REPORTS[i] for i in (2, 0, 1)]) == 1
    with pytest.raises(DataError, match="empty findings"):
        train_report_generator(cfg, ToyEncoder(), train, val, tmp_path / "r2", tiny_tokenizer(),
                               problems=Problems("raise"))

def test_validate_from_skips_early_epochs_and_selects_among_validated(tmp_path) -> None:
    cfg = load_config(ReportGenConfig, overrides=[
        "decoder.n_embd=32", "decoder.n_layer=2", "decoder.n_head=2", "decoder.num_beams=2",
        "decoder.max_new_tokens=20", "train.epochs=6", "train.batch_size=6", "train.lr=5e-4", "train.seed=1",
        "train.validate_from=0.5"])
    train, val = _items([0, 1, 2] * 4, 0), _items([0, 1, 2], 5, prefix="v")
    seen: list[int] = []

    def metric(hyps, refs):  # records the validated epochs; prefers the earliest one it sees
        seen.append(len(seen))
        return 10.0 - len(seen)

    result = train_report_generator(cfg, ToyEncoder(), train, val, tmp_path / "run", tiny_tokenizer(),
                                    selection_metric=metric)
    assert ["val_score" in row for row in result.history] == [False, False, False, True, True, True]
    assert result.best_score == 9.0  # epoch 4, the first validated one, kept: not an unvalidated epoch
    every = load_config(ReportGenConfig, overrides=["train.epochs=2", "decoder.n_embd=32", "decoder.n_layer=2",
                                                    "decoder.n_head=2", "train.validate_from=0.99"])
    one = train_report_generator(every, ToyEncoder(), train, val, tmp_path / "r1", tiny_tokenizer())
    assert ["val_score" in row for row in one.history] == [False, True]  # the last epoch always
    with pytest.raises(ConfigError, match="validate_from"):
        train_report_generator(load_config(ReportGenConfig, overrides=["train.validate_from=1"]), ToyEncoder(),
                               train, val, tmp_path / "r2", tiny_tokenizer())


def test_nearest_neighbour_never_same_patient() -> None:
    bank = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    reports = ["a", "b", "c"]
    query = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    assert nearest_neighbour_reports(query, ["pX", "pZ"], bank, ["p1", "p2", "p3"], reports) == ["a", "c"]
    assert nearest_neighbour_reports(query, ["p1", "p3"], bank, ["p1", "p2", "p3"], reports) == ["b", "b"]
    assert nearest_neighbour_reports(query[:1], ["p1"], bank[:1], ["p1"], reports) == [""]
    assert most_common_report(["x", "y", "y", " "]) == "y"

def test_predicted_diseases_threshold_and_feature_cache() -> None:
    logits = torch.tensor([[0.0, 2.0, -3.0], [-1.0, -1.0, 0.5]])
    assert predicted_diseases(logits, 0.5, ["A", "B", "C"]) == [["A", "B"], ["C"]]
    assert predicted_diseases(logits, 0.6, ["A", "B", "C"]) == [["B"], ["C"]]
    items = _items([0, 1], 0)
    bank = precompute_features(ToyEncoder(), items, batch_size=1)
    direct = ToyEncoder().encode_images(torch.stack([it.pixel_values for it in items]), ["PA", "PA"])
    assert torch.allclose(bank.latents, direct.latents) and torch.allclose(bank.pooled, direct.latents.mean(1))
    with pytest.raises(DataError, match="neither"):
        precompute_features(ToyEncoder(), [ReportItem("z", "p", "x")])

@pytest.mark.parametrize("name", ["phantom-tiny", "mimic-distilgpt2", "mimic-llama"])
def test_shipped_configs_load(name: str) -> None:
    from pathlib import Path

    cfg = load_config(ReportGenConfig, Path(__file__).parents[1] / "configs" / "report" / f"{name}.yaml")
    assert cfg.variant == ("llm" if "llama" in name else "decoder")
    if name == "mimic-distilgpt2":
        assert cfg.decoder.num_beams == 10 and cfg.decoder.max_new_tokens == 100 and cfg.decoder.init == "random"

def test_llm_variant_runs_end_to_end(tmp_path) -> None:

    from transformers import LlamaConfig, LlamaForCausalLM

    tok = tiny_tokenizer()
    torch.manual_seed(0)
    LlamaForCausalLM(LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                 num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                                 pad_token_id=tok.pad_token_id)).save_pretrained(tmp_path / "lm")
    tok.save_pretrained(tmp_path / "lm")
    cfg = load_config(ReportGenConfig, overrides=[
        "variant=llm", f"llm.lm={tmp_path / 'lm'}", "llm.num_beams=1", "llm.max_new_tokens=4",
        "train.epochs=1", "train.batch_size=3"])
    train, val = _items([0, 1, 2], 0), _items([1], 3, prefix="v")
    result = train_report_generator(cfg, ToyEncoder(), train, val, tmp_path / "run", None)
    prompts = result.generator._prompts(precompute_features(ToyEncoder(), train), [it.subject_id for it in train], None)
    texts = [tok.decode(p.suffix) for p in prompts]
    # similar case: another patient's report (subjects p0, p1, p2 are all different here)
    assert all("2. Similar report: " in t for t in texts)
    out = tmp_path / "llm.csv"
    assert len(generate_reports(result.generator, ToyEncoder(), val, out)) == 1 and out.is_file()


def test_selection_metric_ranks_right_reports_higher() -> None:
    from cogaze.tasks.report_generation.selection import bleu4, bleu4_plus_ce_f1, ce14_micro_f1

    refs = list(CLASS_REPORTS) * 2
    right = list(refs)
    wrong = [CLASS_REPORTS[(i + 1) % 3] for i in range(3)] * 2
    assert abs(bleu4(right, refs) - 1.0) < 1e-6 and ce14_micro_f1(right, refs) == 1.0
    assert ce14_micro_f1(wrong, refs) < 0.5
    assert bleu4_plus_ce_f1(right, refs) > bleu4_plus_ce_f1(wrong, refs) + 1.0
