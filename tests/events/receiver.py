"""A webhook receiver on loopback (pytest-httpserver, a real HTTP server in a thread) that
verifies every delivery's Standard Webhooks signature, as the portal would."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from pytest_httpserver import HTTPServer
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from werkzeug import Request, Response

from devstack.ports import free_port

SECRET = "whsec_" + base64.b64encode(b"portal-test-secret-0123456789ab").decode()
WRONG_SECRET = "whsec_" + base64.b64encode(b"not-the-portal-secret-987654321").decode()
PATH = "/hooks/odb"


@dataclass
class Received:
    webhook_id: str
    subject: str
    type: str
    seq_time: str
    at: float = 0.0  # time.time() when it was accepted
    sequence: str | None = None  # the CloudEvents `sequence` extension, as sent


@dataclass
class Receiver:
    """mode: ok | fail (500) | slow (sleeps `slow_seconds` then 200) | gone (410) |
    redirect (307). Accepted deliveries land in `accepted` in arrival order."""

    server: HTTPServer
    secret: str = SECRET
    mode: str = "ok"
    slow_seconds: float = 3.0
    accepted: list[Received] = field(default_factory=list)
    refused_signature: int = 0
    attempts: int = 0
    in_flight: int = 0  # requests being answered right now
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.server.expect_request(PATH, method="POST").respond_with_handler(self._handle)

    @property
    def url(self) -> str:
        return self.server.url_for(PATH)

    def _handle(self, request: Request) -> Response:
        with self._lock:
            self.attempts += 1
            self.in_flight += 1
        try:
            return self._answer(request)
        finally:
            with self._lock:
                self.in_flight -= 1

    def _answer(self, request: Request) -> Response:
        body = request.get_data()
        headers = {k: v for k, v in request.headers.items()}
        try:
            event: Any = Webhook(self.secret).verify(body, headers)
        except WebhookVerificationError:
            with self._lock:
                self.refused_signature += 1
            return Response("bad signature", status=400)
        if self.mode == "fail":
            return Response("down", status=500)
        if self.mode == "gone":
            return Response("gone", status=410)
        if self.mode == "redirect":
            return Response("", status=307, headers={"Location": "http://127.0.0.1:1/x"})
        if self.mode == "slow":
            time.sleep(self.slow_seconds)
        with self._lock:
            self.accepted.append(
                Received(
                    headers["Webhook-Id"],
                    event["subject"],
                    event["type"],
                    event["time"],
                    time.time(),
                    event.get("sequence"),
                )
            )
        return Response(json.dumps({"ok": True}), status=200)

    def down(self) -> None:
        """Stops listening: connections are refused until `up()` (same port)."""
        self.server.stop()

    def up(self) -> None:
        self.server.start()

    def first_arrivals(self) -> dict[str, float]:
        """webhook-id -> when it was first accepted."""
        with self._lock:
            accepted = list(self.accepted)
        first: dict[str, float] = {}
        for r in accepted:
            first.setdefault(r.webhook_id, r.at)
        return first

    def ids(self) -> list[str]:
        return [r.webhook_id for r in self.accepted]

    def per_dossier(self) -> dict[str, list[str]]:
        lanes: dict[str, list[str]] = {}
        for r in self.accepted:
            lanes.setdefault(r.subject, []).append(r.webhook_id)
        return lanes


@contextmanager
def serving() -> Iterator[Receiver]:
    """A receiver on a free loopback port, threaded (a thread per request and keep-alive, as
    a portal's web server), stopped afterwards."""
    server = HTTPServer(host="127.0.0.1", port=free_port(), threaded=True)
    server.start()
    try:
        yield Receiver(server)
    finally:
        if server.is_running():
            server.stop()
