"""Refuses request bodies over `api.max_body_bytes` before they are read into memory (413).
A route may have a limit of its own (the document upload: 10 MB plus the multipart framing),
with the field its 413 names."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from starter.api.problems import Problem, render


class BodyLimit:
    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        routes: Mapping[str, tuple[int, str | None]] | None = None,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        # path -> (its own limit, the field a 413 names)
        self.routes = dict(routes or {})

    def _too_large(self, size: int | None, max_bytes: int, field: str | None) -> Problem:
        got = f"{size} bytes" if size is not None else "more"
        what = f"{field}: " if field else ""
        return Problem(
            413,
            "body-too-large",
            "Request body too large",
            f"{what}the request body has {got}; at most {max_bytes} bytes are accepted",
            field=field,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes, field = self.routes.get(scope.get("path", ""), (self.max_bytes, None))
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_bytes:
            problem = self._too_large(int(declared), max_bytes, field)
            await render(problem, scope.get("path"))(scope, receive, send)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    raise _TooLarge(max_bytes)
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
                problem = self._too_large(None, max_bytes, field)
                await render(problem, scope.get("path"))(scope, receive, send)


class _TooLarge(HTTPException):
    """Raised while the app reads the body; FastAPI passes HTTPExceptions through to the
    problem handler (any other exception there would become a 400)."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"the request body is larger than the {max_bytes} bytes accepted")
