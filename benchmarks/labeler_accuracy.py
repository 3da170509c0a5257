"""Accuracy of the built-in CheXpert-style labeler on the hand-written development set.

The set (tests/data/labeler_dev.csv) holds report sentences written for this project in the style of
real chest X-ray reports, grouped by pattern class (negation lists, "to suggest" triggers, normal
descriptions, uncertainty, pseudo-negation, sentence boundaries, compound findings, resolved /
improved, laterality, support devices, No Finding logic), each with its expected 4-state CheXpert
labels (1 positive, 0 negative, -1 uncertain, blank). No public labelled report corpus was used.

Per class: the share of reports whose label for that class equals the expected one (blank included).
Run: ``PYTHONPATH=src python benchmarks/labeler_accuracy.py [--csv PATH] [--failures]``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from cogaze.data.records import CHEXPERT_CLASSES
from cogaze.metrics.chexpert_csv import read_expected_labels
from cogaze.metrics.labeler import RuleLabeler

DEFAULT = Path(__file__).resolve().parents[1] / "tests" / "data" / "labeler_dev.csv"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--csv", type=Path, default=DEFAULT)
    ap.add_argument("--failures", action="store_true", help="Print every report with a wrong class.")
    args = ap.parse_args()
    groups, texts, expected = read_expected_labels(args.csv)
    t0 = time.perf_counter()
    got = RuleLabeler()(texts)
    elapsed = time.perf_counter() - t0
    ok = got == expected
    print(f"{len(texts)} reports, {len(set(groups))} pattern classes, labelled in {elapsed:.2f} s")
    print(f"{'class':28s} {'accuracy':>8s}  {'errors':>6s}")
    for j, cls in enumerate(CHEXPERT_CLASSES):
        print(f"{cls:28s} {ok[:, j].mean():8.3f}  {int((~ok[:, j]).sum()):6d}")
    print(f"{'pattern class':28s} {'reports all right':>17s}")
    for g in dict.fromkeys(groups):
        rows = np.array([x == g for x in groups])
        print(f"{g:28s} {ok[rows].all(1).mean():8.3f} of {int(rows.sum())}")
    if args.failures:
        for i in np.flatnonzero(~ok.all(1)):
            diff = {CHEXPERT_CLASSES[j]: (int(got[i, j]), int(expected[i, j])) for j in np.flatnonzero(~ok[i])}
            print(f"[{groups[i]}] {texts[i]!r}: (got, expected) raw {diff}")
    print(f"RESULT cell_accuracy={ok.mean():.4f} report_accuracy={ok.all(1).mean():.4f} "
          f"min_class_accuracy={ok.mean(0).min():.4f} n_reports={len(texts)}")


if __name__ == "__main__":
    main()
