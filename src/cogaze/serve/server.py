"""Start the server: load the models once, build the app, run uvicorn (one process, one model thread)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from cogaze.serve.settings import ServeSettings

log = logging.getLogger("cogaze.serve")

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def no_auth_warning(host: str, port: int) -> str:
    """What the server says at start: it has no authentication, and who can reach it."""
    where = ("only this machine can reach it" if host in LOCAL_HOSTS else
             f"ANY machine that can reach {host}:{port} can use it; put it behind a reverse proxy with "
             "authentication (docs/serve.md)")
    return f"cogaze serve has no authentication of its own; it listens on http://{host}:{port}: {where}."


def build_app(checkpoint: str | Path, report_model: str | Path | None = None, index: str | Path | None = None,
              device: str = "cpu", top_k: int = 5, settings: ServeSettings | None = None) -> Any:
    """Load the predictor once and return the FastAPI app around it (what :func:`serve` runs)."""
    from cogaze import api
    from cogaze.serve.app import create_app

    cfg = settings or ServeSettings()
    predictor = api.load_predictor(checkpoint, report_model=report_model, index=index, device=device, top_k=top_k)

    def run_batch(items: Any) -> Any:
        return api.predict(predictor, items, batch_size=cfg.max_batch)

    app = create_app(run_batch, predictor.info(), cfg)
    app.state.predictor = predictor  # for callers that check the server against the API; never used by the app
    return app


def serve(checkpoint: str | Path, report_model: str | Path | None = None, index: str | Path | None = None,
          host: str = "127.0.0.1", port: int = 8000, device: str = "cpu", top_k: int = 5,
          settings: ServeSettings | None = None, torch_threads: int | None = None) -> None:
    """Run the web page and JSON API until interrupted (Ctrl-C). ``torch_threads``: torch's intra-op threads
    (None: torch's default, one per core)."""
    import uvicorn

    if torch_threads is not None:
        import torch

        if torch_threads < 1:
            from cogaze.errors import ConfigError

            raise ConfigError(f"torch threads must be at least 1, got {torch_threads}")
        torch.set_num_threads(torch_threads)

    app = build_app(checkpoint, report_model, index, device=device, top_k=top_k, settings=settings)
    log.warning(no_auth_warning(host, port))
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=False, workers=1)
