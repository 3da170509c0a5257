"""Demo stage: the paper's ablations pretrained on the phantom and scored on the same downstream checks."""

from __future__ import annotations

import re
from typing import Any

from cogaze.demo.stages import DemoState
from cogaze.logs import Progress

VARIANTS: dict[str, list[str]] = {
    "CoGaze (full)": [],
    "without gaze": ["model.loss.gaze=none"],
    "without context": ["model.use_context=false"],
    "single positive": ["model.loss.single_positive=true"],
    "gaze as binary mask": ["model.loss.gaze=bce_mask"],
}
"""Ablation name -> pretraining overrides (issue 9 item 3)."""


def variant_slug(name: str) -> str:
    """Folder name of an ablation variant: ``"CoGaze (full)"`` -> ``"cogaze-full"``."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def score_run(s: DemoState, run_dir: Any) -> dict[str, float]:
    """Retrieval, zero-shot, linear-probe and gaze scores of one pretraining run on the demo phantom."""
    from cogaze.demo.stages import DemoState as _State
    from cogaze.demo.stages import linear_probe_auroc, retrieval_p1, zeroshot_auroc
    from cogaze.models.pretrained import load_pretrained

    sub = _State(out=run_dir, cfg=s.cfg, page=None, data_dir=s.data_dir, records=s.records,  # type: ignore[arg-type]
                 tokenizer_dir=s.tokenizer_dir, run_dir=run_dir, encoder=load_pretrained(run_dir))
    out = {"retrieval P@1": retrieval_p1(sub), "zero-shot AUROC": zeroshot_auroc(sub),
           "linear-probe AUROC": linear_probe_auroc(sub)}
    try:
        from cogaze.demo.gaze import gaze_scores

        out.update(gaze_scores(sub))
    except ImportError:  # the gaze stage is optional
        pass
    return out


def ablations(s: DemoState) -> None:
    from cogaze.demo.stages import pretrain_run
    from cogaze.report.plots import ablation_bars, ablation_rows

    seeds = list(range(s.cfg.ablation_seeds))
    results: dict[str, dict[str, list[float]]] = {}
    progress = Progress(len(VARIANTS) * len(seeds), "ablation run")
    for v, (name, overrides) in enumerate(VARIANTS.items()):
        for k, seed in enumerate(seeds):
            progress.step(v * len(seeds) + k, f"now '{name}', seed {seed}")
            run = s.out / "ablations" / f"{variant_slug(name)}-seed{seed}"
            pretrain_run(s, run, [*overrides, f"trainer.max_epochs={s.cfg.ablation_epochs}",
                                  f"trainer.seed={s.cfg.seed + 1000 * seed}"])
            for metric, value in score_run(s, run).items():
                results.setdefault(name, {}).setdefault(metric, []).append(float(value))
    progress.step(len(VARIANTS) * len(seeds), "every variant scored")
    s.results["ablations"] = results
    s.page.add_section("Ablations", f"Each variant pretrained on the phantom for {s.cfg.ablation_epochs} epochs "
                       f"with {len(seeds)} seed(s); means with "
                       "95% confidence intervals (Student t over seeds; one seed gives no interval).")
    rows, columns = ablation_rows(results)
    s.page.add_table(rows, columns)
    s.page.add_figure(ablation_bars(results), "Ablation means with 95% CIs.")
