"""Grouping time-stamped words or phrases of a dictated transcript into timed sentences."""

from __future__ import annotations

from collections.abc import Iterable

from cogaze.data.gaze_records import TimedSentence

SENTENCE_END = (".", "?", "!")


def sentences_from_words(items: Iterable[tuple[str, float, float]]) -> list[TimedSentence]:
    """Join (text, start, end) items into sentences, splitting after items ending with '.', '?' or '!'.

    A sentence spans from its first item's start to its last item's end; trailing items without a
    sentence end form a final sentence. Empty items are ignored. Times must already be validated.
    """
    out: list[TimedSentence] = []
    words: list[str] = []
    start = end = 0.0
    for text, t0, t1 in items:
        text = " ".join(str(text).split())
        if not text:
            continue
        if not words:
            start = float(t0)
        words.append(text)
        end = max(float(t1), start)
        if text.endswith(SENTENCE_END):
            out.append(TimedSentence(" ".join(words), start, end))
            words = []
    if words:
        out.append(TimedSentence(" ".join(words), start, end))
    return out


def is_empty_text(text: str) -> bool:
    """True for a transcript text without a single letter or digit (blank, whitespace, punctuation only)."""
    return not any(ch.isalnum() for ch in str(text))


def drop_empty_sentences(sentences: Iterable[TimedSentence]) -> tuple[list[TimedSentence], int]:
    """(the sentences with some text, how many were dropped as empty): an empty sentence would become a
    training row without text."""
    every = list(sentences)
    kept = [s for s in every if not is_empty_text(s.text)]
    return kept, len(every) - len(kept)
