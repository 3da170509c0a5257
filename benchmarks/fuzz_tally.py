"""Tally of the fuzz suite (tests/test_fuzz_*.py): bad inputs tried and how cogaze handled them.

Runs the suite with pytest and counts every case by the handling it declares (tests/fuzz_support.py):
``error`` (a clean message naming the file, row or key), ``skip`` (left out, logged and counted) or
``flag`` (a named warning or policy). A case that fails on an assertion is counted as a silent wrong
result (wrong exit code, wrong or missing message, wrong output); one that fails with any other exception
as a traceback. The README's count line is this script's last line.

    PYTHONPATH=src python benchmarks/fuzz_tally.py
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


class Tally:
    """A pytest plugin counting the fuzz cases' outcomes by declared kind."""

    def __init__(self) -> None:
        self.kinds: Counter[str] = Counter()
        self.wrong: list[str] = []
        self.tracebacks: list[str] = []

    def pytest_runtest_logreport(self, report) -> None:  # noqa: ANN001 - pytest's TestReport
        if report.when == "setup" and report.failed:
            self.tracebacks.append(f"{report.nodeid} (setup)")
            return
        if report.when != "call":
            return
        kind = dict(report.user_properties).get("fuzz")
        if kind is None:
            return
        if report.passed:
            self.kinds[kind] += 1
            return
        crash = getattr(getattr(report, "longrepr", None), "reprcrash", None)
        message = getattr(crash, "message", "") or ""
        (self.wrong if message.startswith(("AssertionError", "assert", "Failed")) else self.tracebacks).append(
            report.nodeid)


def main() -> int:
    tally = Tally()
    files = sorted(str(p) for p in (REPO / "tests").glob("test_fuzz_*.py") if p.name != "test_fuzz_count.py")
    code = pytest.main(["-q", "-p", "no:cacheprovider", *files], plugins=[tally])
    k = tally.kinds
    tried = sum(k.values()) + len(tally.wrong) + len(tally.tracebacks)
    print(f"fuzz cases: {tried} inputs tried in {len(files)} files")
    print(f"  clean errors naming the file, row or key: {k['error']}")
    print(f"  logged, counted skips: {k['skip']}")
    print(f"  flagged (warning or named policy, run goes on): {k['flag']}")
    print(f"  tracebacks: {len(tally.tracebacks)} {tally.tracebacks or ''}")
    print(f"  silent wrong results / wrong messages: {len(tally.wrong)} {tally.wrong or ''}")
    print(f"RESULT inputs={tried} clean_errors={k['error']} logged_skips={k['skip']} flagged={k['flag']} "
          f"tracebacks={len(tally.tracebacks)} silent_wrong={len(tally.wrong)}")
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
