"""The project's SMTP sink (devstack/smtp_sink.py), switchable for outages, remembering the
Message-ID of everything it accepted (the invariants look notices up there)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from devstack.smtp_sink import SmtpSink, _WriteEml

_MESSAGE_ID = re.compile(rb"^Message-ID:\s*(<[^>\r\n]+>)", re.IGNORECASE | re.MULTILINE)


class _Recording(_WriteEml):
    def __init__(self, folder: Path, keep: bool) -> None:
        super().__init__(folder)
        self.keep = keep
        self.received: dict[str, int] = {}  # Message-ID -> times accepted

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content: bytes = envelope.original_content or envelope.content
        found = _MESSAGE_ID.search(content)
        key = found.group(1).decode(errors="replace") if found else ""
        self.received[key] = self.received.get(key, 0) + 1
        if self.keep:
            return await super().handle_DATA(server, session, envelope)
        return "250 Message accepted for delivery"


class SwitchableSink(SmtpSink):
    """Up: accepts every message. Down: nothing listens on its port (connection refused),
    as when the mail server is away."""

    def __init__(self, folder: Path, port: int, *, keep_files: bool = False) -> None:
        super().__init__(folder, port)
        self._handler = self.recording = _Recording(self.folder, keep_files)
        self.up = False

    def start(self) -> SwitchableSink:
        super().start()
        self.up = True
        return self

    def stop(self) -> None:
        super().stop()
        self.up = False

    def has(self, message_id: str) -> bool:
        return message_id in self.recording.received
