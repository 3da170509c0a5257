"""`cogaze import-official`: synthetic checkpoints in the authors' format -> run folders -> explain / generate."""

from __future__ import annotations

import csv
import json

import pytest
import torch
from safetensors.torch import load_file
from transformers import GPT2Config

from cogaze import api
from cogaze.cli import main
from cogaze.data.records import VIEW_POSITIONS
from cogaze.models.report_decoder.text import ascii_clean
from cogaze.models.tokenizer import load_tokenizer, train_tokenizer
from cogaze.tasks.pretrain.pretrained import load_pretrained
from fixture_trees import build_dataset
from hub_cache import CXR_BERT, RAD_DINO, put, rad_dino_processor, tiny_cxr_bert, tiny_rad_dino, use_cache
from official_fakes import IGNORED_KEYS, Dims, decoder_state, encoder_state, save_checkpoint
from pretrain_helpers import FINDINGS

# mimic-paper.yaml as shipped, only the sizes scaled down (and the vocabulary = the tiny tokenizer's)
SMALL = ["model.dim=16", "model.num_latents=4", "model.perceiver_depth=1", "model.perceiver_heads=2",
         "model.perceiver_dim_head=8", "model.max_text_length=64", "model.vocab_size=0"]
DECODER = ["decoder.gpt2=tiny", "decoder.n_layer=2", "decoder.n_head=2", "decoder.n_embd=16",
           "decoder.n_positions=128", "decoder.num_beams=1", "decoder.max_new_tokens=6"]


@pytest.fixture
def hub(tmp_path, monkeypatch) -> dict:
    """Rad-DINO, CXR-BERT and the gpt2 tokenizer as tiny models under their hub ids, offline."""
    cache = use_cache(monkeypatch, tmp_path)
    put(cache, RAD_DINO, tiny_rad_dino(tmp_path / "rd", image_size=28, processor=rad_dino_processor(28)))
    tiny_cxr_bert(tmp_path / "cxr", layers=6)
    put(cache, CXR_BERT, tmp_path / "cxr")
    train_tokenizer(FINDINGS * 5 + ["fever cough ascites effusion heart"], tmp_path / "gpt2", vocab_size=300)
    GPT2Config(n_layer=1, n_embd=8, n_head=2).save_pretrained(tmp_path / "gpt2")
    put(cache, "gpt2", tmp_path / "gpt2")
    tok = load_tokenizer(tmp_path / "gpt2")
    return {"dims": Dims(vocab=len(tok)), "tok": tok, "rad_dino": tmp_path / "rd"}


def test_pretrain_checkpoint_round_trip_then_explain(tmp_path, hub, capsys):
    state = encoder_state(hub["dims"])
    ckpt = tmp_path / "mimic_pretrain_best_model.pt"
    save_checkpoint(ckpt, state)
    run = tmp_path / "imported"
    assert main(["import-official", "pretrain", str(ckpt), "--out", str(run), *SMALL]) == 0
    printed = capsys.readouterr().out
    assert "--checkpoint" in printed
    info = json.loads((run / "import.json").read_text())
    assert info["ignored"] == sorted(IGNORED_KEYS) and info["unmapped_not_imported"] == []
    assert info["loaded"] == len(state) - len(IGNORED_KEYS)  # every other tensor of theirs went somewhere
    assert info["views"].startswith("rows taken in cogaze's order")

    enc = load_pretrained(run)
    sd = enc.model.state_dict()
    assert torch.equal(sd["encoder.perceiver.blocks.0.cross_attn.to_kv.weight"], state["perceiver.layers.0.0.fn.to_kv.weight"])
    assert torch.equal(sd["encoder.perceiver.blocks.0.self_ffs.0.w_in.weight"], state["perceiver.layers.0.2.0.1.fn.net.0.weight"])
    assert torch.equal(sd["encoder.vision_projector.view_embedding.weight"], state["image_projector.add_pos_embed.pos_embed"][:, 0])
    assert torch.equal(sd["text_encoder.encoder.layer.5.output.dense.weight"],
                       state["text_encoder.bert.encoder.layer.5.output.dense.weight"])
    assert torch.equal(sd["text_encoder.embeddings.word_embeddings.weight"],
                       state["text_encoder.bert.embeddings.word_embeddings.weight"])
    assert float(sd["heads.logit_scale_gaze"]) == 1.5 and torch.equal(sd["heads.vision.weight"],
                                                                       state["vision_classifier.classifier.weight"])
    assert enc.geometry.mean == (0.5307,) * 3  # Rad-DINO's processor, read from the hub cache
    # the backbone is not copied into the run: it stays model.vision.source
    saved = load_file(str(run / "checkpoints" / "imported" / "model.safetensors"))
    assert not any(k.startswith("vision_backbone.") for k in saved)

    image = next(p for p in sorted((build_dataset(tmp_path / "ds") / "files").rglob("*.jpg")))
    out = tmp_path / "explain"
    assert main(["explain", "--checkpoint", str(run), "--image", str(image), "--view", "PA",
                 "--report", "Small left pleural effusion. Heart size is normal.", "--out", str(out)]) == 0
    payload = json.loads((out / "explanation.json").read_text())
    assert len(payload["maps"]) == 2 and (out / "map_01.png").is_file() and (out / "scanpath.png").is_file()


def test_refusals_list_every_key_exactly(tmp_path, hub, capsys):
    dims = hub["dims"]
    state = encoder_state(dims)

    def attempt(st: dict, *extra: str, name: str = "ckpt.pt") -> tuple[int, str]:
        path = tmp_path / name
        save_checkpoint(path, st)
        code = main(["import-official", "pretrain", str(path), "--out", str(tmp_path / f"out-{name}"), *SMALL, *extra])
        return code, capsys.readouterr().err

    dropped = {k: v for k, v in state.items() if k not in ("latent_type_embed.image", "perceiver.layers.0.1.norm.bias")}
    code, err = attempt(dropped, name="missing.pt")
    assert code == 1
    assert ("trainable parameters the checkpoint does not have (they would stay randomly initialised) (2):\n"
            "  encoder.image_type\n  encoder.perceiver.blocks.0.cross_ff_norm.bias\n") in err
    assert not (tmp_path / "out-missing.pt").exists()  # nothing written

    extra = {**state, "image_projector.eye_modulate.weights": torch.ones(3), "gaze_head.fc.weight": torch.ones(2, 2)}
    code, err = attempt(extra, name="extra.pt")
    assert code == 1 and ("checkpoint keys cogaze does not know (--allow-unmapped imports without them) (2):\n"
                          "  gaze_head.fc.weight\n  image_projector.eye_modulate.weights\n") in err
    code, _ = attempt(extra, "--allow-unmapped", name="extra2.pt")
    assert code == 0
    info = json.loads((tmp_path / "out-extra2.pt" / "import.json").read_text())
    assert info["unmapped_not_imported"] == ["gaze_head.fc.weight", "image_projector.eye_modulate.weights"]

    code, err = attempt(state, "model.num_latents=8", name="shape.pt")  # the config disagrees with the checkpoint
    assert code == 1 and "shape differs from the model the config builds" in err
    assert "shared_latent (4, 16) -> encoder.shared_latent (8, 16)" in err
    assert "perceiver.latents" not in err  # ignored keys are not problems

    views = {**state, "image_projector.add_pos_embed.pos_embed": torch.randn(12, 1, dims.vision_dim)}
    code, err = attempt(views, name="views.pt")
    assert code == 1 and "--view-dict" in err

    rad = load_file(str(hub["rad_dino"] / "model.safetensors"))
    other = {**state, **{"image_encoder." + k: v + 1.0 for k, v in rad.items()}}
    code, err = attempt(other, name="backbone.pt")
    assert code == 1 and "image-encoder tensors that differ from model.vision.source" in err
    same = {**state, **{"image_encoder." + k: v for k, v in rad.items()}}
    assert attempt(same, name="backbone2.pt")[0] == 0  # their frozen Rad-DINO equals ours: fine


class _Payload:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickle_payload_and_damaged_files_are_refused(tmp_path, hub, capsys):
    marker = tmp_path / "EXECUTED"
    evil = tmp_path / "evil.pt"
    torch.save({"state_dict": {"shared_latent": torch.zeros(4, 16)}, "hook": _Payload(str(marker))}, evil)
    assert main(["import-official", "pretrain", str(evil), "--out", str(tmp_path / "o1"), *SMALL]) == 1
    err = capsys.readouterr().err
    assert f"{evil}: refused: the file holds pickled Python objects" in err and "Traceback" not in err
    assert not marker.exists() and not (tmp_path / "o1").exists()
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"{not safetensors")
    assert main(["import-official", "pretrain", str(broken), "--out", str(tmp_path / "o2")]) == 1
    assert f"{broken}: not a readable safetensors file" in capsys.readouterr().err
    truncated = tmp_path / "truncated.pt"
    save_checkpoint(truncated, encoder_state(hub["dims"]))
    truncated.write_bytes(truncated.read_bytes()[:5000])
    assert main(["import-official", "pretrain", str(truncated), "--out", str(tmp_path / "o3")]) == 1
    assert f"{truncated}: cannot read checkpoint, damaged" in capsys.readouterr().err


def test_view_dictionary_maps_rows_by_name(tmp_path, hub):
    dims = hub["dims"]
    state = encoder_state(dims)
    theirs = ["AP", "PA", "LATERAL", "LL", "AP AXIAL", "UNKNOWN"]  # their order, fewer views than ours
    state["image_projector.add_pos_embed.pos_embed"] = torch.randn(len(theirs), 1, dims.vision_dim)
    ckpt = tmp_path / "c.pt"
    save_checkpoint(ckpt, state)
    views = tmp_path / "view_position_dict.json"
    views.write_text(json.dumps({name: i for i, name in enumerate(theirs)} | {"FOO": 0}))
    api.import_official("pretrain", ckpt, tmp_path / "run", overrides=SMALL, view_dict=views)
    table = load_pretrained(tmp_path / "run").model.state_dict()["encoder.vision_projector.view_embedding.weight"]
    rows = state["image_projector.add_pos_embed.pos_embed"][:, 0]
    assert torch.equal(table[VIEW_POSITIONS.index("PA")], rows[1]) and torch.equal(table[VIEW_POSITIONS.index("AP")], rows[0])
    assert torch.equal(table[VIEW_POSITIONS.index("LAO")], rows[5])  # not in theirs: their UNKNOWN row
    info = json.loads((tmp_path / "run" / "import.json").read_text())
    assert info["views"]["unused_names"] == ["FOO"] and "LAO" in info["views"]["from_unknown_row"]


def test_report_checkpoint_round_trip_then_generate(tmp_path, hub, capsys):
    dims, tok = hub["dims"], hub["tok"]
    pre = tmp_path / "mimic_pretrain_best_model.pt"
    save_checkpoint(pre, encoder_state(dims, seed=0))
    eos, pad = tok.convert_tokens_to_ids("<|endoftext|>"), tok.convert_tokens_to_ids("[PAD]")
    dec_state, reference = decoder_state(dims, eos_id=eos, pad_id=pad)
    rg = tmp_path / "distilgpt2_mimic_free_text_report_generation_best_model.pt"
    enc_state = encoder_state(dims, seed=5, heads=False)  # fine-tuned encoder, no heads (as their ReportGeneration)
    save_checkpoint(rg, {**enc_state, **dec_state})
    out = tmp_path / "official"
    sets = [x for kv in DECODER for x in ("--report-set", kv)]
    assert main(["import-official", "report", str(rg), "--pretrain", str(pre), "--out", str(out), *sets, *SMALL]) == 0
    summary = json.loads(capsys.readouterr().out.split("\ngenerate with")[0])
    assert summary["heads_from_pretrain_checkpoint"] == [
        "logit_scale", "logit_scale_gaze", "report_classifier.classifier.bias", "report_classifier.classifier.weight",
        "vision_classifier.classifier.bias", "vision_classifier.classifier.weight"]
    assert summary["unmapped_not_imported"] == []

    data = build_dataset(tmp_path / "ds")
    csv_path = tmp_path / "reports.csv"
    assert main(["generate", "--report-run", str(out / "report"), "--checkpoint", str(out / "encoder"),
                 "--data", str(data), "--split", "val", "--out", str(csv_path)]) == 0
    with open(csv_path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 1

    # the same report decoded independently: their GPT-2 (plain transformers) reading [vision; context] latents
    encoder = load_pretrained(out / "encoder")
    assert torch.equal(encoder.model.state_dict()["encoder.shared_latent"], enc_state["shared_latent"])  # fine-tuned
    assert float(encoder.model.state_dict()["heads.logit_scale"]) == 2.5  # from the pretraining checkpoint
    item = api.report_items(encoder, data, "val")[0]
    assert item.history or item.indication  # a context: the memory holds context latents, not Z_I
    feats = encoder.encode_images(item.pixel_values[None], [item.view], [item.indication], [item.history])
    memory = torch.cat([feats.latents, feats.context_latents], dim=1)
    assert memory.shape == (1, 8, 16)
    ids = torch.tensor([[eos]])
    with torch.no_grad():
        for _ in range(6):
            nxt = reference(input_ids=ids, encoder_hidden_states=memory).logits[:, -1].argmax(-1, keepdim=True)
            if int(nxt) == eos:
                break
            ids = torch.cat([ids, nxt], dim=1)
    expected = ascii_clean(tok.decode(ids[0, 1:].tolist(), skip_special_tokens=True))
    assert rows[0]["generated_report"] == expected and expected

