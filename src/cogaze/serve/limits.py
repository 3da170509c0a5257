"""A request-body limit enforced while the body streams in, before the multipart parser spools it.

Starlette parses the whole form before the endpoint runs, so an endpoint-side size check alone would
let a 10 GB upload fill the temporary folder first. This ASGI middleware refuses a declared
``Content-Length`` over the limit at once and stops reading a body (chunked or lying about its length)
as soon as it passes the limit; either way the client gets 413 JSON.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any


class _TooLarge(Exception):
    pass


class BodyLimit:
    """Pure ASGI middleware: 413 for POST bodies over ``max_bytes`` on ``paths``."""

    def __init__(self, app: Any, max_bytes: int, paths: Sequence[str] = (), limit_text: str = ""):
        self.app = app
        self.max_bytes = max_bytes
        self.paths = tuple(paths)
        self.limit_text = limit_text or f"{max_bytes / 2**20:.1f} MB"

    async def _refuse(self, send: Any, received: int | None = None) -> None:
        size = f"{received / 2**20:.1f} MB" if received is not None else "the request"
        body = json.dumps({"error": "file_too_large", "detail": f"{size} is over the server's upload limit of "
                           f"{self.limit_text} (--max-upload-mb)"}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST" or (self.paths and scope["path"] not in self.paths):
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send, int(declared))
            return
        state = {"received": 0, "over": False, "started": False}

        async def limited_receive() -> Any:
            message = await receive()
            if message["type"] == "http.request":
                state["received"] += len(message.get("body", b""))
                if state["received"] > self.max_bytes:
                    state["over"] = True
                    raise _TooLarge
            return message

        async def guarded_send(message: Any) -> None:
            if state["over"]:  # the app's own reply to the aborted read is replaced by the 413
                if not state["started"]:
                    state["started"] = True
                    await self._refuse(send, state["received"])
                return
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except _TooLarge:
            if not state["started"]:
                state["started"] = True
                await self._refuse(send, state["received"])
