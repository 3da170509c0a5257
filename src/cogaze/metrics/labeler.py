"""A rule-based CheXpert-style labeler for the 14 CheXbert observations; needs no model weights.

Hand-written here (no maintained pip package labels all 14 observations without a model; the CheXpert
NLP labeler needs NegBio, a dependency parser and Java). Output per report: the raw 4-state coding of
spec 1.3 (0 blank, 1 positive, 2 negative, 3 uncertain) in ``CHEXPERT_CLASSES`` order.

Why the scope logic is hand-written and not medspaCy's ConText: measured side by side with the same
mentions, sentences and aggregation (benchmarks/labeler_context_compare.py), ConText's default rules
got 78.5% of the development reports fully right (rules: 100%, written against them) and 74.4% of a
hold-out set written after the rules were frozen (rules at their first run: 93.6%). ConText extends
"no" to the end of the sentence ("No effusion, mild cardiomegaly" negates cardiomegaly), reads
"cannot exclude pneumonia" and "no change in X" as negated, misses the uncertainty of "versus" and
"question of" and the resolution cues ("has resolved", "removal of"). medspaCy also pins spaCy < 3.8 (numpy < 2) on Python < 3.12,
which cogaze's numpy 2 stack cannot take.

Per sentence (split on periods, semicolons, new lines and SRRG bullets; section headers such as
``Support devices:`` or ``Lungs and Airways:-`` are dropped):

1. phrases that only look negated ("no change in", "unchanged") are masked;
2. mentions are found with per-class phrases; "normal" phrases ("heart size is normal") give the class
   a negative mention;
3. each mention takes the state of the nearest cue *before* it in its clause (negation -> negative,
   uncertainty -> uncertain), else of a cue right after it ("... is not seen", "... cannot be
   excluded"), else positive. Clauses end at "but", "however", "which", "there is", ";", and at a comma
   followed by a new finding's modifier ("No effusion, mild cardiomegaly"). "Cannot exclude" / "not
   ruled out" are uncertainty, never negation.

Per report, CheXpert's aggregation: positive if any mention is positive, else uncertain if any is,
else negative if any is, else blank. No Finding (states {0, 1}): 1 iff none of the 12 pathologies
(all classes except Support Devices and No Finding) is positive or uncertain.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from cogaze.data.records import BLANK, CHEXPERT_CLASSES, NEGATIVE, POSITIVE, UNCERTAIN
from cogaze.metrics.labeler_rules import (
    LINK_CUES,
    MASK,
    MENTIONS,
    NEGATION_POST,
    NEGATION_PRE,
    NORMAL,
    TERMINATORS,
    UNCERTAIN_POST,
    UNCERTAIN_PRE,
)

PATHOLOGIES: tuple[str, ...] = tuple(c for c in CHEXPERT_CLASSES if c not in ("Support Devices", "No Finding"))


def _compile(patterns: list[str]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in patterns))


_MENTION_RE = {c: _compile(p) for c, p in MENTIONS.items()}
_NORMAL_RE = {c: _compile(p) for c, p in NORMAL.items()}
_MASK_RE = _compile(MASK)
_UNC_PRE_RE, _UNC_POST_RE = _compile(UNCERTAIN_PRE), _compile(UNCERTAIN_POST)
_NEG_PRE_RE, _NEG_POST_RE = _compile(NEGATION_PRE), _compile(NEGATION_POST)
_TERM_RE = _compile(TERMINATORS[:-1])  # hard terminators; the comma rule is applied in _terminators
_COMMA_RE = re.compile(TERMINATORS[-1])
_LIST_GOES_ON_RE = re.compile(r"\b(?:or|nor)\b")
_ATTRIBUTIVE_RE = re.compile(r"suspicious|concerning|worrisome")
_LINK_RE = re.compile(LINK_CUES)
_BOTH_WAYS = ("resolved", "removed", "removal of")  # negation cues before ("resolved effusion") and after ("... has resolved")
_HEADER_RE = re.compile(r"(?:^|(?<=[.\n]))\s*-?\s*[A-Za-z][A-Za-z ,&/()]{0,60}:-?\s*")
_CAMEL_RE = re.compile(r"(?<=[a-z)])(?=[A-Z][a-z])")
_SPLIT_RE = re.compile(r"(?<!\d)\.(?!\d)|[;?!\n]|(?<=\w)-\s+(?=[A-Z])|^\s*-\s+")


def split_sentences(text: str) -> list[str]:
    """Sentences of a report (lower-cased, section headers removed)."""
    text = _CAMEL_RE.sub(". ", text.replace("\r", "\n"))  # SRRG glues "atelectasisPleura:- ..."
    text = re.sub(r":-", ":\n", text)
    parts: list[str] = []
    for chunk in _SPLIT_RE.split(text):
        chunk = _HEADER_RE.sub(" ", chunk).strip(" -\t")
        if chunk:
            parts.append(" ".join(chunk.lower().split()))
    return parts


def _spans(regex: re.Pattern[str], text: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in regex.finditer(text) if m.end() > m.start()]


def _overlaps(span: tuple[int, int], others: list[tuple[int, int]]) -> bool:
    return any(s < span[1] and span[0] < e for s, e in others)


_GLUE_RE = re.compile(r"^[\s,]*(?:(?:and|or|is|are|was|were|has|have|been|the|any|of)\b[\s,]*)*$")


def _reaches(text: str, end: int, cue: int, mentions: list[tuple[int, int, str, bool]]) -> bool:
    """Whether a cue after a mention applies to it: only the nearest mention, or a list of mentions
    joined by "and" / "or" ("Effusion or pneumothorax is not seen"; not "Cardiomegaly, effusion ...")."""
    between = list(text[end:cue])
    inner = [m for m in mentions if end <= m[0] and m[1] <= cue]
    for s, e, _, _ in inner:
        between[s - end : e - end] = " " * (e - s)
    rest = "".join(between)
    if not inner:
        return len(rest.split()) <= 6
    return bool(re.search(r"\b(?:and|or)\b", rest)) and bool(_GLUE_RE.match(rest.replace("  ", " ")))


def _terminators(text: str) -> list[int]:
    """Clause boundaries: hard terminators, and a comma followed by a new finding's modifier ("No
    effusion, mild cardiomegaly") unless the list goes on to an "or" / "nor" ("No consolidation, large
    effusion, or pneumothorax"), which keeps the whole list in the negation's scope."""
    hard = sorted(s[0] for s in _spans(_TERM_RE, text))
    out = list(hard)
    for m in _COMMA_RE.finditer(text):
        stop = min([t for t in hard if t > m.start()], default=len(text))
        if not _LIST_GOES_ON_RE.search(text, m.end(), stop):
            out.append(m.start())
    return out


def label_sentence(sentence: str) -> list[tuple[str, int]]:
    """(class, state) for every mention in one lower-cased sentence."""
    text = _MASK_RE.sub(lambda m: "_" * len(m.group()), sentence)
    unc_post = _spans(_UNC_POST_RE, text)
    # A cue can read both ways ("versus"; "there is possible pneumonia" / "pneumonia is possible").
    unc_pre = _spans(_UNC_PRE_RE, text)
    unc_all = unc_pre + unc_post
    neg_post = [s for s in _spans(_NEG_POST_RE, text) if not _overlaps(s, unc_all)]
    neg_pre = [s for s in _spans(_NEG_PRE_RE, text) if not _overlaps(s, unc_all)
               and (not _overlaps(s, neg_post) or text[s[0]:s[1]] in _BOTH_WAYS)]
    terms = _terminators(text)
    mentions: list[tuple[int, int, str, bool]] = []
    for cls, rx in _MENTION_RE.items():
        mentions += [(s, e, cls, False) for s, e in _spans(rx, text)]
    normals = [(s, e, cls, True) for cls, rx in _NORMAL_RE.items() for s, e in _spans(rx, text)]
    # a finding named inside its own normal description ("vascular congestion within normal limits")
    mentions = [m for m in mentions if not any(n[2] == m[2] and _overlaps(m[:2], [n[:2]]) for n in normals)]
    mentions = sorted(mentions + normals)
    cues = [(s, e, NEGATIVE) for s, e in neg_pre] + [(s, e, UNCERTAIN) for s, e in unc_pre]
    post = [(s, e, NEGATIVE) for s, e in neg_post] + [(s, e, UNCERTAIN) for s, e in unc_post]
    out: list[tuple[str, int]] = []
    for start, end, cls, normal in mentions:
        clause_start = max([t for t in terms if t <= start], default=0)
        clause_end = min([t for t in terms if t >= end], default=len(text))
        inside = [c for c in cues + post if start <= c[0] and c[1] <= end]
        before = [c for c in cues if clause_start <= c[0] and c[1] <= start]
        after = [c for c in post if end <= c[0] < clause_end and _reaches(text, end, c[0], mentions)]
        if any(c[2] == UNCERTAIN for c in inside):
            state = UNCERTAIN
        elif inside:
            state = NEGATIVE
        elif before:
            nearest = max(before, key=lambda c: c[1])
            state = nearest[2]
            # "No suspicious nodule", "no concerning opacity": a hedging adjective inside a negated
            # noun phrase does not undo the negation ("suspicious for pneumonia" still hedges).
            cue = text[nearest[0]:nearest[1]]
            negated_before = any(c[2] == NEGATIVE and c[1] <= nearest[0] for c in before)
            if state == UNCERTAIN and _ATTRIBUTIVE_RE.fullmatch(cue) and not text.startswith(" for", nearest[1]) \
                    and negated_before:
                state = NEGATIVE
            # "No focal opacity to suggest pneumonia", "no consolidation concerning for pneumonia": the
            # linked diagnosis shares the finding's negation.
            elif state == UNCERTAIN and _LINK_RE.fullmatch(cue) and negated_before:
                state = NEGATIVE
        elif after:
            state = min(after, key=lambda c: c[0])[2]
        else:
            state = NEGATIVE if normal else POSITIVE
        if normal and state == POSITIVE:
            state = NEGATIVE
        out.append((cls, state))
    return out


def label_report(text: str) -> np.ndarray:
    """Raw 4-state labels (14,) of one report (spec 1.3 coding, CHEXPERT_CLASSES order).

    A report with no words (empty, whitespace or punctuation only) states nothing: all 14 blank
    (No Finding included)."""
    found: dict[str, set[int]] = {}
    sentences = split_sentences(text or "")
    if not any(re.search(r"[a-z]", s) for s in sentences):
        return np.full(len(CHEXPERT_CLASSES), BLANK, dtype=np.int64)
    for sentence in sentences:
        for cls, state in label_sentence(sentence):
            found.setdefault(cls, set()).add(state)
    labels = np.full(len(CHEXPERT_CLASSES), BLANK, dtype=np.int64)
    for i, cls in enumerate(CHEXPERT_CLASSES[:-1]):
        states = found.get(cls, set())
        for state in (POSITIVE, UNCERTAIN, NEGATIVE):
            if state in states:
                labels[i] = state
                break
    idx = {c: i for i, c in enumerate(CHEXPERT_CLASSES)}
    abnormal = any(labels[idx[c]] in (POSITIVE, UNCERTAIN) for c in PATHOLOGIES)
    labels[idx["No Finding"]] = BLANK if abnormal else POSITIVE
    return labels


class RuleLabeler:
    """The built-in labeler as a callable: texts -> (n, 14) raw labels."""

    name = "rule"

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        if len(texts) == 0:
            return np.zeros((0, len(CHEXPERT_CLASSES)), dtype=np.int64)
        return np.stack([label_report(t) for t in texts])
