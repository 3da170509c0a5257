"""Demo settings: ``quick`` (a smoke run in about two minutes on 2 CPU cores) and ``full``."""

from __future__ import annotations

from dataclasses import dataclass, field

from cogaze.config import help_field


@dataclass
class DemoConfig:
    """Sizes of every stage of ``cogaze demo``."""

    seed: int = help_field(0, "Seed of the phantom and of every training run.", ge=0, le=2**32 - 1)
    n_patients: int = help_field(300, "Phantom patients (1-4 studies each, 1-3 images per study).", ge=1)
    phantom_image_size: int = help_field(128, "Phantom image side in pixels.", ge=64, le=1024)
    val_fraction: float = help_field(0.1, "Fraction of phantom patients in the validation split.", ge=0, lt=1)
    test_fraction: float = help_field(0.2, "Fraction of phantom patients in the test split (every score).", ge=0, lt=1)
    gaze_fraction: float = help_field(0.4, "Fraction of images with a simulated radiologist reading.", ge=0, le=1)
    phantom_workers: int = help_field(2, "Processes rendering the phantom and the backbone corpus (output identical "
                                      "for any number).", ge=1)
    threads: int = help_field(1, "torch threads of each demo process (0 = torch's default, split between the two "
                              "processes after the backbone). 1 gives the same numbers on any number of cores, "
                              "and stays fast when other jobs share them (waiting threads spin); these tiny models "
                              "gain little from more.", ge=0)
    workers: int = help_field(2, "Processes running the stages once the backbone is trained: 2 = the side stages "
                              "(downstream checks, gaze, ablations) beside the main chain (pretraining, report "
                              "generation); 1 = one after another (same numbers, slower).", ge=1, le=2)
    model_image_size: int = help_field(128, "Model input side (phantom-tiny ResNet tokens at stride 8: grid = size / 8).",
                                       ge=16)
    backbone_patients: int = help_field(
        400, "Patients of the separate phantom corpus the frozen vision backbone (Rad-DINO stand-in) is trained on.",
            ge=1)
    backbone_seed_offset: int = help_field(1000, "The backbone corpus's phantom seed = seed + this (other patients).",
                                           ge=0)
    backbone_epochs: int = help_field(0, "Backbone training epochs (0 = BackboneTrainConfig's default, 16).", ge=0)
    backbone_lr: float = help_field(0.0, "Backbone AdamW peak learning rate (0 = BackboneTrainConfig's default, 6e-3).",
                                    ge=0)
    pretrain_epochs: int = help_field(8, "Pretraining epochs.", ge=1)
    batch_size: int = help_field(16, "Pretraining batch size.", ge=1)
    vocab_size: int = help_field(2000, "Tokenizer vocabulary size.", ge=1)
    probe_epochs: int = help_field(30, "Linear-probe epochs.", ge=1)
    seg_epochs: int = help_field(30, "Segmentation-decoder epochs (features of the frozen encoder are computed once).",
                                 ge=1)
    seg_channels: list[int] = help_field(help="Segmentation decoder block widths (each upsamples x2).",
                                         default_factory=lambda: [64, 32, 16], ge=1, min_items=1)
    seg_lr: float = help_field(1e-4, "Segmentation-decoder base learning rate (head: x5).", gt=0)
    seg_finding: str = help_field("Pleural Effusion", "Finding whose phantom masks the segmentation task learns.")
    report_epochs: int = help_field(0, "Report-decoder epochs (0 = configs/report/phantom-tiny.yaml's, 32).", ge=0)
    report_beams: int = help_field(3, "Beam width of report generation in the demo.", ge=1)
    structured_epochs: int = help_field(
        0, "Structured-report fine-tuning epochs (0 = configs/report/phantom-tiny-structured.yaml's).", ge=0)
    retrieval_per_class: int = help_field(10, "Images per class in the retrieval sample.", ge=1)
    ablation_epochs: int = help_field(2, "Pretraining epochs of each ablation variant (the full model included).", ge=1)
    ablation_seeds: int = help_field(1, "Seeds per ablation variant (0 = no ablations).", ge=0)
    zeroshot_classes: list[str] = help_field(
        help="Phantom findings scored zero-shot against No Finding.",
        default_factory=lambda: ["Cardiomegaly", "Pleural Effusion", "Pneumothorax", "Edema"],
    )
    extra_pretrain_overrides: list[str] = field(default_factory=list, metadata={"help": "Dotlist overrides for pretraining."})


def preset(quick: bool) -> DemoConfig:
    """The quick or the full preset."""
    if not quick:
        return DemoConfig()
    return DemoConfig(n_patients=40, phantom_image_size=64, model_image_size=64, backbone_patients=24,
                      backbone_epochs=1, pretrain_epochs=2, batch_size=16,
                      vocab_size=600, probe_epochs=5, seg_epochs=2, report_epochs=2, report_beams=1, structured_epochs=1,
                      retrieval_per_class=5, ablation_epochs=1, ablation_seeds=1)
