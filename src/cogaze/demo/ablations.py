"""Demo stage: the paper's ablations pretrained on the phantom and scored on the same downstream checks."""

from __future__ import annotations

from cogaze.demo.stages import DemoState
from cogaze.logs import Progress
from cogaze.tasks.ablation import VARIANTS, variant_slug


def ablations(s: DemoState) -> None:
    from cogaze.demo.stages import pretrain_run
    from cogaze.html.plots import ablation_bars, ablation_rows
    from cogaze.tasks.phantom_scores import score_run

    seeds = list(range(s.cfg.ablation_seeds))
    results: dict[str, dict[str, list[float]]] = {}
    progress = Progress(len(VARIANTS) * len(seeds), "ablation run")
    for v, (name, overrides) in enumerate(VARIANTS.items()):
        for k, seed in enumerate(seeds):
            progress.step(v * len(seeds) + k, f"now '{name}', seed {seed}")
            run = s.out / "ablations" / f"{variant_slug(name)}-seed{seed}"
            pretrain_run(s, run, [*overrides, f"trainer.max_epochs={s.cfg.ablation_epochs}",
                                  f"trainer.seed={s.cfg.seed + 1000 * seed}"], caches=s.out / "ablations" / "caches")
            for metric, value in score_run(run, s.scoring()).items():
                results.setdefault(name, {}).setdefault(metric, []).append(float(value))
    progress.step(len(VARIANTS) * len(seeds), "every variant scored")
    s.results["ablations"] = results
    epochs = f"{s.cfg.ablation_epochs} epoch{'s' if s.cfg.ablation_epochs != 1 else ''}"
    if len(seeds) > 1:
        how = (f"{len(seeds)} seeds each; means with 95 % confidence intervals (Student t over the seeds).",
               "Means over seeds with 95 % confidence intervals.")
    else:
        how = ("1 seed each: single runs, so no confidence interval, and differences of a few hundredths are noise.",
               "Single runs (1 seed per variant): no error bars.")
    s.page.add_section("Ablations", f"Each variant pretrained on the phantom for {epochs} and scored with the "
                       f"same checks as the main run; {how[0]}")
    rows, columns = ablation_rows(results)
    s.page.add_table(rows, columns)
    s.page.add_figure(ablation_bars(results), how[1])
