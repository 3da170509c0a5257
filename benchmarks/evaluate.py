"""Time all NLG metrics over 3,852 report pairs (the size of the MIMIC-CXR test set).

The pairs are built from the SRRG CSV in ../shared/data: its 1,459 rows repeated, each repeat
perturbed (sentence order rotated in the generated report) so that no two pairs are identical.
Run: ``PYTHONPATH=src python benchmarks/evaluate.py [--csv PATH] [--n 3852]``.
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from pathlib import Path

from cogaze.metrics.nlg import compute_nlg
from cogaze.metrics.reports_csv import read_reports_csv

DEFAULT_CSV = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "srrg_cogaze_distilgpt2_generated.csv"


def build_pairs(path: Path, n: int) -> tuple[list[str], list[str]]:
    pairs = read_reports_csv(path)
    refs, hyps = [], []
    i = 0
    while len(refs) < n:
        j = i % len(pairs)
        rot = i // len(pairs)
        parts = [s for s in pairs.hypotheses[j].split(".") if s.strip()]
        k = rot % max(1, len(parts))
        refs.append(pairs.references[j])
        hyps.append(".".join(parts[k:] + parts[:k]) + ".")
        i += 1
    return refs, hyps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    ap.add_argument("--n", type=int, default=3852)
    ap.add_argument("--protocol", default="reference")
    args = ap.parse_args()
    refs, hyps = build_pairs(args.csv, args.n)
    t0 = time.perf_counter()
    result = compute_nlg(refs, hyps, protocol=args.protocol)
    elapsed = time.perf_counter() - t0
    print(f"{len(refs)} pairs, protocol={args.protocol}, cpus={os.cpu_count()}")
    for k, v in result.scores.items():
        print(f"  {k:8s} {v:.6f}")
    result.close()  # waits for the JVM, so its CPU time is counted below
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(f"all NLG metrics: {elapsed:.1f} s wall (target < 30 s on 2 cores); load average "
          f"{os.getloadavg()[0]:.1f}")
    print(f"CPU: python {me.ru_utime + me.ru_stime:.1f} s, java (METEOR) {kids.ru_utime + kids.ru_stime:.1f} s "
          "- they run concurrently, so on 2 idle cores wall ~ the larger of the two")
    print(f"RESULT wall_s={elapsed:.1f} python_cpu_s={me.ru_utime + me.ru_stime:.1f} "
          f"java_cpu_s={kids.ru_utime + kids.ru_stime:.1f} load={os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
