"""The structured-report panel: reference and generated sections side by side, one row per header."""

from __future__ import annotations

from html import escape

from cogaze.data.structured import SRRG_HEADERS, parse_structured


def _cell(bullets: list[str] | None) -> str:
    if bullets is None:
        return '<td class="absent"><span class="empty">(section absent)</span></td>'
    items = "".join(f"<li>{escape(b)}</li>" for b in bullets)
    return f"<td><ul>{items}</ul></td>"


def structured_pair_html(reference: str, generated: str, title: str | None = None) -> str:
    """A table with one row per header of either report (canonical header order): the reference bullets
    beside the generated ones. A header present on one side only is marked (StructEval scores it 0).
    Lines outside the header/bullet structure are counted under the table (they are not scored)."""
    ref, gen = parse_structured(reference), parse_structured(generated)
    order = [h for h in SRRG_HEADERS if h in ref.sections or h in gen.sections]
    rows = []
    for header in order:
        r = ref.bullets(header) if header in ref.sections else None
        g = gen.bullets(header) if header in gen.sections else None
        cls = "" if (r is None) == (g is None) else ' class="one-side"'
        rows.append(f"<tr{cls}><th scope=\"row\">{escape(header)}</th>{_cell(r)}{_cell(g)}</tr>")
    if not rows:
        rows.append('<tr><td colspan="3"><span class="empty">(no section in either report)</span></td></tr>')
    head = f"<h3>{escape(title)}</h3>" if title else ""
    both = sum(h in ref.sections and h in gen.sections for h in order)
    notes = [f"{both} of {len(order)} sections in both reports."]
    if gen.problems:
        notes.append(f"{len(gen.problems)} generated line(s) outside the header/bullet structure, not scored.")
    return (f'<div class="pair-block structured">{head}<div class="table-wrap"><table class="structured">'
            "<thead><tr><th>Section</th><th>Reference</th><th>Generated</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table></div><p class=\"agree\">{' '.join(notes)}</p></div>")
