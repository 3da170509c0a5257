"""The inline stylesheet of report pages (no external fonts, images or scripts)."""

from __future__ import annotations

CSS = """
:root {
  --fg: #1d2330; --muted: #5b6475; --line: #dde2ea; --bg: #ffffff; --panel: #f6f8fb;
  --accent: #1f5fa8; --ok: #1a7f37; --ok-bg: #e6f4ea; --bad: #b42318; --bad-bg: #fdecea;
  --warn: #8a5a00; --warn-bg: #fff4d6; --skip: #5b6475; --skip-bg: #eef0f4;
}
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body {
  margin: 0; background: var(--bg); color: var(--fg);
  font-family: -apple-system, "Segoe UI", Roboto, "Noto Sans", "Liberation Sans", "DejaVu Sans",
    Helvetica, Arial, sans-serif;
  font-size: 16px; line-height: 1.55;
}
main { max-width: 1120px; margin: 0 auto; padding: 28px 32px 64px; }
header.page { border-bottom: 1px solid var(--line); padding-bottom: 14px; margin-bottom: 8px; }
h1 { font-size: 1.9rem; line-height: 1.2; margin: 0 0 6px; letter-spacing: -0.01em; }
h2 { font-size: 1.35rem; margin: 0 0 8px; padding-top: 6px; }
h3 { font-size: 1.05rem; margin: 18px 0 6px; }
p { margin: 6px 0 12px; }
.subtitle { color: var(--muted); margin: 0; }
nav.toc { margin: 12px 0 0; font-size: 0.92rem; }
nav.toc ol { margin: 0; padding: 0; list-style: none; display: flex; flex-wrap: wrap; gap: 6px 18px; }
nav.toc a { color: var(--accent); text-decoration: none; }
nav.toc a:hover { text-decoration: underline; }
section { margin: 30px 0 0; padding-top: 4px; }
section + section { border-top: 1px solid var(--line); padding-top: 22px; }
.intro { color: var(--muted); max-width: 62em; }
.banner { margin: 16px 0 0; padding: 10px 14px; border-radius: 6px; font-weight: 600; }
.banner.bad { background: var(--bad-bg); color: var(--bad); border: 1px solid #f3b8b2; }
.banner.ok { background: var(--ok-bg); color: var(--ok); border: 1px solid #b7dfc2; }
.banner a { color: inherit; }
figure { margin: 16px 0 22px; }
figure.plot img { display: block; max-width: 100%; height: auto; border: 1px solid var(--line);
  border-radius: 6px; background: #fff; }
figcaption { color: var(--muted); font-size: 0.9rem; margin-top: 6px; }
table { border-collapse: collapse; width: auto; max-width: 100%; font-size: 0.92rem; margin: 4px 0; }
.table-wrap { overflow-x: auto; margin: 14px 0 20px; }
caption { caption-side: top; text-align: left; color: var(--muted); font-size: 0.9rem;
  padding: 0 0 6px; }
th, td { padding: 6px 12px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
thead th { border-bottom: 2px solid #c5ccd8; font-weight: 600; background: var(--panel); vertical-align: bottom;
  min-width: 4.5em; }
td.num.ci { padding-left: 8px; padding-right: 8px; }
tbody tr:nth-child(even) td { background: #fafbfd; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.msg { font-family: ui-monospace, "SFMono-Regular", "DejaVu Sans Mono", Menlo, Consolas, monospace;
  font-size: 0.82rem; white-space: pre-wrap; word-break: break-word; max-width: 46em; }
tr.failed td { background: var(--bad-bg) !important; }
tfoot td { font-weight: 600; border-top: 2px solid #c5ccd8; border-bottom: none; }
.badge { display: inline-block; padding: 1px 9px; border-radius: 999px; font-size: 0.8rem;
  font-weight: 600; text-transform: uppercase; letter-spacing: 0.03em; }
.badge.ok { background: var(--ok-bg); color: var(--ok); }
.badge.failed { background: var(--bad-bg); color: var(--bad); }
.badge.skipped, .badge.other { background: var(--skip-bg); color: var(--skip); }
.metrics { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 12px;
  margin: 14px 0 20px; }
.metric { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; }
.metric .k { color: var(--muted); font-size: 0.82rem; }
.metric .v { font-size: 1.35rem; font-weight: 600; font-variant-numeric: tabular-nums; }
.grid { display: grid; gap: 14px; margin: 14px 0 6px; }
.grid figure { margin: 0; }
.grid img { display: block; width: 100%; height: auto; border-radius: 4px; background: #000; }
.grid img.pixelated { image-rendering: pixelated; }
.grid img.native { width: auto; max-width: 100%; }
.grid figcaption { font-size: 0.85rem; }
figure.image-grid { margin: 16px 0 24px; }
figure.image-grid > figcaption { font-size: 0.95rem; color: var(--fg); margin-top: 8px; }
figure.image-grid.beside { display: flex; gap: 22px; align-items: center; }
figure.image-grid.beside > .grid { margin: 0; flex: none; }
figure.image-grid.beside > figcaption { flex: 1; font-size: 1.02rem; margin: 0; max-width: 30em; }
@media (max-width: 760px) { figure.image-grid.beside { display: block; } }
.pair { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; margin: 14px 0 8px; }
.pair .card { border: 1px solid var(--line); border-radius: 8px; padding: 12px 16px; background: #fff; }
.pair .card h4 { margin: 0 0 6px; font-size: 0.8rem; text-transform: uppercase; letter-spacing: 0.05em;
  color: var(--muted); }
.pair .text { white-space: pre-wrap; margin: 0 0 10px; }
.pair-block { margin: 8px 0 26px; }
.pair-block > .agree { color: var(--muted); font-size: 0.88rem; }
.chips { display: flex; flex-wrap: wrap; gap: 6px; }
.chip { display: inline-block; padding: 1px 10px; border-radius: 999px; font-size: 0.8rem;
  border: 1px solid transparent; white-space: nowrap; }
.chip.positive { background: #fde8e7; color: #9f1c12; border-color: #f4bcb7; }
.chip.uncertain { background: var(--warn-bg); color: var(--warn); border-color: #f0d48a; }
.chip.negative { background: #e8f1fb; color: #1f4f86; border-color: #bcd3ee; }
.chip.mismatch { border-style: dashed; border-color: var(--fg); }
.chip .mark { font-weight: 700; margin-left: 4px; }
.legend { display: flex; flex-wrap: wrap; align-items: center; gap: 6px 18px; margin: 10px 0 4px;
  font-size: 0.85rem; color: var(--muted); }
.legend .legend-title { font-weight: 600; color: var(--fg); }
.legend .legend-item { display: inline-flex; align-items: center; gap: 6px; }
td.ci span.ci { display: block; font-size: 0.78rem; color: var(--muted); }
.empty { color: var(--muted); font-style: italic; }
table.structured { width: 100%; table-layout: fixed; }
table.structured th[scope=row] { width: 13em; white-space: normal; }
table.structured ul { margin: 0; padding-left: 1.1em; }
table.structured tr.one-side th, table.structured tr.one-side td { background: var(--warn-bg) !important; }
footer { margin-top: 48px; color: var(--muted); font-size: 0.82rem; border-top: 1px solid var(--line);
  padding-top: 10px; }
@media (max-width: 760px) { .pair { grid-template-columns: 1fr; } main { padding: 18px 14px 40px; } }
@media print { nav.toc { display: none; } section { break-inside: avoid-page; } }
"""
