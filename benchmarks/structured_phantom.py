"""Structured report generation on the phantom: the demo's pipeline up to the free-text decoder, then the
structured decoder fine-tuned from it, scored against the most common structured training report.

Prints BLEU / ROUGE-L (StructEval), section presence F1, section-level CE micro-F1 and report-level
CE-14 micro-F1 of both systems; last line ``RESULT ...``. ``--reuse DIR`` keeps the phantom, pretraining
and free-text runs of an earlier call in DIR and re-runs the structured stage only.

Usage: PYTHONPATH=src python benchmarks/structured_phantom.py --out DIR [--reuse] [--patients 300]
       [--epochs N] [overrides of the structured config ...]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from cogaze.demo.config import DemoConfig
from cogaze.demo.stages import DemoState


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--reuse", action="store_true", help="reuse DIR's phantom, pretraining and free-text runs")
    ap.add_argument("--patients", type=int, default=300)
    ap.add_argument("--epochs", type=int, default=0, help="structured epochs (0 = the config's)")
    args = ap.parse_args()
    from cogaze.demo import reports, stages, structured
    from cogaze.html.page import ReportPage

    cfg = DemoConfig(n_patients=args.patients, structured_epochs=args.epochs)
    s = DemoState(out=args.out, cfg=cfg, page=ReportPage("structured reports on the phantom"))
    times = {}
    start = time.perf_counter()
    if args.reuse and (args.out / "report_generation" / "model.safetensors").is_file():
        from cogaze.models.pretrained import load_pretrained

        s.data_dir, s.run_dir = args.out / "phantom", args.out / "pretrain"
        s.encoder = load_pretrained(s.run_dir)
    else:
        for name, fn in (("phantom", stages.make_phantom), ("tokenizer", stages.train_tokenizer),
                         ("backbone", stages.train_vision_backbone), ("pretraining", stages.pretrain_main),
                         ("free-text reports", reports.report_generation)):
            t0 = time.perf_counter()
            fn(s)
            times[name] = time.perf_counter() - t0
            print(f"{name}: {times[name]:.0f} s", flush=True)
    t0 = time.perf_counter()
    structured.structured_reports(s)
    times["structured reports"] = time.perf_counter() - t0
    s.page.write(args.out / "structured.html")
    table = s.results["structured_reports"]
    (args.out / "structured_results.json").write_text(json.dumps({"results": table, "seconds": times}, indent=2))
    keys = list(next(iter(table.values())))
    print(f"{'system':32s} " + " ".join(f"{k:>20s}" for k in keys))
    for name, row in table.items():
        print(f"{name:32s} " + " ".join(f"{row[k]:20.4f}" for k in keys))
    ours, common = table["CoGaze decoder (structured)"], table["most common structured report"]
    print(f"stage seconds: {json.dumps({k: round(v) for k, v in times.items()})}")
    print(f"RESULT bleu={ours['BLEU']:.4f} bleu_most_common={common['BLEU']:.4f} "
          f"section_ce_f1={ours['section_CE_micro_F1']:.4f} section_ce_f1_most_common={common['section_CE_micro_F1']:.4f} "
          f"seconds={time.perf_counter() - start:.0f}")


if __name__ == "__main__":
    main()
