"""``cogaze serve``: the web page and JSON API on a loaded model (docs/serve.md)."""

from __future__ import annotations

import click

from cogaze.logs import verbosity_options


@click.command()
@verbosity_options
@click.option("--checkpoint", required=True, type=click.Path(), help="Pretraining run folder (`cogaze pretrain`).")
@click.option("--report-model", type=click.Path(), default=None,
              help="Report model folder (`cogaze train-report`); without it no draft report is written.")
@click.option("--index", type=click.Path(), default=None, help="Data folder whose images are the similar cases.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind. The server has no authentication: keep 127.0.0.1 behind a reverse proxy.")
@click.option("--port", type=int, default=8000, show_default=True)
@click.option("--device", default="cpu", show_default=True, help="torch device of the models.")
@click.option("--torch-threads", type=int, default=None,
              help="torch's CPU threads (default: one per core). Fewer leave cores to the web server under load.")
@click.option("--top-k", type=int, default=5, show_default=True, help="Similar cases returned.")
@click.option("--max-upload-mb", type=float, default=50.0, show_default=True, help="Largest upload (413 above).")
@click.option("--max-megapixels", type=float, default=36.0, show_default=True,
              help="Largest image, checked from its header before decoding (413 above).")
@click.option("--max-queue", type=int, default=64, show_default=True, help="Waiting requests before 503.")
@click.option("--max-batch", type=int, default=16, show_default=True, help="Images the model runs together.")
@click.option("--max-wait-ms", type=float, default=20.0, show_default=True,
              help="Under load, how long the model waits to fill a batch.")
def serve(checkpoint: str, report_model: str | None, index: str | None, host: str, port: int, device: str,
          torch_threads: int | None, top_k: int, max_upload_mb: float, max_megapixels: float, max_queue: int, max_batch: int,
          max_wait_ms: float) -> None:
    """Serve a page and a JSON API: upload a chest X-ray, get a draft report, findings, gaze maps and
    similar cases. No authentication: it binds to 127.0.0.1 unless --host says otherwise."""
    from cogaze.serve.server import serve as run_server
    from cogaze.serve.settings import ServeSettings

    settings = ServeSettings(max_upload_mb=max_upload_mb, max_megapixels=max_megapixels, max_queue=max_queue,
                             max_batch=max_batch, max_wait_ms=max_wait_ms)
    run_server(checkpoint, report_model, index, host=host, port=port, device=device, top_k=top_k, settings=settings,
               torch_threads=torch_threads)
