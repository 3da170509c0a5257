import torch

from cogaze.models.cogaze import CoGazeModel, resolve_text_vocab
from cogaze.models.official import load_official_checkpoint, map_key
from pretrain_helpers import tiny_model_config, tiny_tokenizer


def _their_state(model: CoGazeModel) -> dict[str, torch.Tensor]:
    """A synthetic checkpoint with the reference's module names and shapes (tiny sizes)."""
    g = torch.Generator().manual_seed(0)
    sd = model.state_dict()
    r = lambda shape: torch.randn(*shape, generator=g)  # noqa: E731
    st: dict[str, torch.Tensor] = {}
    for k, v in sd.items():
        if k.startswith("text_encoder."):
            st["text_encoder.bert." + k[len("text_encoder."):]] = r(v.shape)
    e = "encoder."
    v_rows, dv = sd[e + "vision_projector.view_embedding.weight"].shape
    st["image_projector.add_pos_embed.pos_embed"] = r((v_rows, 1, dv))
    st["image_projector.add_pos_embed.pos_norm.weight"] = r((dv,))
    for i in (0, 2):
        for p in ("weight", "bias"):
            st[f"image_projector.projector.{i}.{p}"] = r(sd[f"{e}vision_projector.mlp.{i}.{p}"].shape)
            st[f"text_projector.layers.{i}.{p}"] = r(sd[f"{e}text_projector.{i}.{p}"].shape)
    b = f"{e}perceiver.blocks.0."
    for lin in ("to_q.weight", "to_kv.weight", "to_out.weight", "to_out.bias"):
        st[f"perceiver.layers.0.0.fn.{lin}"] = r(sd[b + "cross_attn." + lin].shape)
        st[f"perceiver.layers.0.2.0.0.fn.{lin}"] = r(sd[b + "self_attns.0." + lin].shape)
    for p in ("weight", "bias"):
        st[f"perceiver.layers.0.0.norm.{p}"] = r(sd[b + "cross_norm." + p].shape)
        st[f"perceiver.layers.0.0.norm_context.{p}"] = r(sd[b + "context_norm." + p].shape)
        st[f"perceiver.layers.0.1.norm.{p}"] = r(sd[b + "cross_ff_norm." + p].shape)
        st[f"perceiver.layers.0.2.0.0.norm.{p}"] = r(sd[b + "self_norms.0." + p].shape)
        st[f"perceiver.layers.0.2.0.1.norm.{p}"] = r(sd[b + "self_ff_norms.0." + p].shape)
        st[f"perceiver.layers.0.1.fn.net.0.{p}"] = r(sd[b + "cross_ff.w_in." + p].shape)
        st[f"perceiver.layers.0.1.fn.net.2.{p}"] = r(sd[b + "cross_ff.w_out." + p].shape)
        st[f"perceiver.layers.0.2.0.1.fn.net.0.{p}"] = r(sd[b + "self_ffs.0.w_in." + p].shape)
        st[f"perceiver.layers.0.2.0.1.fn.net.2.{p}"] = r(sd[b + "self_ffs.0.w_out." + p].shape)
        st[f"vision_classifier.classifier.{p}"] = r(sd["heads.vision." + p].shape)
        st[f"report_classifier.classifier.{p}"] = r(sd["heads.report." + p].shape)
    st["shared_latent"] = r(sd[e + "shared_latent"].shape)
    st["latent_type_embed.context"] = r(sd[e + "context_type"].shape)
    st["latent_type_embed.image"] = r(sd[e + "image_type"].shape)
    st["logit_scale"] = torch.tensor(3.0)
    st["logit_scale_gaze"] = torch.tensor(2.0)
    # never mapped
    st["perceiver.latents"] = r(sd[e + "shared_latent"].shape)
    st["text_encoder.cls.predictions.bias"] = r((10,))
    st["text_encoder.bert.pooler.dense.weight"] = r((4, 4))
    return st


def test_official_checkpoint_loads_every_trainable_parameter(tmp_path):
    tok = tiny_tokenizer(tmp_path)
    model = CoGazeModel(resolve_text_vocab(tiny_model_config(tok.name_or_path), tok))
    st = _their_state(model)
    torch.save({"state_dict": st, "optimizer_state": {}, "epoch": 3}, tmp_path / "ckpt.pth")
    report = load_official_checkpoint(model, tmp_path / "ckpt.pth")
    assert report.missing == [] and report.shape_mismatch == []
    assert sorted(report.ignored) == ["perceiver.latents", "text_encoder.bert.pooler.dense.weight",
                                      "text_encoder.cls.predictions.bias"]
    assert report.unmapped == []
    sd = model.state_dict()
    assert torch.equal(sd["encoder.vision_projector.view_embedding.weight"],
                       st["image_projector.add_pos_embed.pos_embed"][:, 0])
    assert torch.equal(sd["encoder.perceiver.blocks.0.self_ffs.0.w_out.weight"],
                       st["perceiver.layers.0.2.0.1.fn.net.2.weight"])
    assert float(sd["heads.logit_scale_gaze"]) == 2.0 and float(sd["heads.logit_scale"]) == 3.0
    assert map_key("module.text_encoder.encoder.layer.0.output.dense.weight") == "text_encoder.encoder.layer.0.output.dense.weight"
