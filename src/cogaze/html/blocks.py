"""HTML fragments of report pages: tables, stage timings, CE label chips, report pairs.

Every piece of user text goes through :func:`html.escape`; fragments are plain strings.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from cogaze.data.records import CHEXPERT_CLASSES
from cogaze.metrics.stats import format_number

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


DECIMALS = 3
"""Decimals of every score on a page (more only for a value that would round to 0.000 otherwise)."""


def decimals_for(values: Sequence[float]) -> int:
    """Decimals shared by ``values`` (one table column or one number): :data:`DECIMALS`, or enough to
    show two significant digits of the smallest non-zero magnitude below 0.001 (at most 6), which
    would otherwise read as 0.000."""
    small = [abs(v) for v in values if math.isfinite(v) and 1e-6 <= abs(v) < 0.001]  # below: rounding noise
    return DECIMALS if not small else max(DECIMALS, min(6, float_decimals(min(small), 2)))


def format_cell(value: Any, decimals: int | None = None) -> tuple[str, bool]:
    """(escaped text, is_number) of one table cell. Floats: ``decimals`` places (default
    :func:`decimals_for` the value; whole numbers from 1000 on without decimals), thousands
    separators from 1000 on, no negative zero; NaN/None: a dash."""
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
            decimals = 0 if abs(v) >= 1000 else decimals_for([v])
        return format_number(v, decimals), True
    return escape(str(value)), False


_MEAN_CI = re.compile(r"^(-?[\d.,]+) (\[-?[\d.,]+, -?[\d.,]+\])$")


def _cell_html(text: str, is_num: bool) -> str:
    """One <td>: numbers right-aligned; a "mean [lo, hi]" string as the mean over its interval (small)."""
    if m := _MEAN_CI.match(text):
        return f'<td class="num ci">{m.group(1)}<span class="ci">{m.group(2)}</span></td>'
    return f'<td class="num">{text}</td>' if is_num else f"<td>{text}</td>"


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
    # One number of decimals per column (3, more where a small value needs it), so a column reads
    # 0.852 / 0.753 / 0.004 rather than 0.852 / 0.7531 / 0.00412.
    decimals: list[int | None] = []
    for j in range(len(columns)):
        reals = [r[j] for r in grid if isinstance(r[j], numbers.Real) and not isinstance(r[j], (bool, numbers.Integral))]
        floats = [float(v) for v in reals if math.isfinite(float(v))]
        decimals.append(decimals_for(floats) if floats else None)
    body = []
    for cells in grid:
        tds = []
        for j, cell in enumerate(cells):
            tds.append(_cell_html(*format_cell(cell, decimals[j])))
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
    cpu_seconds: float | None = None


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


def stage_table_html(stages: Sequence[Stage], anchor: str, total: tuple[float, float | None] | None = None) -> str:
    """The stage timing table: one row per stage (wall-clock and CPU seconds), failed rows highlighted
    with their message. ``total`` = (wall, CPU) seconds of the whole run (stages that ran at the same
    time overlap, so it is less than their sum); default: the sums."""
    rows = []
    dash = "\u2014"
    for st in stages:
        badge = st.status if st.status in ("ok", "failed", "skipped") else "other"
        secs = dash if st.seconds is None else _seconds(st.seconds)
        cpu = dash if st.cpu_seconds is None else _seconds(st.cpu_seconds)
        cls = ' class="failed"' if st.status == "failed" else ""
        rows.append(
            f"<tr{cls}><td>{escape(st.name)}</td>"
            f'<td><span class="badge {badge}">{escape(st.status)}</span></td>'
            f'<td class="num">{secs}</td><td class="num">{cpu}</td><td class="msg">{escape(st.message)}</td></tr>'
        )
    if total is None:
        total = (sum(st.seconds or 0.0 for st in stages),
                 sum(st.cpu_seconds or 0.0 for st in stages) if any(st.cpu_seconds is not None for st in stages)
                 else None)
    n_failed = sum(st.status == "failed" for st in stages)
    cap = f"{len(stages)} stages, {n_failed} failed"
    cpu_total = dash if total[1] is None else _seconds(total[1])
    return (
        f'<div class="table-wrap" id="{anchor}"><table class="stages"><caption>{cap}</caption>'
        "<thead><tr><th>stage</th><th>status</th><th class=\"num\">seconds</th><th class=\"num\">CPU s</th>"
        "<th>message</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody>"
        f'<tfoot><tr><td>total</td><td></td><td class="num">{_seconds(total[0])}</td>'
        f'<td class="num">{cpu_total}</td><td></td></tr></tfoot>'
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
    if reference is not None:  # reference positives the generated report does not mention at all
        for name, ref_state in reference.items():
            if _binary(ref_state) and labels.get(name, 0) == 0:
                chips.append(
                    f'<span class="chip mismatch" title="positive in the reference, missed">'
                    f'{escape(name)}<span class="mark" aria-label="missed">missed</span></span>'
                )
    if not chips:
        return '<div class="chips"><span class="empty">no labels</span></div>'
    return '<div class="chips">' + "".join(chips) + "</div>"


def chip_legend_html() -> str:
    """What the chip colours and marks mean (shown once above the first report pair of a section)."""
    item = '<span class="legend-item">{}</span>'.format
    return ('<div class="legend" aria-label="label legend"><span class="legend-title">CE labels (rule labeler):</span>'
            + item('<span class="chip positive">positive</span><span class="chip negative">negative</span>'
                   '<span class="chip uncertain">uncertain</span>')
            + item('<span class="chip negative mismatch">Edema<span class="mark">\u2717</span></span>'
                   "generated label differs from the reference's")
            + item('<span class="chip mismatch">Edema<span class="mark">missed</span></span>'
                   "positive in the reference, not mentioned in the generated report")
            + "</div>")


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
