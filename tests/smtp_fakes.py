"""SMTP servers that misbehave on purpose, for the delivery tests (real sockets on loopback)."""

from __future__ import annotations

import asyncio


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
