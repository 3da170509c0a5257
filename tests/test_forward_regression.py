"""CoGazeModel.forward against losses saved before the speed work and against the reference-style forward.

tests/data/forward_reference.json holds the loss terms (and two output sums) of a seed-0 tiny model in
eval mode on three batches, computed with the forward as it was before the context branch was limited
to rows with context and the transcript projection to [CLS] (torch 2.13, CPU). Any change to the
forward must reproduce them to 1e-5 relative.
"""

import importlib.util
import json
from pathlib import Path

import pytest
import torch

from cogaze.models.cogaze import CoGazeModel, resolve_text_vocab
from cogaze.tasks.pretrain.collate import PretrainCollator
from pretrain_helpers import make_samples, tiny_model_config, tiny_tokenizer

SAVED = json.loads((Path(__file__).parent / "data" / "forward_reference.json").read_text())
BATCHES = {"mixed": dict(n=10, seed=4, gaze_every=3, context_every=2, images_per_study=2),
           "no_context": dict(n=6, seed=5, context_every=0), "no_gaze": dict(n=6, seed=6, gaze_every=0)}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tok = tiny_tokenizer(tmp_path_factory.mktemp("tok"))
    torch.manual_seed(0)
    model = CoGazeModel(resolve_text_vocab(tiny_model_config(tok.name_or_path), tok)).eval()
    return tok, model


def _reference_forward():
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "pretrain_step.py"
    spec = importlib.util.spec_from_file_location("pretrain_step_bench", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.reference_forward


@pytest.mark.parametrize("name", list(BATCHES))
def test_forward_reproduces_saved_losses(setup, name):
    tok, model = setup
    batch = PretrainCollator(tok)(make_samples(**BATCHES[name]))
    with torch.no_grad():
        out = model(batch)
    got = {k: float(v) for k, v in out.losses.items()}
    got["vision_pooled_sum"] = float(out.vision_pooled.sum())
    got["context_latents_sum"] = float(out.context_latents.sum())
    assert set(got) == set(SAVED[name])
    for key, want in SAVED[name].items():
        assert got[key] == pytest.approx(want, rel=1e-5), key
    ref = _reference_forward()
    with torch.no_grad():
        assert float(ref(model, batch)) == pytest.approx(got["loss"], rel=1e-5)


@pytest.mark.parametrize("name", ["mixed", "no_context"])
def test_every_trainable_parameter_gets_a_gradient(setup, name):
    """DDP needs every parameter in the graph, with or without context rows in the batch."""
    tok, model = setup
    model.zero_grad()
    model(PretrainCollator(tok)(make_samples(**BATCHES[name]))).loss.backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing
    model.zero_grad()


def test_transcript_length_buckets_equal_one_padded_pass(setup):
    """A long whole-report transcript among short sentence rows: the bucketed [CLS] pass (padding cut per
    bucket) equals the one padded pass, forward and gradient."""
    from cogaze.models.cogaze import length_buckets

    tok, model = setup
    limit = model.text_encoder.config.max_position_embeddings
    long = "moderate left pleural effusion"
    while len(tok(long + " no effusion").input_ids) <= limit:
        long += " no effusion"
    texts = ["no pneumothorax"] * 5 + [long] + ["mild edema"] * 3
    enc = tok(texts, padding=True, return_tensors="pt")
    ids, mask = enc["input_ids"], enc["attention_mask"]
    split = length_buckets(mask)
    assert split is not None and [len(r) for r, _ in split] == [8, 1]
    assert split[1][0].tolist() == [5] and split[0][1] < ids.shape[1] // 4
    want = model._transcript(ids, mask)
    got = model.encode_transcripts(ids, mask)
    assert torch.allclose(got, want, atol=1e-6)
    g_want = torch.autograd.grad(want.square().sum(), model.encoder.text_projector.parameters().__next__())[0]
    g_got = torch.autograd.grad(got.square().sum(), model.encoder.text_projector.parameters().__next__())[0]
    assert torch.allclose(g_got, g_want, atol=1e-5)
    # rows of one length are not split
    same = tok(["no pneumothorax", "mild edema", "no effusion"], padding=True, return_tensors="pt")["attention_mask"]
    assert length_buckets(same) is None and length_buckets(mask[:1]) is None
