"""``cogaze demo``: the whole system on the phantom, ending in one HTML page."""

from __future__ import annotations

import click

from cogaze.logs import verbosity_options


@click.command()
@verbosity_options
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="demo_out", show_default=True,
              help="Output folder (phantom, runs, results.json, timings.json, report.html).")
@click.option("--quick", is_flag=True, help="Small sizes: a smoke run of every stage in about two minutes.")
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=0, show_default=True, help="Seed of the phantom and every training run.")
@click.option("--strict", is_flag=True, help="Exit 1 when any stage failed (the page is written anyway).")
@click.option("--workers", type=click.IntRange(1, 2), default=2, show_default=True,
              help="2: the side stages (downstream checks, gaze, ablations) run in a second process beside "
              "pretraining and report generation; 1: one stage after another (same numbers, slower).")
def demo(out_dir: str, quick: bool, seed: int, strict: bool, workers: int) -> None:
    """Phantom -> tokenizer -> pretraining -> zero-shot, retrieval, linear probe, segmentation ->
    report generation -> evaluation -> gaze prediction (-> ablations) -> OUT/report.html."""
    from dataclasses import replace

    from cogaze.demo.config import preset
    from cogaze.demo.run import run_demo
    from cogaze.errors import CogazeError

    result = run_demo(out_dir, quick=quick, config=replace(preset(quick), seed=seed, workers=workers))
    click.echo(f"report: {result['report']}  ({result['total_seconds']:.0f} s)")
    if result["failed"]:
        click.echo(f"failed stages: {', '.join(result['failed'])}", err=True)
        if strict:
            raise CogazeError(f"{len(result['failed'])} demo stage(s) failed: {', '.join(result['failed'])}")
