"""Structured findings text (SRRG-Findings, docs/formats.md): fixed section headers with ``- `` bullets.

The layout is ``Header:`` on its own line followed by bullet lines ``- observation``; sections are
separated by a blank line. Headers come from :data:`SRRG_HEADERS` only. Parsing follows the rules of
the SRRG authors' StructEval parser (so metrics see exactly the sections StructEval sees):

- blank lines are ignored; a line whose text after leading non-word characters (and without a final
  ``:``) is a known header opens that section;
- a line starting with ``-`` is a bullet of the open section (a bullet before any header is dropped);
- any other line (an unknown header, free text) closes the open section, which is then discarded with
  the lines that follow it up to the next known header;
- a header repeated in one report keeps its last occurrence; sections without bullets are dropped.

:func:`parse_structured` returns those sections plus every problem met, so a strict reader (the SRRG
loader) can reject a report that a metric would silently truncate. Text whose newlines were stripped
(``Header:- item- item``, as in the authors' released CSV) is restored first (:func:`restore_newlines`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

SRRG_HEADERS: tuple[str, ...] = (
    "Lungs and Airways",
    "Pleura",
    "Cardiovascular",
    "Hila and Mediastinum",
    "Tubes, Catheters, and Support Devices",
    "Musculoskeletal and Chest Wall",
    "Abdominal",
    "Other",
)
"""The fixed section headers of SRRG-Findings, in their canonical order."""

BULLET = "- "

_HEADER_ALT = "|".join(re.escape(h) for h in SRRG_HEADERS)
# a bullet marker glued to the previous text ("...effusion.- Next") or at the start
_GLUED_BULLET = re.compile(r"(?<!\s)- ")
# a header written without its newlines: followed by a bullet, another header or the end of the text
_GLUED_HEADER = re.compile(rf"({_HEADER_ALT}):(?=\n|$|(?:{_HEADER_ALT}):)")
_LEADING_NON_WORD = re.compile(r"^[^\w]*")


def restore_newlines(text: str) -> str:
    """Put back the newlines of a structured report whose line breaks were removed.

    ``"Lungs and Airways:- Clear.- No effusion.Pleura:- Normal."`` becomes
    ``"Lungs and Airways:\\n- Clear.\\n- No effusion.\\n\\nPleura:\\n- Normal."``. A ``- `` counts as a
    bullet marker unless a blank precedes it (so ``"size - normal"`` inside a bullet is kept); a known
    header counts as one when it is followed by its bullets, another header or the end of the text
    (so ``"- Other: none"`` inside a bullet is kept). Text that already has newlines is returned as is.
    """
    if "\n" in text:
        return text
    out = _GLUED_BULLET.sub("\n- ", text)
    out = _GLUED_HEADER.sub(lambda m: f"\n\n{m.group(1)}:", out)
    out = re.sub(r"\n{3,}", "\n\n", out)
    return out.strip()


@dataclass
class ParsedReport:
    """Sections of a structured report (header -> bullet lines, ``- `` kept) and the problems met."""

    sections: dict[str, list[str]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    """One message per discarded or suspicious line (unknown header, stray bullet, repeated header...)."""

    def bullets(self, header: str) -> list[str]:
        """The observations under ``header`` without their ``- `` marker (StructEval's remove_bullets)."""
        return [b[2:] if b[:2] == BULLET else b for b in self.sections.get(header, [])]


def parse_structured(text: str, lower: bool = False, restore: bool = True) -> ParsedReport:
    """Sections of ``text`` by the StructEval rules (module docstring); ``lower`` lower-cases text and headers;
    ``restore=False`` skips :func:`restore_newlines` (StructEval itself does not restore)."""
    if restore:
        text = restore_newlines(text)
    headers: Sequence[str] = SRRG_HEADERS
    if lower:
        text = text.lower()
        headers = [h.lower() for h in SRRG_HEADERS]
    known = set(headers)
    out = ParsedReport()
    current: str | None = None
    bullets: list[str] = []
    for number, line in enumerate(text.split("\n"), start=1):
        stripped = line.strip()
        if not stripped:
            continue
        candidate = _LEADING_NON_WORD.sub("", stripped)
        candidate = candidate[:-1].strip() if candidate.endswith(":") else candidate.strip()
        if candidate in known:
            if current is not None:
                out.sections[current] = bullets
            if candidate in out.sections:
                out.problems.append(f"line {number}: header {candidate!r} repeated (the last one is kept)")
            current, bullets = candidate, []
        elif stripped.startswith("-"):
            if current is None:
                out.problems.append(f"line {number}: bullet outside any known section dropped: {stripped[:60]!r}")
            else:
                bullets.append(stripped)
        else:
            what = "unknown header" if stripped.endswith(":") else "line that is neither a header nor a bullet"
            out.problems.append(f"line {number}: {what} {stripped[:60]!r}; its section is discarded")
            current, bullets = None, []
    if current is not None:
        out.sections[current] = bullets
    for header in [h for h, b in out.sections.items() if not b]:
        out.problems.append(f"section {header!r} has no bullet and is dropped")
        del out.sections[header]
    return out


def format_structured(sections: Mapping[str, Sequence[str]], order: Sequence[str] | None = None) -> str:
    """The canonical text of ``sections`` (header -> observations, with or without ``- ``).

    Sections appear in ``order`` (default: the order given); empty ones are left out.
    """
    names = list(order) if order is not None else list(sections)
    blocks = []
    for name in names:
        items = [b.strip() for b in sections.get(name, ()) if b.strip()]
        if items:
            lines = [b if b.startswith("-") else BULLET + b for b in items]
            blocks.append(f"{name}:\n" + "\n".join(lines))
    return "\n\n".join(blocks)


def flatten_structured(text: str) -> str:
    """The observations of a structured report as plain sentences (headers and bullet marks removed).

    Each observation ends with a full stop (added when missing) so sentence-based labelers split them;
    text that does not parse as structured is returned stripped and unchanged.
    """
    parsed = parse_structured(text)
    if not parsed.sections:
        return " ".join(text.split())
    sentences = []
    for header in parsed.sections:
        for item in parsed.bullets(header):
            item = " ".join(item.split())
            if item:
                sentences.append(item if item[-1] in ".!?" else item + ".")
    return " ".join(sentences)
