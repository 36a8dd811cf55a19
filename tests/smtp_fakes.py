"""SMTP servers that misbehave on purpose, for the delivery tests (real sockets on loopback)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable


async def drop_after_data(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """An SMTP server that takes the message and dies before answering: ambiguous."""
    writer.write(b"220 flaky ESMTP\r\n")
    in_data = False
    while line := await reader.readline():
        if in_data:
            if line == b".\r\n":
                writer.close()
                return
            continue
        verb = line[:4].upper()
        if verb == b"DATA":
            writer.write(b"354 go ahead\r\n")
            in_data = True
        elif verb in (b"EHLO", b"HELO"):
            writer.write(b"250 flaky\r\n")
        else:
            writer.write(b"250 ok\r\n")
        await writer.drain()


async def reject_recipient(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Speaks SMTP and refuses every recipient for good (550), as for a mistyped address."""
    writer.write(b"220 strict ESMTP\r\n")
    while line := await reader.readline():
        verb = line[:4].upper()
        if verb == b"RCPT":
            writer.write(b"550 5.1.1 mailbox unknown\r\n")
        elif verb == b"QUIT":
            writer.write(b"221 bye\r\n")
            await writer.drain()
            break
        else:
            writer.write(b"250 ok\r\n")
        await writer.drain()
    writer.close()


class LateAcceptance:
    """A TCP proxy in front of a real SMTP server (the sink) that holds the end of a message's
    DATA until `hold(sent)` returns: the server accepts, and the client hears its 250,
    only then, as from a mail server that answers late. `hold` sees the message as sent and
    returns at once for those it does not delay (`sent`: the client's bytes of that
    transaction, headers included)."""

    def __init__(self, target_port: int, hold: Callable[[bytes], Awaitable[None]]) -> None:
        self.target_port = target_port
        self.hold = hold
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def __aenter__(self) -> LateAcceptance:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)

        async def client_to_server() -> None:
            sent = b""  # what the client sent since the last message ended
            with contextlib.suppress(ConnectionError):
                while data := await reader.read(65536):
                    sent += data
                    if sent.endswith(b"\r\n.\r\n"):  # the end of DATA: the server accepts
                        await self.hold(sent)
                        sent = b""
                    up_writer.write(data)
                    await up_writer.drain()
            up_writer.close()

        async def server_to_client() -> None:
            with contextlib.suppress(ConnectionError):
                while data := await up_reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            writer.close()

        await asyncio.gather(client_to_server(), server_to_client())
