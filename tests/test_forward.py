"""Forwarding what is not understood to the admins, through a real SMTP relay on loopback."""

from __future__ import annotations

import asyncio
import email
import email.policy
from pathlib import Path

from aiosmtpd.smtp import SMTP

from tests.conftest import FakeClock, lmtp_port, make_config, verp_address
from tests.daemon_process import free_port
from tests.lmtp_client import LMTPClient
from tests.messages import not_a_bounce


class Sink:
    """A real SMTP server that keeps what it receives."""

    def __init__(self) -> None:
        self.received: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope) -> str:
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return "250 2.0.0 OK"


async def wait_until(predicate, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await predicate():
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def test_forward_survives_a_relay_outage_and_is_sent_once_it_is_back(make_daemon, tmp_path: Path, clock: FakeClock) -> None:
    """With the relay down the forward stays queued and is retried; when the relay is back it is sent, once."""
    relay_port = free_port()  # nothing listens here yet: the relay is down
    config = make_config(
        tmp_path,
        forward={"to": ["postmaster@example.org", "ops@example.org"], "relay": f"127.0.0.1:{relay_port}", "sender": "verpd@example.org"},
    )
    daemon = await make_daemon(config)
    verp = verp_address(config, clock, user=77)
    client = await LMTPClient.connect("127.0.0.1", lmtp_port(daemon))
    _, (reply,) = await client.deliver(not_a_bounce(verp), [verp])
    assert reply.code == 250 and "administrators" in reply.text
    await client.close()

    async def attempted() -> bool:
        return any(item["attempts"] >= 1 for item in await daemon.store.list_outbox())

    await wait_until(attempted)
    (item,) = await daemon.store.list_outbox()
    assert item["done_at"] is None and "Connection refused" in item["last_error"]

    sink = Sink()
    relay = await asyncio.get_running_loop().create_server(lambda: SMTP(sink, hostname="relay.test"), "127.0.0.1", relay_port)
    try:
        clock.advance(seconds=config.forward.retry_max)  # the retry is due
        daemon.outbox.wake()

        async def sent() -> bool:
            return all(item["done_at"] is not None for item in await daemon.store.list_outbox())

        await wait_until(sent)
        daemon.outbox.wake()
        await asyncio.sleep(0.1)  # a further wake-up must not send it again
    finally:
        relay.close()
        await relay.wait_closed()

    (mail_from, rcpts, raw), = sink.received
    assert mail_from == "<>" and rcpts == ["postmaster@example.org", "ops@example.org"]  # null envelope sender
    forward = email.message_from_bytes(raw, policy=email.policy.default)
    assert forward["Subject"] == f"Unrecognized bounce for {verp}"
    attached = [p for p in forward.walk() if p.get_content_type() == "message/rfc822"]
    assert len(attached) == 1
    original = attached[0].get_payload()[0]
    assert original["Message-ID"] == "<human.1@example.net>"
    assert "Please stop sending me these" in original.get_content()
    assert "User id:       77" in forward.get_body(("plain",)).get_content()


from tests.test_dkim import DOMAIN, SELECTOR, fake_resolver, key_pair, published  # noqa: E402,F401 (fixtures)


async def test_forwards_are_dkim_signed_with_the_configured_key(make_daemon, tmp_path: Path, clock: FakeClock, key_pair, published) -> None:
    """With [dkim] sign_*, the forward carries a DKIM-Signature of the configured domain that verifies."""
    from verpd import dkim

    relay_port = free_port()
    sink = Sink()
    relay = await asyncio.get_running_loop().create_server(lambda: SMTP(sink, hostname="relay.test"), "127.0.0.1", relay_port)
    try:
        config = make_config(
            tmp_path,
            forward={"to": ["postmaster@example.org"], "relay": f"127.0.0.1:{relay_port}", "sender": "verpd@example.org"},
            dkim={"sign_key_file": str(key_pair[0]), "sign_selector": SELECTOR, "sign_domain": DOMAIN},
        )
        daemon = await make_daemon(config)
        verp = verp_address(config, clock, user=77)
        client = await LMTPClient.connect("127.0.0.1", lmtp_port(daemon))
        _, (reply,) = await client.deliver(not_a_bounce(verp), [verp])
        await client.close()

        async def sent() -> bool:
            return bool(sink.received)

        await wait_until(sent)
    finally:
        relay.close()
        await relay.wait_closed()
    (_, _, raw), = sink.received
    assert raw.startswith(b"DKIM-Signature:")
    checked = await dkim.check(raw, resolver=fake_resolver(published), timeout=10)
    assert (checked.result, checked.domain) == (dkim.DkimResult.PASS, DOMAIN)
