"""The FastAPI application: the page at ``/``, ``POST /api/predict``, ``/api/health``, ``/api/info``,
an offline API reference at ``/docs`` (FastAPI's Swagger UI loads its assets from a CDN, so it is off)
and JSON errors (``{"error": code, "detail": message}``) for every refused request."""

from __future__ import annotations

import asyncio
import logging
import platform
from collections.abc import Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from cogaze import __version__
from cogaze.serve.limits import BodyLimit
from cogaze.serve.page import api_reference_html, model_label, page_html
from cogaze.serve.payload import prediction_json
from cogaze.serve.settings import ServeSettings
from cogaze.serve.uploads import UploadError, check_upload
from cogaze.serve.worker import BatchWorker, QueueFull

log = logging.getLogger("cogaze.serve")

FORM_OVERHEAD = 256 * 1024
"""Bytes a multipart body may hold beyond the file itself (boundaries, headers, text fields)."""


def error(status: int, code: str, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """The JSON error every refused request gets."""
    return JSONResponse({"error": code, "detail": detail}, status_code=status, headers=headers)


def _versions() -> dict[str, str]:
    import fastapi
    import torch

    return {"cogaze": __version__, "python": platform.python_version(), "torch": torch.__version__,
            "fastapi": fastapi.__version__}


def create_app(run_batch: Callable[[Sequence[Any]], Sequence[Any]], info: dict[str, Any] | None = None,
               settings: ServeSettings | None = None) -> FastAPI:
    """The application around ``run_batch(list[PredictInput]) -> list[Prediction]`` (one model thread
    calls it; see :class:`~cogaze.serve.worker.BatchWorker`). ``info``: the model's description for
    ``/api/info``. The worker starts and stops with the application's lifespan."""
    from cogaze.api.predict import PredictInput
    from cogaze.data.records import parse_view

    cfg = settings or ServeSettings()
    worker = BatchWorker(run_batch, max_queue=cfg.max_queue, max_batch=cfg.max_batch,
                         max_wait_s=cfg.max_wait_ms / 1000.0)

    @asynccontextmanager
    async def lifespan(_: FastAPI):  # noqa: ANN202
        worker.start()
        try:
            yield
        finally:
            await run_in_threadpool(worker.stop)

    app = FastAPI(title="cogaze serve", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Draft report, findings, gaze maps and similar cases for a chest X-ray. "
                              "No authentication: see docs/serve.md.")
    app.state.worker = worker
    app.state.settings = cfg
    app.add_middleware(BodyLimit, max_bytes=cfg.max_upload_bytes + FORM_OVERHEAD, paths=("/api/predict",),
                       limit_text=f"{cfg.max_upload_mb:g} MB")
    page = page_html(cfg, model_label(info or {}))
    model_info = {"model": info or {}, "server": cfg.as_dict(), "versions": _versions()}

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 413: "file_too_large"}.get(exc.status_code, "bad_request")
        return error(exc.status_code, code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        parts = [f"{'.'.join(str(x) for x in e.get('loc', ())[1:]) or 'request'}: {e.get('msg', '')}"
                 for e in exc.errors()]
        return error(422, "invalid_request", "; ".join(parts) or "invalid request")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index() -> HTMLResponse:
        return HTMLResponse(page)

    @app.get("/docs", response_class=HTMLResponse, include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(api_reference_html(app.openapi()))

    @app.get("/api/health", summary="Liveness and queue length")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "queued": worker.queued, "max_queue": worker.max_queue,
                "batches": worker.batches, "predictions": worker.processed}

    @app.get("/api/info", summary="Model, configuration, server limits and versions")
    async def api_info() -> dict[str, Any]:
        return model_info

    @app.post("/api/predict", summary="Draft report, findings, maps and similar cases for one image",
              responses={400: {"description": "empty file"}, 413: {"description": "file or image too large"},
                         415: {"description": "not a DICOM, PNG or JPEG image"},
                         422: {"description": "unreadable image or invalid field"},
                         503: {"description": "queue full (Retry-After)"}})
    async def predict(file: UploadFile = File(..., description="DICOM, PNG or JPEG chest X-ray"),
                      indication: str = Form("", description="Clinical indication"),
                      history: str = Form("", description="Clinical history"),
                      view: str | None = Form(None, description="PA, AP, LATERAL, ... (default: DICOM header)"),
                      ) -> JSONResponse:
        data = await file.read(cfg.max_upload_bytes + 1)
        try:
            upload = await run_in_threadpool(check_upload, data, file.filename, cfg.max_upload_bytes, cfg.max_pixels)
        except UploadError as err:
            return error(err.status, err.code, err.detail)
        for field, text in (("indication", indication), ("history", history)):
            if len(text) > cfg.max_text_chars:
                return error(422, "invalid_request", f"{field}: {len(text)} characters, over {cfg.max_text_chars}")
        try:
            view_value = parse_view(view) if view and view.strip() else None
        except ValueError as err:
            return error(422, "invalid_request", f"view: {err}")
        item = PredictInput(source=upload.data, name=upload.name, indication=indication.strip(),
                            history=history.strip(), view=view_value)
        try:
            future = worker.submit(item)
        except QueueFull as err:
            return error(503, "busy", str(err), headers={"Retry-After": str(err.retry_after)})
        try:
            pred, batch = await asyncio.wrap_future(future)
        except Exception as err:
            return error(500, "prediction_failed", f"{upload.name}: the model failed on this image ({err})")
        if pred.status != "ok":  # api.predict marks a model failure "failed: ..."; anything else is the input
            if pred.status.startswith("failed:"):
                return error(500, "prediction_failed", f"{upload.name}: {pred.status}")
            return error(422, "undecodable", f"{upload.name}: {pred.status}")
        body = await run_in_threadpool(prediction_json, pred, batch, cfg.display_side)
        return JSONResponse(body)

    return app
