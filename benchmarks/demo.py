"""Time every stage of `cogaze demo` (wall clock and process CPU time) in quick and full mode.

Last line: RESULT quick_s=<x> full_s=<y> full_cpu_s=<z>. CPU time (this process's threads and its
finished child processes) is the figure to compare on a machine that other jobs share: wall time
there is inflated by waiting for a core.

Usage: python benchmarks/demo.py [--out DIR] [--quick-only | --full-only]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from cogaze.demo.run import run_demo
from cogaze.logs import configure


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default=None, help="where the demo folders go (default: a temp dir)")
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--quick-only", action="store_true", help="skip the full run")
    only.add_argument("--full-only", action="store_true", help="skip the quick run")
    args = parser.parse_args()
    configure(0)  # the progress lines `cogaze demo` prints
    root = Path(args.out or tempfile.mkdtemp(prefix="cogaze-demo-bench-"))
    modes = ("quick",) if args.quick_only else ("full",) if args.full_only else ("quick", "full")
    totals: dict[str, tuple[float, float]] = {}
    for mode in modes:
        result = run_demo(root / mode, quick=mode == "quick")
        print(f"{mode} mode:                    status   wall      CPU")
        for name, stage in result["stages"].items():
            print(f"  {name:28s} {stage['status']:8s} {_seconds(stage['seconds']):>9s} {_seconds(stage['cpu_seconds']):>9s}")
        totals[mode] = (result["total_seconds"], result["total_cpu_seconds"])
        print(f"  {'total':28s} {'':8s} {_seconds(totals[mode][0]):>9s} {_seconds(totals[mode][1]):>9s}")
    quick = f"{totals['quick'][0]:.1f}" if "quick" in totals else "nan"
    full, full_cpu = (f"{v:.1f}" for v in totals["full"]) if "full" in totals else ("nan", "nan")
    print(f"RESULT quick_s={quick} full_s={full} full_cpu_s={full_cpu}")


if __name__ == "__main__":
    main()
