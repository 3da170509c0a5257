"""The README's fuzz count line names as many inputs as the fuzz suite holds (benchmarks/fuzz_tally.py
prints the full count by outcome; this keeps the line from going stale when cases are added)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_readme_fuzz_count_matches_the_suite():
    files = sorted(str(p) for p in (REPO / "tests").glob("test_fuzz_*.py") if p.name != "test_fuzz_count.py")
    out = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-o", "addopts=", *files],
                         capture_output=True, text=True, cwd=REPO, check=True).stdout
    collected = sum(1 for line in out.splitlines() if "::" in line)
    line = re.search(r"(\d+) bad inputs tried / (\d+) clean errors .*? / (\d+) logged, counted skips / (\d+) flagged"
                     r".*? / (\d+) tracebacks / (\d+)\s+silent wrong results", (REPO / "README.md").read_text(), re.S)
    assert line, "fuzz count line missing from README.md"
    tried, errors, skips, flagged, tracebacks, silent = map(int, line.groups())
    assert tried == collected == errors + skips + flagged
    assert tracebacks == 0 and silent == 0
