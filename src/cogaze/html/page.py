"""A self-contained HTML run report: sections of tables, figures, image grids and report pairs.

Everything is inline: CSS in a <style> element, images as base64 PNG data URIs, no script, no
external URL, so the page opens offline, from an e-mail attachment, or years later.

Example::

    page = ReportPage("Demo run")
    page.add_section("Training", intro="Loss per step.")
    page.add_figure(loss_curves("run/metrics.jsonl"), caption="Loss curves")
    page.add_stage_status("pretrain", 41.2, "ok")
    page.write("run/report.html")
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from cogaze import __version__
from cogaze.html.blocks import (
    Rows,
    Stage,
    chip_legend_html,
    format_cell,
    stage_message,
    stage_table_html,
    table_html,
    text_pair_html,
)
from cogaze.html.images import format_png_img, to_png
from cogaze.html.style import CSS
from cogaze.io import atomic_write_text

STAGE_STATUSES = ("ok", "failed", "skipped")
"""Statuses a stage can have in the stage table."""


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _anchor(number: int, title: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "section"
    return f"s{number}-{slug}"


class _StageBlock:
    """Placeholder for the stage table, rendered at the end with every stage added so far."""

    def __init__(self, page: ReportPage) -> None:
        self.page = page

    def render(self) -> str:
        return stage_table_html(self.page.stages, anchor="stages", total=self.page.run_time)


class _Section:
    def __init__(self, title: str, anchor: str, intro: str | None) -> None:
        self.title = title
        self.anchor = anchor
        self.intro = intro
        self.blocks: list[str | _StageBlock] = []
        self.has_legend = False


class ReportPage:
    """Builder of one self-contained HTML page. Add sections, then content; content goes into the
    most recent section (or an untitled leading one)."""

    def __init__(self, title: str, subtitle: str | None = None) -> None:
        self.title = title
        self.subtitle = subtitle
        self.sections: list[_Section] = []
        self.stages: list[Stage] = []
        self.run_time: tuple[float, float | None] | None = None
        """(wall, CPU) seconds of the whole run for the stage table's total row (default: the sums)."""
        self._stage_block: _StageBlock | None = None
        self.n_figures = 0
        self.n_tables = 0

    # ---- structure -------------------------------------------------------------------------------
    def add_section(self, title: str, intro: str | None = None) -> str:
        """Start a new section (listed in the page's table of contents); returns its anchor id."""
        anchor = _anchor(len(self.sections) + 1, title)
        self.sections.append(_Section(title, anchor, intro))
        return anchor

    def arrange(self, sections: Sequence[_Section], stage_order: Sequence[str] | None = None) -> None:
        """Replace the sections by ``sections`` (e.g. the same ones, and sections built by another
        process's page, in the order of the pipeline rather than of completion) and number their
        anchors afresh; ``stage_order`` sorts the stage table likewise (unknown names last)."""
        self.sections = list(sections)
        for i, sec in enumerate(self.sections, start=1):
            if sec.title:
                sec.anchor = _anchor(i, sec.title)
        if stage_order is not None:
            rank = {name: i for i, name in enumerate(stage_order)}
            self.stages.sort(key=lambda st: rank.get(st.name, len(rank)))

    def _current(self) -> _Section:
        if not self.sections:
            self.sections.append(_Section("", "s0", None))
        return self.sections[-1]

    def _add(self, block: str | _StageBlock) -> None:
        self._current().blocks.append(block)

    # ---- content ---------------------------------------------------------------------------------
    def add_paragraph(self, text: str) -> None:
        """A paragraph of plain text (escaped)."""
        self._add(f"<p>{escape(text)}</p>")

    def add_metrics(self, values: Mapping[str, Any], caption: str | None = None) -> None:
        """Key numbers as a row of cards (e.g. {"zero-shot AUROC": 0.81})."""
        cards = []
        for key, value in values.items():
            text, _ = format_cell(value)
            cards.append(f'<div class="metric"><div class="k">{escape(str(key))}</div>'
                         f'<div class="v">{text}</div></div>')
        cap = f"<figcaption>{escape(caption)}</figcaption>" if caption else ""
        self._add(f'<figure><div class="metrics">{"".join(cards)}</div>{cap}</figure>')

    def add_table(self, rows: Rows, columns: Sequence[str] | None = None, caption: str | None = None) -> None:
        """A table; ``rows`` are mappings keyed by column or sequences in ``columns`` order."""
        self._add(table_html(rows, columns, caption))
        self.n_tables += 1

    def add_figure(self, fig_or_png: Figure | bytes | np.ndarray, caption: str | None = None,
                   alt: str | None = None) -> None:
        """A matplotlib Figure (rendered to PNG with Agg), PNG bytes, or an image array, embedded."""
        img = format_png_img(to_png(fig_or_png), alt or caption or "figure")
        cap = f"<figcaption>{escape(caption)}</figcaption>" if caption else ""
        self._add(f'<figure class="plot">{img}{cap}</figure>')
        self.n_figures += 1

    def add_image_grid(self, items: Sequence[tuple[Any, str]], caption: str | None = None,
                       columns: int | None = None, pixelated: bool = False,
                       caption_position: str = "below", image_width: int | None = None,
                       max_side: int | None = 512, native: bool = False) -> None:
        """Images with their captions in a grid (``columns`` per row; default up to 4).

        ``items`` are (image array, caption) pairs: uint8 (H, W) grayscale or (H, W, 3) RGB, or floats
        in [0, 1]. ``caption`` describes the whole grid: ``caption_position="below"`` puts it under the
        grid, ``"beside"`` to its right (e.g. a report sentence beside its true and predicted gaze maps).
        ``image_width`` fixes each image's displayed width in CSS pixels (default: share the width).
        Images whose longer side exceeds ``max_side`` pixels are shrunk before embedding (None: never),
        which keeps a page of full-size X-rays small. ``native`` shows each image at its own pixel size
        (never scaled up; its column is then ``image_width`` wide, for the caption).
        """
        items = list(items)
        if not items:
            raise ValueError("add_image_grid needs at least one (image, caption) item")
        if caption_position not in ("below", "beside"):
            raise ValueError(f"caption_position must be 'below' or 'beside', got {caption_position!r}")
        ncol = int(columns or min(len(items), 4))
        if image_width is None and caption_position == "beside":
            image_width = 220
        track = f"{int(image_width)}px" if image_width else "minmax(0, 1fr)"
        cells = []
        for image, text in items:
            classes = " ".join(c for c, on in (("pixelated", pixelated), ("native", native)) if on)
            img = format_png_img(to_png(np.asarray(image), max_side), text or "image", css_class=classes or None)
            cells.append(f"<figure>{img}<figcaption>{escape(text)}</figcaption></figure>")
        grid = f'<div class="grid" style="grid-template-columns: repeat({ncol}, {track})">{"".join(cells)}</div>'
        cap = f"<figcaption>{escape(caption)}</figcaption>" if caption else ""
        cls = "image-grid beside" if caption_position == "beside" else "image-grid"
        self._add(f'<figure class="{cls}">{grid}{cap}</figure>')
        self.n_figures += 1

    def add_text_pair(self, reference: str, generated: str, labels_ref: Any = None, labels_gen: Any = None,
                      title: str | None = None) -> None:
        """A generated report beside its reference, with CE label chips (see
        :func:`cogaze.html.blocks.normalise_labels` for the accepted label forms); generated chips that
        disagree with the reference are marked, and reference positives the generation does not mention
        are listed as missed. The first labelled pair of a section is preceded by the chips' legend."""
        section = self._current()
        if (labels_ref is not None or labels_gen is not None) and not section.has_legend:
            self._add(chip_legend_html())
            section.has_legend = True
        self._add(text_pair_html(reference, generated, labels_ref, labels_gen, title))

    def add_structured_pair(self, reference: str, generated: str, title: str | None = None) -> None:
        """A structured report beside its reference, section by section (see
        :func:`cogaze.html.structured.structured_pair_html`)."""
        from cogaze.html.structured import structured_pair_html

        self._add(structured_pair_html(reference, generated, title))

    def add_stage_table(self) -> None:
        """Place the stage table here (before any stage has run); later stages fill it in."""
        if self._stage_block is None:
            self._stage_block = _StageBlock(self)
            self._add(self._stage_block)

    def add_stage_status(self, name: str, seconds: float | None, status: str,
                         message: str | BaseException | None = None, cpu_seconds: float | None = None) -> None:
        """Record one pipeline stage in the page's stage table (created where first called).

        ``status`` is "ok", "failed" or "skipped"; a failed stage shows its message (an exception is
        shown as ``Type: message``), and a failure without message says so instead of leaving a gap.
        """
        if status not in STAGE_STATUSES:
            raise ValueError(f"stage status must be one of {STAGE_STATUSES}, got {status!r}")
        if seconds is not None and not (np.isfinite(seconds) and seconds >= 0):
            raise ValueError(f"stage {name!r}: seconds must be a non-negative number, got {seconds!r}")
        self.stages.append(Stage(name, None if seconds is None else float(seconds), status,
                                 stage_message(status, message), None if cpu_seconds is None else float(cpu_seconds)))
        self.add_stage_table()

    # ---- output ----------------------------------------------------------------------------------
    def _banner(self) -> str:
        failed = [s.name for s in self.stages if s.status == "failed"]
        if failed:
            names = ", ".join(escape(n) for n in failed)
            return (f'<div class="banner bad" role="alert">{len(failed)} of {len(self.stages)} stages failed: '
                    f'{names} &mdash; <a href="#stages">see the stage table</a>.</div>')
        if self.stages:
            return f'<div class="banner ok">All {len(self.stages)} stages completed.</div>'
        return ""

    def render(self) -> str:
        """The complete HTML document as a string."""
        toc = "".join(f'<li><a href="#{s.anchor}">{escape(s.title)}</a></li>' for s in self.sections if s.title)
        nav = f'<nav class="toc" aria-label="Contents"><ol>{toc}</ol></nav>' if toc else ""
        sub = f'<p class="subtitle">{escape(self.subtitle)}</p>' if self.subtitle else ""
        parts = []
        for sec in self.sections:
            head = f"<h2>{escape(sec.title)}</h2>" if sec.title else ""
            intro = f'<p class="intro">{escape(sec.intro)}</p>' if sec.intro else ""
            body = "".join(b if isinstance(b, str) else b.render() for b in sec.blocks)
            parts.append(f'<section id="{sec.anchor}">{head}{intro}{body}</section>')
        return (
            "<!DOCTYPE html>\n"
            '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f'<meta name="generator" content="cogaze {__version__}">\n'
            f"<title>{escape(self.title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n"
            f'<header class="page"><h1>{escape(self.title)}</h1>{sub}{nav}{self._banner()}</header>\n'
            + "\n".join(parts)
            + f"\n<footer>Written by cogaze {__version__}. Self-contained page: every image is embedded; "
            "nothing is loaded from the network.</footer>\n</main>\n</body>\n</html>\n"
        )

    def write(self, path: str | Path) -> Path:
        """Write the page as UTF-8 atomically (temp file in the same folder, then rename)."""
        return atomic_write_text(path, self.render())
