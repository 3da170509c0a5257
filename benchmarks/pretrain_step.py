"""Time one pretraining step: a reference-style forward vs ours vs ours from cached features.

(a) reference: the authors' control flow - the batch is split by index lists into with/without
    context subsets that run the Perceiver separately and are scattered back, the positive matrix is
    built in numpy, and the gaze loss loops over images and, inside, over heatmap rows for top-k.
(b) ours: CoGazeModel.forward (context branch on the rows with context via one index, one vision
    pass, padded/masked gaze loss, transcripts project only [CLS]).
(c) ours, cached: the same step from precomputed frozen-encoder tokens (``vision_features``).
Same weights, same batch, forward + backward + AdamW step. Prints one RESULT line last.

Both (a) and (b) run the same frozen backbone forward on the same pixels (no grad): that shared work
is most of a step here (as in the paper's configuration, where the frozen ViT-B at 518 px is about 2/3
of a step's FLOPs), so it caps the uncached speedup - the script prints that cap, and the gaze term
timed alone; (c) removes it. ``--device cuda`` runs the same comparison on a GPU, where the
reference's per-row loops also pay a host synchronisation each. Batch mix: default half the
images with gaze and 3/4 with context (gaze-heavy); the MIMIC pretraining set has context for 97.6 %
and gaze for 0.7 % of images (``--context-fraction 0.976 --gaze-images 1``).

    PYTHONPATH=src:tests python benchmarks/pretrain_step.py [--steps 5] [--threads 1] [--device cuda]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path[:0] = [str(Path(__file__).resolve().parents[1] / "src"), str(Path(__file__).resolve().parents[1] / "tests")]

from cogaze.models.backbones import BackboneConfig  # noqa: E402
from cogaze.models.cogaze import CoGazeModel, ModelConfig, resolve_text_vocab  # noqa: E402
from cogaze.models.losses import classification_loss, gaze_loss  # noqa: E402
from cogaze.models.tokenizer import train_tokenizer  # noqa: E402
from cogaze.tasks.pretrain.collate import PretrainCollator  # noqa: E402
from pretrain_helpers import FINDINGS  # noqa: E402

EPS = 1e-8
SIZE, PATCH = 224, 14


def _ref_mask(p, rho):
    mask = torch.zeros_like(p)
    k = torch.clamp(((p > EPS).sum(-1).float() * rho).long(), min=1)
    for i in range(p.size(0)):
        mask[i].scatter_(0, p[i].topk(int(k[i])).indices, 1.0)
    return mask


def _ref_js(pred, target, rho):
    kept = target * _ref_mask(target, rho)
    valid = kept.sum(-1) > EPS
    if valid.sum() == 0:
        return pred.sum() * 0
    p = kept[valid] / (kept[valid].sum(-1, keepdim=True) + EPS)
    q = torch.softmax(pred[valid], -1)
    m = 0.5 * (p + q) + EPS
    return (0.5 * ((p * (torch.log(p + EPS) - m.log())).sum(-1) + (q * (torch.log(q + EPS) - m.log())).sum(-1))).mean()


def reference_gaze_loss(model: CoGazeModel, text: torch.Tensor, x_all: torch.Tensor, batch: dict) -> torch.Tensor:
    """The reference's gaze term: a loop over images, rows matched by owner, top-k row by row."""
    t = F.normalize(text, dim=-1)
    patches = F.normalize(x_all[:, 1:], dim=-1)
    owners = batch["gaze_owner"].cpu().numpy()
    per = []
    for i in range(len(x_all)):
        sel = torch.from_numpy(owners == i).to(x_all.device)
        if not bool(sel.any()):
            continue
        a = model.heads.scale("gaze") * t[sel] @ patches[i].t()
        g = batch["gaze_maps"][sel]
        per.append(0.2 * _ref_js(a, g, 0.25) + 0.8 * _ref_js(a.t(), g.t(), 0.25))
    return sum(per) / len(per)


def reference_forward(model: CoGazeModel, batch: dict) -> torch.Tensor:
    enc, cfg = model.encoder, model.config
    b = len(batch["view_ids"])
    x_all = enc.vision_projector(model.encode_images(batch["pixel_values"]), batch["view_ids"])
    with_ctx = [i for i in range(b) if bool(batch["has_context"][i])]
    without = [i for i in range(b) if i not in with_ctx]
    vis = torch.zeros(b, cfg.num_latents, cfg.dim, device=x_all.device)
    if with_ctx:
        idx = np.array(with_ctx)
        c = model.encode_text(batch["context_ids"][idx], batch["context_mask"][idx])
        z = (enc.shared_latent + enc.context_type).unsqueeze(0).repeat(len(idx), 1, 1)
        ctx = enc.perceiver(z, c)
        vis[idx] = enc.perceiver(ctx, x_all[idx])
    if without:
        idx = np.array(without)
        z = (enc.shared_latent + enc.image_type).unsqueeze(0).repeat(len(idx), 1, 1)
        vis[idx] = enc.perceiver(z, x_all[idx])
    report = model.encode_text(batch["report_ids"], batch["report_mask"])
    keys = np.array(["_".join(k) for k in batch["study_keys"]])
    lab = torch.from_numpy((keys[:, None] == keys[None, :]).astype(np.float32)).to(x_all.device)
    lab = lab / lab.sum(1, keepdim=True)
    logits = model.heads.scale() * F.normalize(vis.mean(1), dim=-1) @ F.normalize(report.mean(1), dim=-1).t()
    loss = 0.5 * (F.cross_entropy(logits, lab) + F.cross_entropy(logits.t(), lab))
    if len(batch["gaze_maps"]):
        t = model.encode_text(batch["gaze_text_ids"], batch["gaze_text_mask"])[:, 0]
        loss = loss + reference_gaze_loss(model, t, x_all, batch)
    w = model.class_weights
    vl, rl = model.heads.vision(vis.mean(1)), model.heads.report(report.mean(1))
    return loss + 0.5 * classification_loss(vl, batch["labels"], w) + 0.5 * classification_loss(rl, batch["labels"], w)


def make_batch(n: int, gaze_images: int, rows: int, seed: int = 0, context_fraction: float = 0.75) -> list[dict]:
    """``n`` samples: the first ``gaze_images`` carry one reading of ``rows`` transcript rows; a
    ``context_fraction`` of them (evenly spread) has an indication."""
    rng = np.random.default_rng(seed)
    grid = SIZE // PATCH
    n_absent = n - int(round(context_fraction * n))
    absent = set(np.linspace(0, n - 1, n_absent).round().astype(int).tolist()) if n_absent else set()
    out = []
    for i in range(n):
        k = int(rng.integers(len(FINDINGS)))
        gaze = []
        if i < gaze_images:
            maps = rng.random((rows, grid * grid)).astype(np.float32)
            maps[maps < 0.6] = 0
            gaze = [(f"r{i}", [(FINDINGS[(k + j) % 4], maps[j]) for j in range(rows)])]
        out.append({"dicom_id": f"d{i}", "study_key": ("p", f"s{i // 2}"),
                    "pixel_values": torch.from_numpy(rng.normal(size=(3, SIZE, SIZE)).astype(np.float32)),
                    "view": "PA", "report": FINDINGS[k] + " " + " ".join(FINDINGS), "labels": np.eye(14)[k],
                    "indication": "" if i in absent else "dyspnea", "history": "", "gaze": gaze})
    return out


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def min_times(fns: dict[str, Callable[[], object]], steps: int, device: torch.device) -> dict[str, float]:
    """Minimum seconds per callable, callables interleaved round by round (robust to a busy shared CPU);
    the first round is warm-up, and CUDA work is synchronised around each call."""
    times: dict[str, list[float]] = {k: [] for k in fns}
    for s in range(steps + 1):
        for name, fn in fns.items():
            _sync(device)
            t0 = time.perf_counter()
            fn()
            _sync(device)
            if s:
                times[name].append(time.perf_counter() - t0)
    return {k: min(v) for k, v in times.items()}


def step_calls(fns: dict, model) -> dict[str, Callable[[], None]]:
    """One training step (forward + backward + AdamW) per ``name: (loss_fn, batch)``, as callables."""
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)

    def step(fn, batch) -> None:
        loss = fn(model, batch)
        opt.zero_grad()
        loss.backward()
        opt.step()

    return {name: (lambda fn=fn, batch=batch: step(fn, batch)) for name, (fn, batch) in fns.items()}


def time_gaze_terms(model: CoGazeModel, batch: dict, steps: int) -> dict[str, float]:
    """Seconds of the gaze term alone (forward + backward, same features): ours vs the reference's loop."""
    with torch.no_grad():
        x_all = model.encoder.vision_projector(model.encode_images(batch["pixel_values"]), batch["view_ids"])
        text = model.encode_transcripts(batch["gaze_text_ids"], batch["gaze_text_mask"])
    x_all.requires_grad_(True)
    text.requires_grad_(True)
    return min_times({
        "ours": lambda: gaze_loss(text, x_all[:, 1:], batch["gaze_maps"], batch["gaze_owner"], batch["gaze_reading"],
                                  model.heads.scale("gaze")).backward(),
        "ref": lambda: reference_gaze_loss(model, text, x_all, batch).backward(),
    }, steps, x_all.device)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--gaze-images", type=int, default=-1, help="images with gaze (-1: half the batch)")
    ap.add_argument("--context-fraction", type=float, default=0.75,
                    help="images with context (MIMIC pretraining set: 0.976)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    args = ap.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    if args.threads:
        torch.set_num_threads(args.threads)
    gaze_images = args.batch // 2 if args.gaze_images < 0 else args.gaze_images
    with tempfile.TemporaryDirectory() as tmp:
        tok = train_tokenizer(FINDINGS * 5 + ["dyspnea"], Path(tmp) / "tok", vocab_size=300)
        cfg = ModelConfig(
            vision=BackboneConfig(model_type="dinov2", config={"hidden_size": 192, "num_hidden_layers": 6,
                                  "num_attention_heads": 3, "intermediate_size": 768, "image_size": SIZE,
                                  "patch_size": PATCH}),
            text=BackboneConfig(model_type="bert", config={"hidden_size": 128, "num_hidden_layers": 2,
                                "num_attention_heads": 2, "intermediate_size": 256, "hidden_dropout_prob": 0.0,
                                "attention_probs_dropout_prob": 0.0}),
            text_layers=2, tokenizer=str(Path(tmp) / "tok"), dim=128, num_latents=32, perceiver_depth=2,
            perceiver_heads=4, perceiver_dim_head=32, perceiver_ff_mult=2)
        model = CoGazeModel(resolve_text_vocab(cfg, tok)).train().to(device)
        batch = PretrainCollator(tok)(make_batch(args.batch, gaze_images=gaze_images, rows=6,
                                                      context_fraction=args.context_fraction))
    batch = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
    with torch.no_grad():
        ours_loss = float(model(batch).loss)
        ref_loss = float(reference_forward(model, batch))
    print(f"loss ours={ours_loss:.6f} reference={ref_loss:.6f} (must agree)")
    n = args.batch
    cached = dict(batch, vision_features=model.encode_images(batch["pixel_values"]).half())
    del cached["pixel_values"]
    ours_fn = lambda m, b: m(b).loss  # noqa: E731
    calls = step_calls({"ref": (reference_forward, batch), "ours": (ours_fn, batch), "cached": (ours_fn, cached)},
                       model)

    def backbone() -> None:
        with torch.no_grad():
            model.encode_images(batch["pixel_values"])

    # The backbone alone is timed in the same interleaved rounds, so that its share is read from like times.
    t = min_times({**calls, "backbone": backbone}, args.steps, device)
    t_ref, t_ours, t_cached, t_bb = t["ref"], t["ours"], t["cached"], t["backbone"]
    where = f"threads {torch.get_num_threads()}" if device.type == "cpu" else str(device)
    print(f"step seconds: reference {t_ref:.4f}  ours {t_ours:.4f}  ours+cache {t_cached:.4f}  "
          f"(batch {n}, {int(batch['has_context'].sum())} with context, {len(batch['gaze_maps'])} gaze rows, "
          f"{(SIZE // PATCH) ** 2} patches, {where})")
    print(f"frozen backbone forward {t_bb:.4f} s = {100 * t_bb / t_ref:.0f} % of a reference step: even a free "
          f"trainable part would give at most {t_ref / t_bb:.2f}x without the cache")
    if len(batch["gaze_maps"]):
        g = time_gaze_terms(model, batch, args.steps)
        g_ours, g_ref = g["ours"], g["ref"]
        print(f"gaze term alone (forward + backward): ours {g_ours:.4f} s  reference {g_ref:.4f} s  "
              f"({g_ref / g_ours:.1f}x)")
    ours, ref, cach = n / t_ours, n / t_ref, n / t_cached
    print(f"RESULT ours_img_per_s={ours:.2f} reference_img_per_s={ref:.2f} speedup={ours / ref:.2f} "
          f"cached_speedup={cach / ref:.2f}")


if __name__ == "__main__":
    main()
