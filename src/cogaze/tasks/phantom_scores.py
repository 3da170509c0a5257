"""The phantom checks every pretraining run is scored with (the demo's stages and ``cogaze ablate``).

Zero-shot AUROC, image -> report retrieval P@1, linear-probe AUROC and gaze alignment of one encoder on
a cogaze dataset folder's frontal images, with the sizes of a :class:`ScoringSetup`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from cogaze.data.records import ImageRecord, RecordSet

log = logging.getLogger("cogaze.scores")

RETRIEVAL_CLASSES = ("Cardiomegaly", "Pleural Effusion", "Pneumothorax", "Support Devices", "No Finding")
PROBE_CLASSES = ("Cardiomegaly", "Pleural Effusion", "Pneumothorax", "Support Devices")


@dataclass
class ScoringSetup:
    """What the checks need besides the encoder: the records and the sizes of each check."""

    records: RecordSet
    data_dir: Path | None = None
    """The dataset folder (a phantom's sentence boxes add the grounding scores)."""
    seed: int = 0
    probe_epochs: int = 30
    retrieval_per_class: int = 10
    zeroshot_classes: list[str] = field(
        default_factory=lambda: ["Cardiomegaly", "Pleural Effusion", "Pneumothorax", "Edema"])

    def frontal(self, split: str) -> list[ImageRecord]:
        """Frontal (PA/AP) records of ``split``."""
        from cogaze.tasks.phantom_sets import frontal_split

        return frontal_split(self.records, split)


def preprocess_for(encoder: Any):
    """uint8 image -> model input tensor with the encoder's geometry."""
    return lambda arr: torch.from_numpy(encoder.geometry.transform_image(arr))


def retrieval_sample_size(items: Any, classes: Sequence[str], wanted: int) -> tuple[list[str], int]:
    """Classes with at least two single-label items, and the per-class count all of them can give."""
    single = items.labels.sum(1) == 1
    counts = {c: int((items.labels[single, i] == 1).sum()) for i, c in enumerate(items.class_names)}
    usable = [c for c in classes if counts.get(c, 0) >= 2]
    return usable, min([wanted, *[counts[c] for c in usable]]) if usable else 0


def zeroshot_auroc(encoder: Any, setup: ScoringSetup) -> float:
    """Mean zero-shot AUROC over the setup's zero-shot classes (test split)."""
    from cogaze.tasks.items import ImageItems
    from cogaze.tasks.zeroshot import ZeroShotConfig, run_zeroshot

    items = ImageItems.from_records(setup.frontal("test"), preprocess_for(encoder), setup.zeroshot_classes)
    return float(run_zeroshot(encoder, items, ZeroShotConfig(prompts="phantom", negative_class="No Finding"))
                 .metrics["AUROC"])


def retrieval_p1(encoder: Any, setup: ScoringSetup) -> float:
    """Retrieval P@1 on a class-balanced sample of the val+test frontal images."""
    from cogaze.tasks.items import ImageItems
    from cogaze.tasks.retrieval import RetrievalConfig, run_retrieval

    recs = setup.frontal("val") + setup.frontal("test")
    items = ImageItems.from_records(recs, preprocess_for(encoder), list(RETRIEVAL_CLASSES))
    classes, per_class = retrieval_sample_size(items, RETRIEVAL_CLASSES, setup.retrieval_per_class)
    cfg = RetrievalConfig(classes=classes, per_class=per_class, seed=setup.seed)
    return float(run_retrieval(encoder, items, cfg).metrics["P@1"])


def linear_probe_auroc(encoder: Any, setup: ScoringSetup) -> float:
    """Linear-probe test AUROC (100 % labels, one seed)."""
    from cogaze.tasks.classification import ClassificationConfig, run_classification
    from cogaze.tasks.items import ImageItems

    split = {k: ImageItems.from_records(setup.frontal(k), preprocess_for(encoder), PROBE_CLASSES)
             for k in ("train", "val", "test")}
    cfg = ClassificationConfig(fractions=[100], seeds=[setup.seed], epochs=setup.probe_epochs)
    res = run_classification(encoder, split["train"], split["val"], split["test"], cfg)
    return float(res.metrics["AUROC@100%"])


def held_out_gaze(records: RecordSet) -> list[ImageRecord]:
    """Test-split records with gaze readings (never seen in pretraining)."""
    return [r for r in records.split("test") if r.has_gaze]


def gaze_scores(encoder: Any, setup: ScoringSetup) -> dict[str, float]:
    """NSS and sAUC of the encoder's sentence maps on the held-out readings (empty without any); on a phantom
    also the grounding scores (pointing game, own-vs-other box = text specificity, mean correlation between
    the maps of different sentences on one image = sentence-map CC, lower is more text-specific)."""
    from cogaze.explain.baselines import EncoderPredictor
    from cogaze.explain.evaluate_gaze import evaluate_gaze

    recs = held_out_gaze(setup.records)
    if not recs:
        return {}
    model = EncoderPredictor(encoder, encoder.geometry)
    table = evaluate_gaze(recs, {"model": model}, baselines=False, icc_boot=100, sauc_splits=20, seed=setup.seed)
    out = {"gaze NSS": float(table["model"]["nss"].mean), "gaze sAUC": float(table["model"]["sauc"].mean)}
    if setup.data_dir is not None and (Path(setup.data_dir) / "phantom" / "sentences.csv").is_file():
        from cogaze.data.grounding import load_phantom_grounding
        from cogaze.explain.evaluate_grounding import evaluate_grounding, grounding_units

        units = grounding_units(recs, load_phantom_grounding(setup.data_dir, with_masks=False))
        if units:
            g = evaluate_grounding(units, {"model": model})["model"]
            out.update({"pointing game": float(g["pointing"].mean), "text specificity": float(g["own_box"].mean),
                        "sentence-map CC": float(g["cc_sentences"].mean)})
    return out


def score_encoder(encoder: Any, setup: ScoringSetup) -> dict[str, float]:
    """Every check of one encoder: retrieval P@1, zero-shot AUROC, linear-probe AUROC, gaze NSS/sAUC."""
    out = {"retrieval P@1": retrieval_p1(encoder, setup), "zero-shot AUROC": zeroshot_auroc(encoder, setup),
           "linear-probe AUROC": linear_probe_auroc(encoder, setup)}
    out.update(gaze_scores(encoder, setup))
    return out


def score_run(run_dir: str | Path, setup: ScoringSetup) -> dict[str, float]:
    """:func:`score_encoder` of a pretraining run folder's best checkpoint."""
    from cogaze.tasks.pretrain.pretrained import load_pretrained

    return score_encoder(load_pretrained(run_dir), setup)


def random_encoder(encoder: Any, seed: int, keep_backbone: bool = False) -> Any:
    """``encoder``'s architecture with fresh random weights (the linear-probe baselines).

    ``keep_backbone`` keeps the frozen pretrained vision backbone and re-initialises only what CoGaze
    pretraining trains; otherwise the backbone is random too (same architecture).
    """
    from transformers import AutoModel

    from cogaze.models.cogaze import CoGazeModel
    from cogaze.models.pretrained import PretrainedCoGaze

    torch.manual_seed(seed + 1)
    model = CoGazeModel(encoder.model.config)
    if not keep_backbone:
        model.vision_backbone = AutoModel.from_config(model.vision_backbone.config).eval().requires_grad_(False)
    return PretrainedCoGaze(model, encoder.tokenizer, encoder.geometry)


__all__ = ["PROBE_CLASSES", "RETRIEVAL_CLASSES", "ScoringSetup", "gaze_scores", "held_out_gaze",
           "linear_probe_auroc", "random_encoder", "retrieval_p1", "retrieval_sample_size", "score_encoder",
           "score_run", "zeroshot_auroc"]
