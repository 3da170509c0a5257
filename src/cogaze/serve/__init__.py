"""``cogaze serve``: a web page and JSON API over :func:`cogaze.api.predict` (FastAPI + uvicorn).

A client of the public API like the demo: :mod:`~cogaze.serve.app` builds the application,
:mod:`~cogaze.serve.worker` owns the model on one thread and batches queued requests,
:mod:`~cogaze.serve.uploads` rejects bad uploads before they reach the model,
:mod:`~cogaze.serve.payload` turns predictions into JSON, :mod:`~cogaze.serve.server` starts it all.
"""
