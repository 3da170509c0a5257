"""The demo's stages. Each takes the shared :class:`DemoState`, does one job with the library's public
functions (the same ones the CLI verbs call) and adds its section to the report page."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cogaze.data.records import RecordSet
from cogaze.demo.config import DemoConfig
from cogaze.html.page import ReportPage
from cogaze.io import atomic_write_json
from cogaze.tasks.phantom_scores import (
    PROBE_CLASSES,
    RETRIEVAL_CLASSES,
    ScoringSetup,
    random_encoder,
    retrieval_sample_size,
)

log = logging.getLogger("cogaze.demo")
PAGE_WIDTH, GRID_GAP = 1056, 14
"""Content width of a report page and the gap between grid images, in CSS pixels (cogaze.html.style)."""


@dataclass
class DemoState:
    """What the stages hand on to each other."""

    out: Path
    cfg: DemoConfig
    page: ReportPage
    data_dir: Path | None = None
    records: RecordSet | None = None
    tokenizer_dir: Path | None = None
    backbone_dir: Path | None = None
    run_dir: Path | None = None
    encoder: Any = None
    results: dict[str, Any] = field(default_factory=dict)

    def frontal(self, split: str) -> list:
        from cogaze.tasks.phantom_sets import frontal_split

        assert self.records is not None
        return frontal_split(self.records, split)

    def scoring(self) -> ScoringSetup:
        """The phantom checks' setup for this demo's records and sizes."""
        assert self.records is not None
        return ScoringSetup(records=self.records, data_dir=self.data_dir, seed=self.cfg.seed, probe_epochs=self.cfg.probe_epochs,
                            retrieval_per_class=self.cfg.retrieval_per_class,
                            zeroshot_classes=list(self.cfg.zeroshot_classes))

    def preprocess(self, arr: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(self.encoder.geometry.transform_image(arr))


def make_phantom(s: DemoState) -> None:
    from cogaze.data.dataset import load_dataset
    from cogaze.data.phantom import generate_phantom
    from cogaze.data.phantom.preview import preview_items

    c = s.cfg
    s.data_dir = s.out / "phantom"
    summary = generate_phantom(s.data_dir, n_patients=c.n_patients, seed=c.seed, image_size=c.phantom_image_size,
                               gaze_fraction=c.gaze_fraction, val_fraction=c.val_fraction,
                               test_fraction=c.test_fraction, workers=c.phantom_workers)
    s.records = load_dataset(s.data_dir).records
    s.page.add_section("Phantom dataset", "Procedurally rendered chest X-rays with known findings, MIMIC-style "
                       "reports, clinical context and simulated radiologist gaze, written in the real MIMIC-CXR, "
                       "EGD and REFLACX formats and read back by the same loaders as real data.")
    summ = s.records.summary()
    s.page.add_metrics({"images": summ["images"], "studies": summ["studies"], "patients": summ["patients"],
                        "with context": summ["with_context"], "gaze readings": summ["gaze_readings"]})
    # At native resolution, in columns at least 128 px wide (room for the caption's words), two rows at most.
    width = max(c.phantom_image_size, 128)
    columns = max(1, (PAGE_WIDTH + GRID_GAP) // (width + GRID_GAP))
    items = preview_items(s.data_dir, n=columns * max(1, 16 // columns))
    s.page.add_image_grid(items, caption=f"{len(items)} phantom images ({c.phantom_image_size} px, shown at their "
                          "own size) with their findings ('?' = uncertain).", columns=columns,
                          image_width=width, native=True)
    s.results["phantom"] = {"summary": summ, "generator": getattr(summary, "version", None)}


def train_tokenizer(s: DemoState) -> None:
    from cogaze.models.tokenizer import train_tokenizer as train

    assert s.records is not None
    texts = [t for r in s.records.split("train") for t in (r.findings, r.indication, r.history) if t]
    s.tokenizer_dir = s.out / "tokenizer"
    tok = train(texts, s.tokenizer_dir, vocab_size=s.cfg.vocab_size)
    s.results["tokenizer"] = {"vocab": len(tok), "texts": len(texts)}


def train_vision_backbone(s: DemoState) -> None:
    """The frozen vision backbone (Rad-DINO's role): trained on a separate phantom corpus, then saved."""
    from cogaze.data.dataset import load_dataset
    from cogaze.data.phantom import generate_phantom
    from cogaze.tasks.backbone import BackboneTrainConfig, train_backbone

    c = s.cfg
    corpus = s.out / "backbone_corpus"
    generate_phantom(corpus, n_patients=c.backbone_patients, seed=c.seed + c.backbone_seed_offset,
                     image_size=c.phantom_image_size, gaze_fraction=0.0, val_fraction=0.1, test_fraction=0.0,
                     workers=c.phantom_workers)
    recs = load_dataset(corpus).records
    cfg = BackboneTrainConfig(seed=c.seed)
    cfg.epochs = c.backbone_epochs or cfg.epochs
    cfg.lr = c.backbone_lr or cfg.lr
    cfg.config["image_size"] = c.model_image_size
    s.backbone_dir = s.out / "backbone"
    res = train_backbone(list(recs.split("train")), list(recs.split("val")), s.backbone_dir, cfg)
    s.results["backbone"] = {"best_epoch": res.best_epoch, "val_mean_auroc": res.best_val_auroc,
                             "train_images": res.n_train, "val_images": res.n_val, "history": res.history}
    s.page.add_section("Vision backbone", "CoGaze freezes a pretrained chest X-ray encoder (Rad-DINO), which cannot "
                       "be downloaded offline. Its stand-in: the tiny ResNet trained on a separate phantom corpus "
                       f"({c.backbone_patients} other patients, seed {c.seed + c.backbone_seed_offset}) with the 14 "
                       "labels, then frozen for pretraining and every downstream task (cogaze backbone train).")
    s.page.add_metrics({"corpus images (train / val)": f"{res.n_train} / {res.n_val}",
                        "val mean AUROC (14 labels)": res.best_val_auroc, "best epoch": res.best_epoch})


def pretrain_overrides(cfg: DemoConfig, tokenizer_dir: Path, extra: list[str] | None = None,
                       backbone_dir: Path | None = None) -> list[str]:
    """Dotlist overrides of configs/pretrain/phantom-tiny.yaml for a demo run."""
    vision = [f"model.vision.source={backbone_dir}"] if backbone_dir is not None else []
    return [f"model.tokenizer={tokenizer_dir}", *vision, f"model.vision.config.image_size={cfg.model_image_size}",
            f"trainer.max_epochs={cfg.pretrain_epochs}", f"data.batch_size={cfg.batch_size}",
            f"trainer.seed={cfg.seed}", *cfg.extra_pretrain_overrides, *(extra or [])]


def pretrain_run(s: DemoState, run_dir: Path, extra: list[str] | None = None, caches: Path | None = None) -> dict[str, Any]:
    """One pretraining run on the demo phantom (used by the main run and every ablation).

    Every run reuses the loaded records and one gaze cache and one feature cache under ``caches``
    (default ``out/caches``; both fingerprinted: a run whose inputs differ rebuilds them). Runs that
    may train at the same time (the ablations, in the side process) keep caches of their own."""
    from cogaze.config import load_config
    from cogaze.resources import config_path
    from cogaze.tasks.pretrain.config import PretrainConfig
    from cogaze.tasks.pretrain.pipeline import pretrain

    assert s.tokenizer_dir is not None and s.data_dir is not None
    cfg = load_config(PretrainConfig, config_path("pretrain/phantom-tiny.yaml"),
                      pretrain_overrides(s.cfg, s.tokenizer_dir, extra, s.backbone_dir))
    caches = caches or s.out / "caches"
    caches.mkdir(parents=True, exist_ok=True)
    return pretrain(cfg, s.data_dir, run_dir, gaze_cache=caches / "gaze.safetensors", records=s.records,
                    feature_cache=caches / "vision_features")


def pretrain_main(s: DemoState) -> None:
    from cogaze.html.plots import loss_curves, read_metrics_jsonl
    from cogaze.tasks.pretrain.pretrained import load_pretrained

    s.run_dir = s.out / "pretrain"
    summary = pretrain_run(s, s.run_dir)
    s.encoder = load_pretrained(s.run_dir)
    rows = read_metrics_jsonl(s.run_dir / "metrics.jsonl")
    train = [r for r in rows if r["split"] == "train"]
    first = {k: float(np.mean([r[k] for r in train if r["epoch"] == 0 and k in r])) for k in ("contrastive", "gaze")}
    last_epoch = max(r["epoch"] for r in train)
    last = {k: float(np.mean([r[k] for r in train if r["epoch"] == last_epoch and k in r])) for k in first}
    s.results["pretrain"] = {"summary": summary, "first_epoch": first, "last_epoch": last}
    s.page.add_section("Pretraining", "CoGaze's three losses (hybrid-positive contrastive, class-balanced "
                       "classification, soft gaze guidance) on the phantom's training split.")
    s.page.add_metrics({
        "contrastive, epoch 1 -> last": f"{first['contrastive']:.3f} -> {last['contrastive']:.3f}",
        "gaze JS, epoch 1 -> last": f"{first['gaze']:.3f} -> {last['gaze']:.3f}",
        "val image->report top-1 (last epoch)": summary.get("retrieval_top1"),
        "chance": summary.get("retrieval_chance"),
        **({"best epoch (used downstream)": best["epoch"],
            "its val top-1": best["val"].get("retrieval_top1")} if (best := summary.get("best")) else {}),
    })
    s.page.add_figure(loss_curves(rows), "Loss terms per step (train) and per epoch (val).")


def zeroshot(s: DemoState) -> None:
    from cogaze.html.plots import roc_curves
    from cogaze.tasks.items import ImageItems
    from cogaze.tasks.zeroshot import ZeroShotConfig, run_zeroshot

    items = ImageItems.from_records(s.frontal("test"), s.preprocess, s.cfg.zeroshot_classes, name="phantom-test")
    res = run_zeroshot(s.encoder, items, ZeroShotConfig(prompts="phantom", negative_class="No Finding"))
    res.write_json(s.out / "zeroshot.json")
    s.results["zeroshot"] = {"metrics": res.metrics, "per_class": res.per_class}
    s.page.add_section("Zero-shot classification", "Prompt ensembles (the phantom prompt file shipped with cogaze, "
                       "resources/prompts/phantom.yaml) averaged into class prototypes, each finding scored "
                       "against 'No Finding'.")
    scored = sum(v.get("AUROC") is not None for v in res.per_class.values())
    s.page.add_metrics({f"mean AUROC ({scored} findings)": res.metrics.get("AUROC"),
                        "mean F1": res.metrics.get("F1"), "mean accuracy": res.metrics.get("accuracy")},
                       caption=f"Phantom test split, {len(items)} frontal images; means over the findings with "
                       "both labels present (an AUROC needs positives and negatives).")
    s.page.add_table([{"finding": k, **v} for k, v in res.per_class.items()],
                     caption="Per finding ('\u2014': no positive test image, no AUROC).")
    names = [n for n in res.class_names if len(set(res.labels[n])) == 2]
    if names:
        y = np.array([res.labels[n] for n in names]).T
        p = np.array([res.scores[n] for n in names]).T
        s.page.add_figure(roc_curves(y, p, names), "Zero-shot ROC curves.")


def retrieval(s: DemoState) -> None:
    from cogaze.html.labels import readable
    from cogaze.tasks.items import ImageItems
    from cogaze.tasks.retrieval import RetrievalConfig, run_retrieval

    assert s.records is not None
    recs = s.frontal("val") + s.frontal("test")
    items = ImageItems.from_records(recs, s.preprocess, list(RETRIEVAL_CLASSES), name="phantom-val+test")
    classes, per_class = retrieval_sample_size(items, list(RETRIEVAL_CLASSES), s.cfg.retrieval_per_class)
    if per_class < 2:
        raise ValueError("too few single-label val/test images for retrieval at this phantom size")
    cfg = RetrievalConfig(classes=classes, per_class=per_class, seed=s.cfg.seed)
    res = run_retrieval(s.encoder, items, cfg)
    res.write_json(s.out / "retrieval.json")
    s.results["retrieval"] = res.metrics
    s.page.add_section("Image-to-report retrieval", f"The {len(classes)}x{per_class} construction (the paper: "
                       "5x200 on MIMIC) on the phantom's val+test frontal images; relevance = same label. "
                       "Sampled ids are in retrieval.json.")
    s.page.add_metrics(readable(res.metrics), caption="P@k: share of relevant reports among the top k; R@k: "
                       "share of the query's relevant reports found in the top k.")


PROBE_ENCODERS = {"pretrained": "pretrained CoGaze", "random_init": "every weight random",
                  "frozen backbone + random CoGaze layers": "frozen backbone + random CoGaze layers"}
"""The linear probe's encoders: key in results.json -> name on the page."""


def linear_probe(s: DemoState) -> None:
    from cogaze.html.labels import readable
    from cogaze.tasks.classification import ClassificationConfig, run_classification
    from cogaze.tasks.items import ImageItems

    classes = list(PROBE_CLASSES)
    split = {k: ImageItems.from_records(s.frontal(k), s.preprocess, classes, name=f"phantom-{k}")
             for k in ("train", "val", "test")}
    cfg = ClassificationConfig(fractions=[100], seeds=[s.cfg.seed], epochs=s.cfg.probe_epochs)
    encoders = dict(zip(PROBE_ENCODERS, (s.encoder, random_encoder(s.encoder, s.cfg.seed),
                                         random_encoder(s.encoder, s.cfg.seed, keep_backbone=True))))
    results = {key: dict(run_classification(enc, split["train"], split["val"], split["test"], cfg,
                                            label=f"phantom-test, {PROBE_ENCODERS[key]}").metrics)
               for key, enc in encoders.items()}
    s.results["linear_probe"] = results
    s.page.add_section("Linear probe", f"A linear head on the pooled vision latents of the frozen encoder, "
                       f"{len(classes)} findings ({', '.join(classes)}), 100 % of the training labels. Baselines "
                       "on the same split: the same architecture with every weight random, and the frozen "
                       "pretrained backbone under randomly initialised CoGaze layers (what CoGaze pretraining "
                       "itself adds).")
    rows = [{"encoder": PROBE_ENCODERS[key], **readable(v, fractions=False)} for key, v in results.items()]
    s.page.add_table(rows, caption=f"Phantom test split, {len(split['test'])} frontal images; macro AUROC and "
                     f"macro F1 (threshold 0.5) over the findings, seed {s.cfg.seed}.")


def write_json(path: Path, obj: Any) -> None:
    """JSON with numpy/torch scalars turned into floats, written atomically."""
    atomic_write_json(path, obj)
