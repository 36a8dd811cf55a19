"""Refuses request bodies over `api.max_body_bytes` before they are read into memory (413)."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from starter.problems import Problem, render


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _too_large(self, size: int | None) -> Problem:
        got = f"{size} bytes" if size is not None else "more"
        return Problem(
            413,
            "body-too-large",
            "Request body too large",
            f"the request body has {got}; at most {self.max_bytes} bytes are accepted",
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await render(self._too_large(int(declared)), scope.get("path"))(scope, receive, send)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLarge(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:  # a chunked body without Content-Length went over the limit
                await render(self._too_large(None), scope.get("path"))(scope, receive, send)


class _TooLarge(HTTPException):
    """Raised while the app reads the body; FastAPI passes HTTPExceptions through to the
    problem handler (any other exception there would become a 400)."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"the request body is larger than the {max_bytes} bytes accepted")
