"""Side-by-side: the built-in scope rules against medspaCy's ConText on the labeler's sentence sets.

Both variants share everything but the assertion step: the same sentence splitter, the same mention
and "normal description" phrases (:mod:`cogaze.metrics.labeler_rules`) and the same CheXpert
aggregation. The ConText variant hands the mentions to medspaCy's ``ConText`` with its default rule
set and reads negated / uncertain (possible or hypothetical) from it; "normal" descriptions stay
negative unless ConText finds them uncertain.

medspaCy is not a cogaze dependency: on Python < 3.12 it pins spaCy < 3.8, which needs numpy < 2
(cogaze runs on numpy 2). Run it in its own environment, e.g.::

    python -m venv /tmp/ctx && /tmp/ctx/bin/pip install "spacy>=3.8,<3.9" numpy loguru six nltk \
        unidecode PyFastNER quicksectx pysimstring medspacy_unqlite jsonschema pysbd==0.3.4
    /tmp/ctx/bin/pip install --no-deps medspacy==1.3.1 PyRuSH medspacy_quickumls==3.2
    PYTHONPATH=src /tmp/ctx/bin/python benchmarks/labeler_context_compare.py
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from cogaze.data.records import BLANK, CHEXPERT_CLASSES, NEGATIVE, POSITIVE, UNCERTAIN
from cogaze.metrics import labeler
from cogaze.metrics.chexpert_csv import read_expected_labels

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"


def context_labeler():
    """texts -> (n, 14) raw labels with medspaCy ConText deciding negation / uncertainty."""
    import medspacy.context  # noqa: F401 - registers the medspacy_context factory
    import spacy
    from spacy.tokens import Span

    nlp = spacy.blank("en")
    context = nlp.add_pipe("medspacy_context")

    def sentence_states(sentence: str) -> list[tuple[str, int]]:
        text = labeler._MASK_RE.sub(lambda m: "_" * len(m.group()), sentence)
        found = []
        for cls, rx in labeler._MENTION_RE.items():
            found += [(s, e, cls, False) for s, e in labeler._spans(rx, text)]
        normals = [(s, e, cls, True) for cls, rx in labeler._NORMAL_RE.items() for s, e in labeler._spans(rx, text)]
        found = [m for m in found if not any(n[2] == m[2] and labeler._overlaps(m[:2], [n[:2]]) for n in normals)]
        doc = nlp.make_doc(sentence)
        spans, kinds = [], []
        for s, e, cls, normal in sorted(found + normals):
            span = doc.char_span(s, e, label=cls, alignment_mode="expand")
            if span is not None and not any(span.start < o.end and o.start < span.end for o in spans):
                spans.append(span)
                kinds.append(normal)
        doc.ents = [Span(doc, sp.start, sp.end, label=sp.label_) for sp in spans]
        for i, tok in enumerate(doc):
            tok.is_sent_start = i == 0
        doc = context(doc)
        out = []
        for ent, normal in zip(doc.ents, kinds):
            if ent._.is_uncertain or ent._.is_hypothetical:
                state = UNCERTAIN
            elif ent._.is_negated or normal:
                state = NEGATIVE
            else:
                state = POSITIVE
            out.append((ent.label_, state))
        return out

    def label(texts: list[str]) -> np.ndarray:
        rows = []
        for t in texts:
            found: dict[str, set[int]] = {}
            for sentence in labeler.split_sentences(t):
                for cls, state in sentence_states(sentence):
                    found.setdefault(cls, set()).add(state)
            lab = np.full(len(CHEXPERT_CLASSES), BLANK, dtype=np.int64)
            for i, cls in enumerate(CHEXPERT_CLASSES[:-1]):
                for state in (POSITIVE, UNCERTAIN, NEGATIVE):
                    if state in found.get(cls, set()):
                        lab[i] = state
                        break
            abnormal = any(lab[CHEXPERT_CLASSES.index(c)] in (POSITIVE, UNCERTAIN) for c in labeler.PATHOLOGIES)
            lab[-1] = BLANK if abnormal else POSITIVE
            rows.append(lab)
        return np.stack(rows)

    return label


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--csv", type=Path, nargs="*",
                    default=[DATA / "labeler_dev.csv", DATA / "labeler_holdout.csv"])
    args = ap.parse_args()
    ctx = context_labeler()
    for path in args.csv:
        groups, texts, expected = read_expected_labels(path)
        t0 = time.perf_counter()
        rules = labeler.RuleLabeler()(texts)
        t_rules = time.perf_counter() - t0
        t0 = time.perf_counter()
        con = ctx(texts)
        t_ctx = time.perf_counter() - t0
        print(f"{path.name}: {len(texts)} reports   rules {t_rules:.2f} s   ConText {t_ctx:.2f} s")
        print(f"{'':28s} {'rules':>7s} {'ConText':>8s}   (per-class accuracy)")
        for j, cls in enumerate(CHEXPERT_CLASSES):
            print(f"{cls:28s} {(rules[:, j] == expected[:, j]).mean():7.3f} {(con[:, j] == expected[:, j]).mean():8.3f}")
        print(f"{'pattern class (reports right)':28s}")
        for g in dict.fromkeys(groups):
            rows = np.array([x == g for x in groups])
            print(f"{g:28s} {(rules[rows] == expected[rows]).all(1).mean():7.3f} "
                  f"{(con[rows] == expected[rows]).all(1).mean():8.3f}")
        r_acc, c_acc = (rules == expected).all(1).mean(), (con == expected).all(1).mean()
        print(f"RESULT file={path.name} rules_report_accuracy={r_acc:.4f} context_report_accuracy={c_acc:.4f}")


if __name__ == "__main__":
    main()
