"""HTML fragments of report pages: tables, stage timings, CE label chips, report pairs.

Every piece of user text goes through :func:`html.escape`; fragments are plain strings.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from cogaze.data.records import CHEXPERT_CLASSES

Rows = Sequence[Mapping[str, Any] | Sequence[Any]]

_STATE_NAMES = {1: "positive", 2: "negative", 3: "uncertain"}
_STATE_WORDS = {
    "positive": 1, "pos": 1, "present": 1, "1": 1,
    "negative": 2, "neg": 2, "absent": 2, "2": 2,
    "uncertain": 3, "unc": 3, "3": 3,
    "blank": 0, "": 0, "0": 0,
}


def float_decimals(value: float, significant: int = 4) -> int:
    """Decimals that show ``value`` with ``significant`` digits (0 for |value| >= 10**(significant-1))."""
    v = abs(float(value))
    if v == 0 or not math.isfinite(v):
        return 0
    return max(0, min(6, significant - 1 - math.floor(math.log10(v))))


def format_cell(value: Any, decimals: int | None = None) -> tuple[str, bool]:
    """(escaped text, is_number) of one table cell. Floats: ``decimals`` places, or 4 significant
    digits when None (thousands separators from 1000 on); NaN/None: a dash."""
    if value is None:
        return "\u2014", False
    if isinstance(value, bool):
        return ("yes" if value else "no"), False
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}" if abs(int(value)) >= 10000 else str(int(value)), True
    if isinstance(value, numbers.Real):
        v = float(value)
        if math.isnan(v):
            return "\u2014", True
        if math.isinf(v):
            return ("\u221e" if v > 0 else "\u2212\u221e"), True
        if decimals is None:
            return (f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.4g}"), True
        return f"{v:,.{decimals}f}", True
    return escape(str(value)), False


def table_html(rows: Rows, columns: Sequence[str] | None = None, caption: str | None = None,
               css_class: str = "") -> str:
    """A <table> of ``rows`` (mappings keyed by column, or sequences in column order)."""
    rows = list(rows)
    if columns is None:
        if rows and not all(isinstance(r, Mapping) for r in rows):
            raise ValueError("columns must be given when rows are sequences")
        columns = []
        for r in rows:
            columns.extend(k for k in r if k not in columns)  # type: ignore[union-attr]
    columns = [str(c) for c in columns]
    grid: list[list[Any]] = []
    for i, row in enumerate(rows):
        if isinstance(row, Mapping):
            cells = [row.get(c) for c in columns]
        else:
            cells = list(row)
            if len(cells) != len(columns):
                raise ValueError(f"table row {i} has {len(cells)} cells, expected {len(columns)}")
        grid.append(cells)
    # One number of decimals per column (4 significant digits of its smallest-magnitude float, at most
    # 4 places), so a column reads 0.8520 / 0.7531 rather than 0.852 / 0.7531.
    decimals: list[int | None] = []
    for j in range(len(columns)):
        reals = [r[j] for r in grid if isinstance(r[j], numbers.Real) and not isinstance(r[j], (bool, numbers.Integral))]
        floats = [float(v) for v in reals if math.isfinite(float(v))]
        decimals.append(min(4, max(float_decimals(v) for v in floats)) if floats else None)
    body = []
    for cells in grid:
        tds = []
        for j, cell in enumerate(cells):
            text, is_num = format_cell(cell, decimals[j])
            tds.append(f'<td class="num">{text}</td>' if is_num else f"<td>{text}</td>")
        body.append("<tr>" + "".join(tds) + "</tr>")
    if not body:
        body.append(f'<tr><td colspan="{max(len(columns), 1)}" class="empty">(no rows)</td></tr>')
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    cap = f"<caption>{escape(caption)}</caption>" if caption else ""
    cls = f' class="{escape(css_class)}"' if css_class else ""
    return (f'<div class="table-wrap"><table{cls}>{cap}<thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table></div>")


@dataclass
class Stage:
    """One pipeline stage as shown in the stage table."""

    name: str
    seconds: float | None
    status: str
    message: str


def stage_message(status: str, message: str | BaseException | None) -> str:
    """The text shown for a stage; a failed stage never shows an empty cell."""
    if isinstance(message, BaseException):
        text = f"{type(message).__name__}: {message}".rstrip(": ").strip()
    else:
        text = (message or "").strip()
    if status == "failed" and not text:
        text = "failed without an error message (see the log)"
    return text


def _seconds(s: float) -> str:
    return "<0.1" if 0 < s < 0.05 else f"{s:.1f}"


def stage_table_html(stages: Sequence[Stage], anchor: str) -> str:
    """The stage timing table: one row per stage, failed rows highlighted with their message."""
    rows = []
    total = 0.0
    for st in stages:
        badge = st.status if st.status in ("ok", "failed", "skipped") else "other"
        secs = "\u2014" if st.seconds is None else _seconds(st.seconds)
        total += st.seconds or 0.0
        cls = ' class="failed"' if st.status == "failed" else ""
        rows.append(
            f"<tr{cls}><td>{escape(st.name)}</td>"
            f'<td><span class="badge {badge}">{escape(st.status)}</span></td>'
            f'<td class="num">{secs}</td><td class="msg">{escape(st.message)}</td></tr>'
        )
    n_failed = sum(st.status == "failed" for st in stages)
    cap = f"{len(stages)} stages, {n_failed} failed"
    return (
        f'<div class="table-wrap" id="{anchor}"><table class="stages"><caption>{cap}</caption>'
        "<thead><tr><th>stage</th><th>status</th><th class=\"num\">seconds</th><th>message</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody>"
        f'<tfoot><tr><td>total</td><td></td><td class="num">{_seconds(total)}</td><td></td></tr></tfoot>'
        "</table></div>"
    )


def normalise_labels(labels: Any) -> dict[str, int]:
    """CE labels as {class name: raw state} (1 positive, 2 negative, 3 uncertain, 0 blank).

    Accepts a mapping {class: state} (state an int, a float/bool target where 1 = positive, or a word
    such as "positive"), a sequence of 14 states in CheXbert order, or a sequence of class names
    (each one positive). Raises ValueError on anything else.
    """
    if labels is None:
        return {}
    if isinstance(labels, Mapping):
        items = list(labels.items())
    else:
        seq = list(labels)
        if seq and all(isinstance(v, str) for v in seq):
            items = [(v, 1) for v in seq]
        elif len(seq) == len(CHEXPERT_CLASSES):
            items = list(zip(CHEXPERT_CLASSES, seq))
        elif not seq:
            items = []
        else:
            raise ValueError(
                f"labels must be a mapping, class names, or {len(CHEXPERT_CLASSES)} states; got {len(seq)} values"
            )
    out: dict[str, int] = {}
    for name, state in items:
        if isinstance(state, str):
            key = state.strip().lower()
            if key not in _STATE_WORDS:
                raise ValueError(f"label {name!r}: unknown state {state!r}")
            code = _STATE_WORDS[key]
        elif isinstance(state, (bool, numbers.Real)):
            v = float(state)
            if v in (0.0, 1.0, 2.0, 3.0):
                code = int(v)
            else:
                raise ValueError(f"label {name!r}: state must be 0, 1, 2 or 3, got {state!r}")
        else:
            raise ValueError(f"label {name!r}: state must be a number or a word, got {state!r}")
        out[str(name)] = code
    return out


def _binary(state: int) -> int:
    return 1 if state in (1, 3) else 0


def chips_html(labels: dict[str, int], reference: dict[str, int] | None = None) -> str:
    """Label chips (blank states omitted); with ``reference``, disagreeing chips are marked."""
    chips = []
    for name, state in labels.items():
        if state == 0:
            continue
        kind = _STATE_NAMES[state]
        cls, mark, title = f"chip {kind}", "", kind
        if reference is not None:
            ref_state = reference.get(name, 0)
            if _binary(ref_state) != _binary(state):
                cls += " mismatch"
                mark = '<span class="mark" aria-label="disagrees">\u2717</span>'
                title = f"{kind}; reference: {_STATE_NAMES.get(ref_state, 'not mentioned')}"
        chips.append(f'<span class="{cls}" title="{escape(title)}">{escape(name)}{mark}</span>')
    if reference is not None:
        for name, ref_state in reference.items():
            if _binary(ref_state) and not _binary(labels.get(name, 0)):
                chips.append(
                    f'<span class="chip mismatch" title="positive in the reference, missed">'
                    f'{escape(name)}<span class="mark" aria-label="missed">missed</span></span>'
                )
    if not chips:
        return '<div class="chips"><span class="empty">no labels</span></div>'
    return '<div class="chips">' + "".join(chips) + "</div>"


def label_agreement(ref: dict[str, int], gen: dict[str, int]) -> tuple[int, int]:
    """(classes whose binarised label agrees, classes compared) over the classes named by either."""
    names = list(dict.fromkeys([*ref, *gen]))
    agree = sum(_binary(ref.get(n, 0)) == _binary(gen.get(n, 0)) for n in names)
    return agree, len(names)


def text_pair_html(reference: str, generated: str, labels_ref: Any = None, labels_gen: Any = None,
                   title: str | None = None) -> str:
    """Reference and generated report side by side, each with its CE label chips."""
    ref = normalise_labels(labels_ref)
    gen = normalise_labels(labels_gen)
    have_labels = labels_ref is not None or labels_gen is not None

    def card(head: str, text: str, chips: str) -> str:
        body = escape(text.strip()) if text.strip() else '<span class="empty">(empty report)</span>'
        return f'<div class="card"><h4>{head}</h4><p class="text">{body}</p>{chips}</div>'

    ref_chips = chips_html(ref) if have_labels else ""
    gen_chips = chips_html(gen, reference=ref if labels_ref is not None else None) if have_labels else ""
    head = f"<h3>{escape(title)}</h3>" if title else ""
    agree = ""
    if labels_ref is not None and labels_gen is not None:
        k, n = label_agreement(ref, gen)
        agree = f'<p class="agree">CE labels agree on {k} of {n} classes mentioned.</p>'
    return (f'<div class="pair-block">{head}<div class="pair">{card("Reference", reference, ref_chips)}'
            f'{card("Generated", generated, gen_chips)}</div>{agree}</div>')
