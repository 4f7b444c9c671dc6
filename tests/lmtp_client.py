"""A raw-socket LMTP client for tests.

CPython's ``smtplib.LMTP`` reads only one reply after DATA (cpython gh-76984), so
it cannot check that a server answers once per recipient; this client reads
exactly as many replies as it is told to.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass


@dataclass(frozen=True)
class Reply:
    code: int
    text: str  # all lines of a multi-line reply, joined with "\n"

    def __str__(self) -> str:
        return f"{self.code} {self.text}"


class LMTPClient:
    """Speaks LMTP over a socket; every method returns the server's reply or replies."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, host: str, port: int, *, lhlo: bool = True) -> LMTPClient:
        reader, writer = await asyncio.open_connection(host, port)
        client = cls(reader, writer)
        greeting = await client.read_reply()
        assert greeting.code == 220, greeting
        if lhlo:
            reply = await client.command("LHLO client.example.org")
            assert reply.code == 250, reply
        return client

    async def read_reply(self, timeout: float = 30.0) -> Reply:
        lines = []
        while True:
            line = await asyncio.wait_for(self.reader.readline(), timeout)
            if not line.endswith(b"\n"):  # EOF, or a line cut short by a closed connection: no reply
                raise ConnectionError("server closed the connection")
            text = line.decode("utf-8", "replace").rstrip("\r\n")
            lines.append(text[4:])
            if text[3:4] != "-":
                return Reply(int(text[:3]), "\n".join(lines))

    async def command(self, line: str) -> Reply:
        self.writer.write(line.encode("utf-8") + b"\r\n")
        await self.writer.drain()
        return await self.read_reply()

    async def mail(self, sender: str = "") -> Reply:
        return await self.command(f"MAIL FROM:<{sender}>")

    async def rcpt(self, address: str) -> Reply:
        return await self.command(f"RCPT TO:<{address}>")

    async def data(self, message: bytes, replies: int) -> list[Reply]:
        """Send DATA and the message; read ``replies`` replies (one per accepted recipient)."""
        start = await self.command("DATA")
        assert start.code == 354, start
        await self.send_message_body(message)
        return [await self.read_reply() for _ in range(replies)]

    async def send_message_body(self, message: bytes) -> None:
        """The message with CRLF line ends and dot-stuffing, then the final dot."""
        lines = message.replace(b"\r\n", b"\n").split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        body = b"".join((b"." + line if line.startswith(b".") else line) + b"\r\n" for line in lines)
        self.writer.write(body + b".\r\n")
        await self.writer.drain()

    async def deliver(self, message: bytes, recipients: list[str], sender: str = "") -> tuple[list[Reply], list[Reply]]:
        """One whole transaction: (RCPT replies, DATA replies)."""
        assert (await self.mail(sender)).code == 250
        rcpt_replies = [await self.rcpt(r) for r in recipients]
        accepted = sum(r.code == 250 for r in rcpt_replies)
        data_replies = await self.data(message, accepted) if accepted else []
        return rcpt_replies, data_replies

    async def close(self) -> None:
        try:
            await self.command("QUIT")
        except (ConnectionError, asyncio.TimeoutError):
            pass
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except ConnectionError:
            pass
