"""A local SMTP server that accepts every message and writes it as an .eml file.

Open the files with any mail client to read what the system sent. In tests: `SmtpSink(dir,
port).start()` runs it in a thread of this process; as a program:
`python -m devstack.smtp_sink --dir .dev/mail --port 8025`.
"""

from __future__ import annotations

import argparse
import asyncio
import email
import email.policy
import itertools
import signal
import threading
import time
from collections.abc import Callable
from email.message import Message
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


class _WriteEml:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._seq = itertools.count(1)
        self._lock = threading.Lock()
        self.peers: set[Any] = set()  # client address per connection that sent a message

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content: bytes = envelope.original_content or envelope.content
        with self._lock:
            self.peers.add(session.peer)
            name = f"{time.strftime('%Y%m%dT%H%M%S')}-{next(self._seq):05d}.eml"
        tmp = self.folder / f".{name}.tmp"
        # Written then renamed, so a reader never sees half a message.
        tmp.write_bytes(content)
        tmp.rename(self.folder / name)
        return "250 Message accepted for delivery"


class SmtpSink:
    def __init__(self, folder: Path, port: int, host: str = "127.0.0.1") -> None:
        self.folder = Path(folder)
        self.port = port
        self.host = host
        self._controller: Controller | None = None
        self._handler = _WriteEml(self.folder)

    @property
    def connections(self) -> int:
        """How many connections delivered messages to this sink."""
        return len(self._handler.peers)

    def start(self) -> SmtpSink:
        self.folder.mkdir(parents=True, exist_ok=True)
        self._controller = Controller(
            self._handler, hostname=self.host, port=self.port, ready_timeout=10
        )
        try:
            self._controller.start()
        except Exception as exc:
            self._controller = None
            raise RuntimeError(
                f"the SMTP sink cannot listen on {self.host}:{self.port} ({exc}): "
                f"stop what uses that port or choose another (smtp.port)"
            ) from exc
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def files(self) -> list[Path]:
        return sorted(self.folder.glob("*.eml"))

    def messages(self) -> list[Message]:
        """Every message received so far, oldest first."""
        return [
            email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
            for p in self.files()
        ]

    async def wait_for(
        self, predicate: Callable[[Message], bool], count: int = 1, within: float = 10.0
    ) -> list[Message]:
        """The matching messages once `count` of them arrived (mail is sent by activities,
        after the call that triggered it returned); raises TimeoutError naming what lacked."""
        deadline = time.monotonic() + within
        while True:
            found = [m for m in self.messages() if predicate(m)]
            if len(found) >= count or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)  # polls the folder; the worker shares this loop
        if len(found) < count:
            raise TimeoutError(f"{len(found)} of {count} expected e-mails arrived in {within} s")
        return found

    def clear(self) -> None:
        for path in self.files():
            path.unlink()

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="SMTP sink writing each message as .eml")
    parser.add_argument("--dir", type=Path, required=True, help="folder for the .eml files")
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with SmtpSink(args.dir, args.port, args.host):
        print(f"SMTP sink on {args.host}:{args.port}, writing to {args.dir}", flush=True)
        stop.wait()


if __name__ == "__main__":
    main()
