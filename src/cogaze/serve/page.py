"""The two HTML pages the server renders: the single-page app at ``/`` (a template shipped in
``cogaze/resources/serve/index.html``: inline CSS and plain JavaScript, no external URL) and a plain
API reference at ``/docs`` built from the OpenAPI schema (Swagger UI would load assets from a CDN)."""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from cogaze import __version__
from cogaze.data.records import VIEW_POSITIONS
from cogaze.serve.payload import legend_stops
from cogaze.serve.settings import ServeSettings

TEMPLATE = Path(__file__).resolve().parents[1] / "resources" / "serve" / "index.html"


def model_label(info: dict[str, Any]) -> str:
    """A short name of the loaded models for the page header, e.g. ``pretrain + report_generation (decoder)``."""
    names = [Path(info[k]).name for k in ("checkpoint", "report_model") if info.get(k)]
    label = " + ".join(names)
    if info.get("report_variant"):
        label += f" ({info['report_variant']})"
    if info.get("index"):
        label += f" · {info['index'].get('cases', '?')} similar-case candidates"
    return label


def page_html(settings: ServeSettings, model: str = "") -> str:
    """The page at ``/`` with the server's limits, the view choices and the overlay colour legend."""
    views = "".join(f'<option value="{escape(v)}">{escape(v)}</option>' for v in VIEW_POSITIONS if v != "UNKNOWN")
    gradient = "linear-gradient(to right, " + ", ".join(legend_stops()) + ")"
    values = {"__LEGEND__": gradient, "__VIEWS__": views, "__MODEL__": escape(model or "model loaded"),
              "__MAX_MB__": f"{settings.max_upload_mb:g}", "__MAX_MP__": f"{settings.max_megapixels:g}",
              "__VERSION__": escape(__version__)}
    html = TEMPLATE.read_text(encoding="utf-8")
    for key, value in values.items():
        html = html.replace(key, value)
    return html


def _params(op: dict[str, Any], schema: dict[str, Any]) -> list[tuple[str, str, str]]:
    rows = [(p["name"], p.get("in", ""), p.get("description", "")) for p in op.get("parameters", [])]
    body = op.get("requestBody", {}).get("content", {})
    for media, spec in body.items():
        ref = spec.get("schema", {}).get("$ref", "")
        target = schema.get("components", {}).get("schemas", {}).get(ref.rsplit("/", 1)[-1], spec.get("schema", {}))
        for name, prop in target.get("properties", {}).items():
            rows.append((name, media, prop.get("description", prop.get("title", ""))))
    return rows


def api_reference_html(schema: dict[str, Any]) -> str:
    """A self-contained page listing every operation of ``schema`` (an OpenAPI dict) with its fields and
    responses; the machine-readable schema stays at ``/openapi.json``."""
    parts = []
    for path, ops in schema.get("paths", {}).items():
        for method, op in ops.items():
            rows = "".join(f"<tr><td><code>{escape(n)}</code></td><td>{escape(w)}</td><td>{escape(d)}</td></tr>"
                           for n, w, d in _params(op, schema))
            responses = ", ".join(f"{escape(code)} {escape(r.get('description', ''))}"
                                  for code, r in op.get("responses", {}).items())
            parts.append(f"<section><h2><span class=m>{method.upper()}</span> <code>{escape(path)}</code></h2>"
                         f"<p>{escape(op.get('summary', ''))}</p>"
                         + (f"<table><tr><th>field</th><th>in</th><th>description</th></tr>{rows}</table>" if rows else "")
                         + f"<p class=r>Responses: {responses}</p></section>")
    title = escape(schema.get("info", {}).get("title", "API"))
    return ("<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>" + title + " API</title><style>"
            "body{font-family:system-ui,sans-serif;max-width:900px;margin:24px auto;padding:0 20px;color:#1d2330}"
            "section{border-top:1px solid #dde2ea;padding:6px 0}h2{font-size:1.05rem}.m{background:#1f5fa8;color:#fff;"
            "border-radius:4px;padding:1px 7px;font-size:.85rem}table{border-collapse:collapse;font-size:.9rem}"
            "td,th{border-bottom:1px solid #dde2ea;padding:4px 10px;text-align:left}.r{color:#5b6475;font-size:.88rem}"
            "</style></head><body><h1>" + title + " API</h1><p>" + escape(schema.get("info", {}).get("description", ""))
            + " Machine-readable schema: <a href=openapi.json>/openapi.json</a>. Errors are JSON: "
            "<code>{\"error\": code, \"detail\": message}</code>.</p>" + "".join(parts) + "</body></html>")
