"""Which structured-report protocol gives the paper's Table 2 numbers? Every plausible variant on the
authors' released CoGaze (DistilGPT2) SRRG outputs, side by side with the published values.

Paper, Table 2, CoGaze (DistilGPT2): BLEU 2.80, ROUGE-L 20.23, "SRR" P / R / F1 75.82 / 85.61 / 78.32 (%).
Run: ``PYTHONPATH=src python benchmarks/srrg_table2.py [--csv PATH]``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from cogaze.data.structured import flatten_structured
from cogaze.metrics.nlg import compute_nlg
from cogaze.metrics.reports_csv import read_reports_csv
from cogaze.metrics.structured import (
    RougeL,
    SectionRow,
    Sections,
    bleu4,
    nlg_row_scores,
    section_presence,
    section_rows,
)

DEFAULT_CSV = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "srrg_cogaze_distilgpt2_generated.csv"
PAPER = {"BLEU": 2.80, "ROUGE_L": 20.23, "P": 75.82, "R": 85.61, "F1": 78.32}


def _pct(x: float) -> str:
    return "n/a" if x is None or np.isnan(x) else f"{100 * x:.2f}"


def _unrestored(refs: list[str], hyps: list[str]) -> Sections:
    """StructEval's own parser on the CSV as released (line breaks stripped, not restored)."""
    from cogaze.data.structured import parse_structured

    r = [parse_structured(t, restore=False) for t in refs]
    h = [parse_structured(t, restore=False) for t in hyps]
    rows = [SectionRow(i, k, a.bullets(k) if k in a.sections else None, b.bullets(k) if k in b.sections else None)
            for i, (a, b) in enumerate(zip(r, h)) for k in dict.fromkeys([*a.sections, *b.sections])]
    return Sections(r, h, rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    args = ap.parse_args()
    pairs = read_reports_csv(args.csv)
    refs, hyps = pairs.references, pairs.hypotheses
    rows: list[tuple[str, float | None, float | None, str]] = []
    start = time.perf_counter()
    for aligned in (False, True):
        for lower in (False, True):
            sec = section_rows(refs, hyps, lower)
            s = nlg_row_scores(sec, aligned)
            presence, _ = section_presence(sec)
            name = f"StructEval findings, {'bullet-aligned' if aligned else 'whole sections'}, " \
                   f"{'lower-cased' if lower else 'case kept'}"
            rows.append((name, float(np.mean(s["BLEU"])), float(np.mean(s["ROUGE_L"])),
                         "/".join(_pct(presence[k]) for k in ("section_P", "section_R", "section_F1"))))
            if not aligned and not lower:
                matched = [i for i, r in enumerate(sec.rows) if r.matched]
                rows.append(("  same, sections on one side only left out (not scored 0)",
                             float(np.mean([s["BLEU"][i] for i in matched])),
                             float(np.mean([s["ROUGE_L"][i] for i in matched])), "-"))
    raw = _unrestored(refs, hyps)
    rows.append((f"StructEval parser on the CSV as released (no line breaks): {len(raw.rows)} section rows",
                 None, None, "-"))
    flat_r = [flatten_structured(t) for t in refs]
    flat_h = [flatten_structured(t) for t in hyps]
    rows.append(("StructEval BLEU-4 / ROUGE-L on whole reports, headers and bullets removed",
                 bleu4(flat_r, flat_h), RougeL().mean(flat_r, flat_h), "-"))
    rows.append(("same on the raw CSV text (headers kept)", bleu4(refs, hyps), RougeL().mean(refs, hyps), "-"))
    coco = compute_nlg(refs, hyps, "reference", skip_missing=True)
    rows.append(("pycocoevalcap, free-text protocol (spec 6.1), raw CSV", coco.scores["BLEU_4"], coco.scores["ROUGE_L"], "-"))
    coco.close()
    coco_flat = compute_nlg(flat_r, flat_h, "reference", skip_missing=True)
    rows.append(("pycocoevalcap, free-text protocol, flattened", coco_flat.scores["BLEU_4"],
                 coco_flat.scores["ROUGE_L"], "-"))
    coco_flat.close()
    seconds = time.perf_counter() - start
    width = max(len(r[0]) for r in rows)
    print(f"{len(refs)} report pairs from {args.csv.name}; paper (Table 2): BLEU {PAPER['BLEU']:.2f}, "
          f"ROUGE-L {PAPER['ROUGE_L']:.2f}, SRR P/R/F1 {PAPER['P']:.2f}/{PAPER['R']:.2f}/{PAPER['F1']:.2f}")
    print(f"{'protocol':{width}s}  {'BLEU':>6s}  {'ROUGE-L':>7s}  section presence P/R/F1")
    for name, b, r, p in rows:
        print(f"{name:{width}s}  {_pct(b):>6s}  {_pct(r):>7s}  {p}")
    best = rows[0]
    match = _pct(best[1]) == f"{PAPER['BLEU']:.2f}" and _pct(best[2]) == f"{PAPER['ROUGE_L']:.2f}"
    print(f"RESULT bleu={_pct(best[1])} rouge_l={_pct(best[2])} section_f1={best[3].split('/')[-1]} "
          f"matches_paper={match} seconds={seconds:.1f}")


if __name__ == "__main__":
    main()
