"""Parsing bounces: which detector recognises a message, and the facts it copies for each recipient."""

from __future__ import annotations

import random
import re

import pytest

from tests.conftest import FIXTURES, fixture_bytes, shared_file
from verpd.classify import classify
from verpd.model import RecipientFacts, ReportKind, Severity
from verpd.parse import MAX_RECIPIENTS, parse
from verpd.parse.message.text import MAX_DIAGNOSTIC
from verpd.parse.message.parts import read_message
from verpd.parse.message.text import is_internet_address, normalize_address

VERP = "wiki-enwiki-42-b7q2xk@bounces.example.org"  # what {verp} becomes in our fixtures


def bounce(name: str) -> bytes:
    return fixture_bytes(f"detectors/{name}", verp=VERP)


# --- the delivery-status report: parameters, groups, addresses -------------------------------------------------------

GMAIL_CONTENT_TYPE = b'Content-Type: multipart/report; boundary="000000000000f1e2d30626bc0a1b"; report-type=delivery-status\n'
B = "000000000000f1e2d30626bc0a1b"


@pytest.mark.parametrize(
    "header",
    [
        pytest.param(f'Content-Type: multipart/report; report-type=delivery-status; boundary="{B}"', id="report-type-first-quoted"),
        pytest.param(f'Content-Type: multipart/report; boundary="{B}"; report-type=delivery-status', id="boundary-first-quoted"),
        pytest.param(f"Content-Type: multipart/report; boundary={B}; report-type=delivery-status", id="boundary-first-unquoted"),
        pytest.param(f'Content-Type: multipart/report; report-type="delivery-status"; boundary={B}', id="report-type-quoted"),
        pytest.param(f'Content-Type: multipart/report;\n\treport-type=delivery-status;\n\tboundary="{B}"', id="folded"),
        pytest.param(f'Content-type: Multipart/Report; Report-Type=Delivery-Status; Boundary="{B}"', id="mixed-case"),
        pytest.param(f'Content-Type: multipart/report; boundary = "{B}" ; report-type = delivery-status', id="blanks-around-equals"),
        pytest.param(f"Content-Type: multipart/report; charset=us-ascii; boundary={B}; report-type=delivery-status", id="extra-parameter"),
    ],
)
def test_report_is_found_whatever_the_parameter_order_or_quoting(header: str) -> None:
    """The delivery-status report is read whatever the order, quoting, case or folding of the Content-Type parameters."""
    raw = bounce("gmail_boundary_first.eml")
    assert GMAIL_CONTENT_TYPE in raw
    raw = raw.replace(GMAIL_CONTENT_TYPE, header.encode() + b"\n")
    raw = re.sub(rb"^X-Failed-Recipients: .*\n", b"", raw, flags=re.M)  # so only the DSN part can name heidi
    report = parse(raw)
    assert report.detector == "dsn"
    assert [(r.address, r.status) for r in report.recipients] == [("heidi@example.net", "5.1.1")]


def test_every_recipient_group_is_reported_with_its_own_fields() -> None:
    """Each per-recipient group of a DSN becomes one recipient, with the fields of its own group and the reporting MTA."""
    report = parse(bounce("multi_recipient_mixed.eml"))
    common = {"reporting_mta": "relay.example.net", "diagnostic_type": "smtp"}
    assert report.recipients == (
        RecipientFacts(
            "judy@example.com", "failed", "5.2.2", 552, "552 5.2.2 Mailbox full: quota exceeded", "mx.example.com", **common
        ),
        RecipientFacts(
            "ken@example.net", "delayed", "4.4.1", 451, "451 4.4.1 Connection timed out", None, **common,
            original_recipient="kenneth@example.net",
        ),
        RecipientFacts(
            "leo@example.org", "delivered", "2.0.0", 250, "250 2.0.0 Ok: queued as 5C1D2E3F4A", "mx.example.org", **common
        ),
    )  # fmt: skip


def test_postfix_report_keeps_original_recipient_remote_mta_and_unfolded_diagnostic() -> None:
    """A Postfix DSN yields the final and original recipient, the remote MTA and the diagnostic unfolded to one line."""
    (facts,) = parse(bounce("postfix_userunknown.eml")).recipients
    assert facts == RecipientFacts(
        address="alice.marsh@example.com",
        action="failed",
        status="5.1.1",
        reply_code=550,
        diagnostic="550 5.1.1 <alice.marsh@example.com>: Recipient address rejected: User unknown in virtual mailbox table",
        remote_mta="mx1.example.com",
        reporting_mta="mail.example.org",
        original_recipient="alice@example.net",
        command="RCPT",  # from the human-readable part: "(in reply to RCPT TO command)"
        diagnostic_type="smtp",
    )


def test_original_recipient_stands_in_for_a_missing_final_recipient() -> None:
    """A recipient group without Final-Recipient is reported under its Original-Recipient (then no different original recipient)."""
    raw = bounce("multi_recipient_mixed.eml").replace(b"Final-Recipient: rfc822; ken@example.net\n", b"")
    report = parse(raw)
    assert [r.address for r in report.recipients] == ["judy@example.com", "kenneth@example.net", "leo@example.org"]
    assert (report.recipients[1].original_recipient, report.recipients[1].sent_to) == (None, "kenneth@example.net")
    assert report.recipients[1].status == "4.4.1"


def test_recipient_group_naming_no_address_is_skipped() -> None:
    """A recipient group with neither Final-Recipient nor Original-Recipient is not reported."""
    raw = bounce("multi_recipient_mixed.eml")
    raw = raw.replace(b"Final-Recipient: rfc822; ken@example.net\n", b"").replace(b"Original-Recipient: rfc822; kenneth@example.net\n", b"")
    assert [r.address for r in parse(raw).recipients] == ["judy@example.com", "leo@example.org"]


def test_quoted_printable_status_part_is_decoded_before_reading() -> None:
    """A delivery-status part sent quoted-printable is decoded first, soft line breaks included."""
    raw = bounce("postfix_userunknown.eml")
    raw = raw.replace(
        b"Content-Type: message/delivery-status\n", b"Content-Type: message/delivery-status\nContent-Transfer-Encoding: quoted-printable\n"
    )
    raw = raw.replace(b"Final-Recipient: rfc822; alice.marsh@example.com\n", b"Final-Recipient: rfc822; alice.marsh@exa=\nmple.com\n")
    raw = raw.replace(b"<alice.marsh@example.com>: Recipient address\n", b"<alice.marsh@exam=\nple.com>: Recipient address\n")
    (facts,) = parse(raw).recipients
    assert (facts.address, facts.action, facts.status, facts.original_recipient) == (
        "alice.marsh@example.com",
        "failed",
        "5.1.1",
        "alice@example.net",
    )
    assert facts.diagnostic == "550 5.1.1 <alice.marsh@example.com>: Recipient address rejected: User unknown in virtual mailbox table"


def test_raw_utf8_in_a_report_field_is_read_as_utf8() -> None:
    """Raw 8-bit bytes in a DSN field (an SMTPUTF8 address) are read as UTF-8, not as one replacement character per byte."""
    raw = bounce("postfix_userunknown.eml").replace(b"alice.marsh@example.com", "jörg.marsh@example.com".encode())
    (facts,) = parse(raw).recipients
    assert facts.address == "jörg.marsh@example.com"
    assert facts.diagnostic is not None and "<jörg.marsh@example.com>" in facts.diagnostic


def test_dsn_part_wins_over_x_failed_recipients() -> None:
    """When a message has both, the facts come from the DSN part, not from the X-Failed-Recipients text scan."""
    (facts,) = parse(bounce("exim_dsn_unquoted_boundary.eml")).recipients
    # The text scan would have found no reporting MTA; the DSN's generic 5.0.0 gives way to the quoted 5.2.2.
    assert (facts.status, facts.reporting_mta, facts.remote_mta) == ("5.2.2", "mx.example.org", "mx.example.com")


def test_exim_detail_is_read_from_the_report_never_from_the_returned_copy() -> None:
    """Exim's per-address detail comes from the report text; lines in the returned copy below it are never used."""
    raw = bounce("exim_plain_text.eml").replace(b"carol@example.net\n", b"carol@example.net, dave@example.org\n", 1)
    raw += b"  dave@example.org\n    550 5.1.1 this line is inside the returned copy\n"
    bob, carol, dave = parse(raw).recipients
    assert (bob.remote_mta, bob.diagnostic) == (
        "mx.example.com",
        "550 5.1.1 <bob@example.com>: Recipient address rejected: User unknown in local recipient table",
    )
    assert carol.diagnostic == "Unrouteable address"
    assert (dave.address, dave.status, dave.reply_code, dave.diagnostic) == ("dave@example.org", None, None, None)


# --- the failed address: one contract for every detector (RecipientFacts, parse._finish) ---------------------------


@pytest.mark.parametrize(
    ("written", "address"),
    [
        pytest.param("rfc822; <bob@example.com>", "bob@example.com", id="rfc822"),
        pytest.param("RFC822;bob@example.com", "bob@example.com", id="upper-case-no-blank"),
        pytest.param("x400; bob@example.com", "bob@example.com", id="x400"),
        pytest.param("utf-8; jörg@example.org", "jörg@example.org", id="utf-8"),
    ],
)
def test_type_prefix_is_removed_from_an_address(written: str, address: str) -> None:
    """A DSN address type (RFC 3464 §2.3.2, RFC 6533) is not part of the address."""
    assert normalize_address(written) == address


@pytest.mark.parametrize(
    ("written", "address"),
    [
        pytest.param("c=US;a= ;p=Example;o=GW01;dda:SMTP=bob@example.com;", "bob@example.com", id="dda-smtp-with-trailing-separator"),
        pytest.param("c=US;a=ADMD;p=PRMD;o=ORG;dda.type=SMTP;dda.value=bob(a)example.com", "bob@example.com", id="dda-type-value"),
        pytest.param("dda:SMTP=first(u)last(a)example.com;", "first_last@example.com", id="rfc2156-escapes"),
        pytest.param("SMTP:bob@example.com", "bob@example.com", id="proxy-prefix"),
        pytest.param("Bob Brown (SMTP=bob@example.com)", "bob@example.com", id="display-name-with-proxy"),
        pytest.param("IMCEASMTP-bob+2Ebrown+40example+2Ecom@exchange.example.org", "bob.brown@example.com", id="imcea-smtp"),
    ],
)
def test_x400_decoration_gives_the_smtp_address_inside(written: str, address: str) -> None:
    """An X.400 O/R address, an Exchange proxy or an IMCEA encapsulation with an SMTP address is that address."""
    assert normalize_address(written) == address


@pytest.mark.parametrize(
    ("written", "address"),
    [
        pytest.param("@mta2.example.com,@mx.example.com:henry@example.com", "henry@example.com", id="two-hops"),
        pytest.param("<@mx.example.com:henry@example.com>", "henry@example.com", id="bracketed-one-hop"),
        pytest.param("rfc822;@mta2.example.com, @mx.example.com:henry@example.com", "henry@example.com", id="typed-with-blank"),
    ],
)
def test_source_route_gives_the_mailbox_at_its_end(written: str, address: str) -> None:
    """An RFC 5321 §4.1.2 source route (``@a,@b:user@domain``) is reduced to its mailbox."""
    assert normalize_address(written) == address


@pytest.mark.parametrize(
    ("written", "address"),
    [
        pytest.param("ivy%example.net@tcp_local-daemon", "ivy@example.net", id="via-internal-channel"),
        pytest.param("ivy%example.net@relay.example.com", "ivy@example.net", id="via-relay"),
        pytest.param("ivy%example.net%gw.example.org@relay.example.com", "ivy@example.net", id="via-two-relays"),
        pytest.param("100%sure@example.com", "100%sure@example.com", id="percent-without-domain-kept"),
    ],
)
def test_percent_hack_route_gives_the_mailbox_it_names(written: str, address: str) -> None:
    """A %-hack route (``user%domain@relay``, RFC 1123 §5.2.16) is the mailbox user@domain; a % not before a domain stays."""
    assert normalize_address(written) == address


@pytest.mark.parametrize(
    ("address", "usable"),
    [
        pytest.param("bob@example.com", True, id="dotted-domain"),
        pytest.param("bob@[192.0.2.1]", True, id="address-literal"),
        pytest.param("bob@mailhub0", False, id="host-without-domain"),
        pytest.param("grace@ims-ms-daemon", False, id="messaging-server-store-channel"),
        pytest.param("root@localhost", False, id="localhost"),
        pytest.param("root@host.localdomain", False, id="localdomain"),
        pytest.param("bob@exchange.corp.local", False, id="mdns-local"),
        pytest.param("IMCEAEX-_O=EXAMPLE_OU=HQ_CN=RECIPIENTS_CN=BOB@example.com", False, id="imcea-exchange-dn"),
        pytest.param("/O=EXAMPLE/OU=HQ/CN=RECIPIENTS/CN=CAROL", False, id="exchange-dn"),
        pytest.param(normalize_address("x400; c=US;a= ;p=Example;o=HQ;s=White;g=Carol;"), False, id="x400-without-smtp"),
        pytest.param("Carol White", False, id="display-name"),
    ],
)
def test_mta_internal_names_are_no_internet_addresses(address: str, usable: bool) -> None:
    """Only a mailbox at a dotted, public domain (or an address literal) is an Internet address."""
    assert is_internet_address(address) is usable


def _messaging_server(old: bytes = b"", new: bytes = b"") -> bytes:
    return bounce("messagingserver_dsn_internal_final_recipient.eml").replace(old, new)


def test_internal_final_recipient_gives_way_to_the_original_recipient() -> None:
    """Final-Recipient user@ims-ms-daemon is reported under its Original-Recipient, which then differs from nothing."""
    grace = parse(_messaging_server()).recipients[0]
    assert (grace.address, grace.original_recipient, grace.status) == ("grace@example.com", None, "5.2.2")


def test_host_without_domain_gives_way_to_the_original_recipient() -> None:
    """A Final-Recipient at a bare host name (alice.marsh@mailhub0) is reported under its Original-Recipient."""
    raw = bounce("postfix_userunknown.eml").replace(b"Final-Recipient: rfc822; alice.marsh@example.com", b"Final-Recipient: rfc822; alice.marsh@mailhub0")
    (facts,) = parse(raw).recipients
    assert (facts.address, facts.original_recipient) == ("alice@example.net", None)


def test_x400_final_recipient_without_smtp_part_gives_way_to_the_original_recipient() -> None:
    """An X.400 Final-Recipient with no SMTP attribute is reported under its Original-Recipient."""
    raw = bounce("postfix_userunknown.eml").replace(
        b"Final-Recipient: rfc822; alice.marsh@example.com", b"Final-Recipient: x400; c=US;a= ;p=Example;o=HQ;s=Marsh;g=Alice;"
    )
    (facts,) = parse(raw).recipients
    assert (facts.address, facts.status) == ("alice@example.net", "5.1.1")


def test_usable_final_recipient_is_kept_over_an_unusable_original_recipient() -> None:
    """A usable Final-Recipient stays the address; an Original-Recipient without a domain is no original recipient."""
    raw = bounce("postfix_userunknown.eml").replace(b"Original-Recipient: rfc822;alice@example.net", b"Original-Recipient: rfc822;alice")
    (facts,) = parse(raw).recipients
    assert (facts.address, facts.original_recipient) == ("alice.marsh@example.com", None)


def test_original_recipient_is_kept_where_it_differs_from_the_address() -> None:
    """The Original-Recipient is carried beside the address when they differ, and is what we sent to."""
    (facts,) = parse(bounce("postfix_userunknown.eml")).recipients
    assert (facts.address, facts.original_recipient, facts.sent_to) == ("alice.marsh@example.com", "alice@example.net", "alice@example.net")


def test_internal_name_without_another_in_the_report_is_matched_in_the_returned_copy() -> None:
    """With no Original-Recipient, an internal name is replaced by the returned copy's recipient with its local part."""
    raw = _messaging_server(b"Original-recipient: rfc822;grace@example.com\n", b"")
    assert parse(raw).recipients[0].address == "grace@example.com"


def test_internal_name_with_no_other_name_anywhere_is_kept() -> None:
    """An internal name the report names no other way is kept: the failure is real, only its name is poor."""
    raw = _messaging_server(b"Original-recipient: rfc822;grace@example.com\n", b"").replace(b"grace@example.com", b"gina@example.com")
    assert parse(raw).recipients[0].address == "grace@ims-ms-daemon"


def test_exchange_display_name_is_matched_in_the_returned_copy() -> None:
    """An Exchange NDR line naming a recipient by display name is resolved through the returned copy's To:."""
    raw = bounce("exchange2003_x400_recipients.eml").replace(b"/O=EXAMPLE/OU=HQ/CN=RECIPIENTS/CN=CAROL on", b"'Carol White' on")
    assert [r.address for r in parse(raw).recipients] == ["bob@example.net", "carol@example.com", "dave@example.com"]


def test_name_without_an_address_and_no_returned_copy_is_dropped() -> None:
    """An Exchange DN the report resolves nowhere is no recipient: what has no address is not recorded."""
    raw = bounce("exchange2003_x400_recipients.eml")
    raw = raw[: raw.index(b"------_=_NextPart_000_01BF1A8E.3C2D4E10\nContent-Type: message/rfc822")]
    assert [r.address for r in parse(raw).recipients] == ["bob@example.net", "dave@example.com"]


def test_messaging_server_text_report_reads_the_original_address_for_an_internal_one() -> None:
    """Messaging Server's text report: "Recipient address: liam@ims-ms-daemon" gives way to its "Original address"."""
    raw = bounce("messagingserver_text_report_without_dsn.eml").replace(
        b"  Recipient address: liam@example.com\n", b"  Recipient address: liam@ims-ms-daemon\n  Original address: liam@example.com\n"
    )
    report = parse(raw)
    assert report.detector == "messagingserver"
    assert [(r.address, r.original_recipient) for r in report.recipients] == [("liam@example.com", None), ("mia@example.com", None)]


def test_exchange_2000_text_is_recognised_without_exchange_headers() -> None:
    """The Exchange 2000/2003 NDR text is Exchange's own even when a relay dropped X-MimeOLE."""
    raw = bounce("exchange2003_text_cannot_be_reached.eml").replace(b"X-MimeOLE: Produced By Microsoft Exchange V6.5\n", b"")
    report = parse(raw)
    assert (report.detector, [r.address for r in report.recipients]) == ("exchange2003", ["erin@example.net", "frank@example.org"])


def test_exchange_2000_text_forwarded_by_a_person_is_not_an_exchange_report() -> None:
    """Without Exchange's headers, the NDR text counts only from the system (an "Undeliverable" subject or postmaster)."""
    raw = bounce("exchange2003_text_cannot_be_reached.eml").replace(b"X-MimeOLE: Produced By Microsoft Exchange V6.5\n", b"")
    raw = raw.replace(b"Subject: Undeliverable: Your account summary", b"Subject: FW: Undeliverable: Your account summary")
    raw = raw.replace(b'From: "System Administrator" <postmaster@example.net>', b"From: Quinn Baker <quinn@example.net>")
    assert parse(raw).detector != "exchange2003"


# --- the returned original message is never the report --------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "returned_type", "expected"),
    [
        pytest.param("returned_copy_is_a_bounce.eml", b"message/rfc822", ["sybil@example.com"], id="nested-bounce-in-message-rfc822"),
        pytest.param("returned_copy_is_a_bounce.eml", b"text/rfc822-headers", ["sybil@example.com"], id="nested-bounce-in-rfc822-headers"),
        pytest.param("forwarded_bounce.eml", b"text/rfc822-headers", [], id="forwarded-bounce-headers-only"),
    ],
)
def test_returned_message_is_never_taken_for_the_report(name: str, returned_type: bytes, expected: list[str]) -> None:
    """A DSN or X-Failed-Recipients inside a bounce's returned copy, or in headers alone, never yields recipients."""
    raw = bounce(name)
    assert b"X-Failed-Recipients:" in raw and b"message/delivery-status" in raw  # the bait is there
    raw = raw.replace(b"Content-Type: message/rfc822", b"Content-Type: " + returned_type)
    report = parse(raw)
    assert [r.address for r in report.recipients] == expected
    assert report.kind is (ReportKind.BOUNCE if expected else ReportKind.UNRECOGNIZED)


def test_a_dsn_attached_to_a_message_that_is_no_report_is_read() -> None:
    """A DSN forwarded as an attachment (message/rfc822 in a multipart/mixed) yields the attached report's recipients."""
    report = parse(bounce("forwarded_bounce.eml"))
    assert (report.detector, [r.address for r in report.recipients]) == ("forwardeddsn", ["victor@example.com"])
    assert (report.recipients[0].status, report.recipients[0].action) == ("5.1.1", "failed")


def test_a_postfix_letter_inside_a_returned_copy_is_not_the_notice() -> None:
    """Postfix's letter below another MTA's "copy of the message" marker is that bounce's returned copy, never read as the notice."""
    raw = bounce("exim_plain_text.eml") + (
        b"\nThis is the mail system at host mx.example.org.\n\n"
        b"I'm sorry to have to inform you that your message could not\nbe delivered to one or more recipients.\n\n"
        b"<yvonne@example.org>: host mx.example.org[192.0.2.9] said: 550 5.1.1 unknown\n"
    )
    report = parse(raw)
    assert report.detector == "exim" and "yvonne@example.org" not in [r.address for r in report.recipients]


@pytest.mark.parametrize(
    ("head", "body", "kind"),
    [
        pytest.param("Return-Path: <>\nFrom: Jane Doe <jane@example.com>\nAuto-Submitted: auto-replied\n",
                     "Your message to jane@example.com was not delivered to me personally because I have left the company.",
                     ReportKind.AUTOREPLY, id="auto-reply-from-the-null-sender"),
        pytest.param("From: MAILER-DAEMON@filter.example.net\n",
                     "Your message to jane@example.com has not been delivered yet. Please confirm you are a human at https://filter.example.net/c/1",
                     ReportKind.UNRECOGNIZED, id="challenge-worded-as-a-failure"),
        pytest.param("Return-Path: <>\nFrom: MAILER-DAEMON@mx.example.net\nCc: wiki@example.org\n",
                     "Your message to wiki@example.org could not be delivered.",
                     ReportKind.UNRECOGNIZED, id="only-the-notices-own-address"),
    ],
)
def test_one_sentence_notices_never_claim_auto_replies_challenges_or_own_addresses(head: str, body: str, kind: ReportKind) -> None:
    """The one-sentence reader leaves auto-replies and challenges alone and never takes an address of the notice's own headers."""
    raw = f"{head}To: {VERP}\nSubject: Message status\nContent-Type: text/plain\n\n{body}\n".encode()
    report = parse(raw)
    assert report.kind is kind and report.detector != "minimal"


# --- robustness ------------------------------------------------------------------------------------------------------


def _nested_multiparts(depth: int) -> bytes:
    parts = b"".join(b"--b%d\nContent-Type: multipart/mixed; boundary=b%d\n\n" % (i, i + 1) for i in range(depth))
    return b"Content-Type: multipart/mixed; boundary=b0\n\n" + parts


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"\x00" * 512, id="nul-bytes"),
        pytest.param(bytes(range(256)) * 4, id="every-byte-value"),
        pytest.param(random.Random(3464).randbytes(8192), id="binary-noise"),
        pytest.param(b"From: someone@example.com\nSubject: only headers", id="only-headers-no-newline"),
        pytest.param(b"From nobody\n", id="only-an-mbox-from-line"),
        pytest.param(b"this is not a header\nnor: is this\n\n", id="no-header-at-all"),
        pytest.param(b"Content-Type: multipart/report; report-type=delivery-status\n\n--x\nhello\n", id="multipart-without-boundary"),
        pytest.param(
            b'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\n\n--B\n'
            b"Content-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.net\n\nFinal-Recip",
            id="truncated-multipart",
        ),
        pytest.param(
            b'Content-Type: multipart/report; boundary="B"\n\n--B\nContent-Type: message/delivery-status\n'
            b"Content-Transfer-Encoding: base64\n\n!!!not base64 at all===\n--B--\n",
            id="undecodable-base64-status",
        ),
        pytest.param(b"Content-Type: text/plain; charset=\"\xff\xfe\"\n\n\xff\xfe\xfd\n", id="8bit-charset-name"),
        pytest.param(b"Message-ID: <\xff@example.com>\nContent-Type: message/rfc822\n\n\n", id="empty-returned-copy"),
        pytest.param(_nested_multiparts(3000), id="multiparts-nested-3000-deep"),
        pytest.param(b"From: " + b"(" * 3000 + b"\nReturn-Path: <>\nSubject: x\n\nhello\n", id="sender-with-comments-nested-3000-deep"),
        pytest.param(b"From a" + b" " * 100_000 + b"\nFrom b\n", id="mbox-from-line-with-100000-blanks"),
    ],
)
def test_parse_never_raises_on_garbage(raw: bytes) -> None:
    """Bytes that are no bounce at all, however malformed, come back as an unrecognized report instead of an error."""
    report = parse(raw)
    assert (report.kind, report.detector, report.recipients) == (ReportKind.UNRECOGNIZED, None, ())


def test_email_package_defects_do_not_stop_parsing() -> None:
    """A bounce the email package flags as defective (no closing boundary, a header line without a colon) is still read."""
    raw = bounce("broken_mime_truncated.eml")
    defects = [type(d).__name__ for part in read_message(raw).walk() for d in part.defects]
    assert "CloseBoundaryNotFoundDefect" in defects and "MissingHeaderBodySeparatorDefect" in defects
    assert [r.address for r in parse(raw).recipients] == ["sam@example.com"]


def test_codec_that_refuses_replacement_falls_back_to_utf8() -> None:
    """A part labelled with a codec that cannot decode leniently (idna) is read as UTF-8 rather than raising."""
    raw = bounce("exim_plain_text.eml").replace(b"Date: Mon, 03 Jun 2024 17:42:11 +0200\n", b"Content-Type: text/plain; charset=idna\n", 1)
    report = parse(raw)
    assert report.detector == "exim"
    assert [(r.address, r.status, r.reply_code) for r in report.recipients] == [
        ("bob@example.com", "5.1.1", 550),
        ("carol@example.net", None, None),
    ]


# --- Message-ID ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param(bounce("postfix_userunknown.eml"), "<20241112091407.4VbX2c3QJKz9sWd@mail.example.org>", id="bounce-not-returned-copy"),
        pytest.param(bounce("exim_plain_text.eml"), "<E1sE9Qx-0007Lm-2K@relay.example.org>", id="message-id-spelled-message-id"),
        pytest.param(
            bounce("exchange_base64_status.eml"),
            "<b1d4a2c3-5e6f-4a7b-8c9d-0e1f2a3b4c5d@AM0PR01MB0000.eur.example.net>",
            id="folded-onto-next-line",
        ),
        pytest.param(bounce("postfix_delayed_crlf.eml"), "<20250205162031.4YpKq25dT8z9xQm@mail.example.org>", id="crlf"),
        pytest.param(bounce("out_of_office.eml"), "<AM0PR01MB00006A1B2C3D4E5F6A7B8C9D0E1F2@AM0PR01MB0000.eur.example.net>", id="unrecognized-too"),
        pytest.param("Message-ID: <jörg.1@example.org>\n\nhi\n".encode(), "<jörg.1@example.org>", id="raw-utf8"),
        pytest.param(b"From: a@example.com\n\nhi\n", None, id="absent"),
        pytest.param(b"Message-ID:   \n\nhi\n", None, id="blank"),
    ],
)
def test_message_id_is_the_bounce_own_unfolded(raw: bytes, expected: str | None) -> None:
    """The report carries the bounce's own top-level Message-ID on one line, or None when there is none."""
    assert parse(raw).message_id == expected


# --- MediaWiki Extension:BounceHandler's fixtures, read in place (GPL; never copied here) --------------------------


@pytest.mark.parametrize(
    ("name", "address", "status", "reply_code"),
    [
        ("email1", "bob@example.com", None, None),
        ("email2", "bob@example.com", None, None),
        ("emailStatus1", "bounceduserfortest@gmail.com", "5.1.1", 550),
    ],
)
def test_mediawiki_exim_bounces_are_read_from_x_failed_recipients(name: str, address: str, status: str | None, reply_code: int | None) -> None:
    """BounceHandler's Exim fixtures are recognised by X-Failed-Recipients, with the failed address it names."""
    report = parse(shared_file(f"corpus/mediawiki/{name}").read_bytes())
    assert (report.kind, report.detector) == (ReportKind.BOUNCE, "exim")
    assert [(r.address, r.action, r.status, r.reply_code) for r in report.recipients] == [(address, "failed", status, reply_code)]


def test_mediawiki_hotmail_dsn_reports_status_5_5_0() -> None:
    """BounceHandler's Hotmail DSN (boundary folded onto its own line) yields its one recipient with Status 5.5.0."""
    report = parse(shared_file("corpus/mediawiki/emailStatus2").read_bytes())
    assert report.detector == "dsn"
    assert [(r.address, r.action, r.status, r.reply_code) for r in report.recipients] == [
        ("fa2s4f5s6af7ja8shren1a2d4om@outlook.com", "failed", "5.5.0", 550)
    ]


def test_mediawiki_plain_exim_report_without_x_failed_recipients_is_read_from_its_text() -> None:
    """BounceHandler's emailStatus3 (emailStatus1 without X-Failed-Recipients) is read from Exim's address lines."""
    report = parse(shared_file("corpus/mediawiki/emailStatus3").read_bytes())
    assert (report.kind, report.detector) == (ReportKind.BOUNCE, "exim")
    assert [(r.address, r.action, r.status, r.reply_code, r.command) for r in report.recipients] == [
        ("bounceduserfortest@gmail.com", "failed", "5.1.1", 550, "RCPT")
    ]


def test_mediawiki_oracle_delay_warning_without_mime_report_is_read_from_its_text() -> None:
    """BounceHandler's oracle7 has DSN fields but no top-level Content-Type: they are read from the text (4.4.0, delayed)."""
    report = parse(shared_file("corpus/mediawiki/oracle7").read_bytes())
    assert report.detector == "dsn"
    assert [(r.address, r.action, r.status) for r in report.recipients] == [("imperfectlyinformed@gmail.co", "delayed", "4.4.0")]


def test_an_mbox_of_two_bounces_reports_the_recipients_of_both() -> None:
    """Two bounces concatenated as an mbox are both read; the report lists every failed recipient, in order."""
    first = b"From MAILER-DAEMON Sat Nov 21 10:00:00 2026\n" + bounce("postfix_userunknown.eml")
    second = b"From MAILER-DAEMON Sat Nov 21 10:05:00 2026\n" + bounce("sendmail_userunknown.eml")
    report = parse(first + b"\n" + second)
    assert report.detector == "dsn"
    assert [r.address for r in report.recipients] == [r.address for r in parse(first).recipients + parse(second).recipients]
    assert len(report.recipients) == 2


def test_a_from_line_inside_a_body_does_not_split_the_message() -> None:
    """A body line starting with 'From ' (no mbox date, no header after it) leaves the message whole."""
    raw = b"From MAILER-DAEMON Sat Nov 21 10:00:00 2026\n" + bounce("postfix_userunknown.eml").replace(b"\n\n", b"\n\nFrom the desk of the postmaster\n", 1)
    assert [r.address for r in parse(raw).recipients] == [r.address for r in parse(bounce("postfix_userunknown.eml")).recipients]


@pytest.mark.parametrize("fixture", sorted(p.name for p in (FIXTURES / "detectors").glob("*.eml")))
def test_line_ends_do_not_change_what_is_read(fixture: str) -> None:
    """A message with LF, CRLF or CR-only line ends gives the same report."""
    lf = bounce(fixture).replace(b"\r\n", b"\n")
    reports = [parse(raw) for raw in (lf, lf.replace(b"\n", b"\r\n"), lf.replace(b"\n", b"\r"))]
    assert reports[0] == reports[1] == reports[2]


# --- notices that look like others' ---------------------------------------------------------------------------------


def test_a_challenge_written_as_a_dsn_is_a_challenge_but_the_same_report_from_an_mta_is_a_bounce() -> None:
    """Boxbe's DSN-shaped challenge is a challenge; the same delivery-status part from any other sender stays the DSN detector's."""
    challenge = bounce("boxbe_challenge_dressed_as_dsn.eml")
    assert (parse(challenge).detector, parse(challenge).kind) == ("boxbe", ReportKind.CHALLENGE)
    from_an_mta = challenge.replace(b"From: Boxbe <notify@boxbe.example.com>", b"From: Mail Delivery System <MAILER-DAEMON@mx.example.net>")
    from_an_mta = from_an_mta.replace(b"notify@boxbe.example.com>", b"mx.example.net>")
    report = parse(from_an_mta)
    assert (report.detector, report.kind) == ("dsn", ReportKind.BOUNCE)
    assert [(r.address, r.action, r.status) for r in report.recipients] == [("jane@example.net", "delayed", "4.7.0")]


@pytest.mark.parametrize("fixture", ["qmail_remote_two_recipients.eml", "sendmail_plain_fatal_errors.eml", "exim_plain_text.eml", "gmail_legacy_delayed_state.eml"])
def test_a_bounce_relayed_through_messagelabs_is_read_by_its_own_detector(fixture: str) -> None:
    """Email Security.cloud stamps X-Msg-Ref on all mail it relays; without its own banner a bounce is not taken for its notice."""
    raw = bounce(fixture)
    stamped = b"X-Msg-Ref: server-4.tower-21.messagelabs.com!1729000000!1!1\n" + raw
    assert parse(stamped).detector == parse(raw).detector != "messagelabs"
    assert parse(stamped).recipients == parse(raw).recipients


def test_intermail_needs_its_subject_and_sign_off() -> None:
    """InterMail's text under another subject is left to the other detectors."""
    raw = bounce("intermail_rejected_recipient_reasons.eml").replace(b"Subject: Mail System Error - Returned Mail", b"Subject: Returned mail")
    assert parse(raw).detector != "intermail"


# --- bounded output: max_recipients and long diagnostics ---------------------------------------------------------------


def _dsn_naming(addresses: list[str], diagnostic: str = "smtp; 550 5.1.1 user unknown") -> bytes:
    """A DSN with one delivery-status block per address, in order."""
    blocks = "".join(f"Final-Recipient: rfc822; {a}\nAction: failed\nStatus: 5.1.1\nDiagnostic-Code: {diagnostic}\n\n" for a in addresses)
    return (
        "From: MAILER-DAEMON@example.com\nSubject: Undelivered Mail Returned to Sender\nMIME-Version: 1.0\n"
        "Content-Type: multipart/report; report-type=delivery-status; boundary=B\n\n"
        "--B\nContent-Type: text/plain\n\nDelivery failed.\n\n"
        f"--B\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.com\n\n{blocks}--B--\n"
    ).encode()


def test_recipients_beyond_max_recipients_are_summed_up_in_one_record() -> None:
    """With more recipients than max_recipients, the first ones are reported and one record names the next and counts the rest."""
    addresses = [f"user{i}@example.org" for i in range(5)]
    everyone = parse(_dsn_naming(addresses)).recipients
    report = parse(_dsn_naming(addresses), max_recipients=3)
    assert report.recipients[:3] == everyone[:3]
    assert report.recipients[3] == RecipientFacts(
        address="user3@example.org", action="failed", diagnostic="2 more recipients not reported (parse.max_recipients = 3)"
    )
    assert len(report.recipients) == 4


def test_summary_record_is_never_a_hard_bounce() -> None:
    """The record standing for unreported recipients states no code: classify cannot count it as a hard failure."""
    (*_, summary) = parse(_dsn_naming([f"user{i}@example.org" for i in range(3)]), max_recipients=1).recipients
    assert classify(summary, ReportKind.BOUNCE).severity is not Severity.HARD


def test_recipients_within_max_recipients_get_no_summary_and_duplicates_do_not_count() -> None:
    """A recipient named twice counts once toward max_recipients; at the limit exactly, nothing is summed up."""
    report = parse(_dsn_naming(["a@example.org", "b@example.org", "A@example.org"]), max_recipients=2)
    assert [r.address for r in report.recipients] == ["a@example.org", "b@example.org"]


def test_default_max_recipients_is_documented_and_bounds_a_huge_report() -> None:
    """parse() keeps MAX_RECIPIENTS recipients by default, and one record for the rest."""
    report = parse(_dsn_naming([f"user{i}@example.org" for i in range(MAX_RECIPIENTS + 5)]))
    assert len(report.recipients) == MAX_RECIPIENTS + 1
    assert report.recipients[-1].diagnostic == f"5 more recipients not reported (parse.max_recipients = {MAX_RECIPIENTS})"


def test_max_recipients_below_one_is_refused() -> None:
    """max_recipients = 0 is a programming error (the configuration refuses it too), not an empty report."""
    with pytest.raises(ValueError, match="max_recipients"):
        parse(_dsn_naming(["a@example.org"]), max_recipients=0)


def test_a_long_diagnostic_is_cut_to_max_diagnostic() -> None:
    """A recipient's diagnostic is kept up to MAX_DIAGNOSTIC characters: a report's size does not grow with its text."""
    (facts,) = parse(_dsn_naming(["a@example.org"], diagnostic="smtp; 550 5.1.1 " + "x" * 10 * MAX_DIAGNOSTIC)).recipients
    assert facts.diagnostic == ("550 5.1.1 " + "x" * 10 * MAX_DIAGNOSTIC)[:MAX_DIAGNOSTIC]
    assert (facts.status, facts.reply_code) == ("5.1.1", 550)


def test_the_same_recipient_in_two_bounces_of_an_mbox_is_reported_once() -> None:
    """Bounces delivered together as an mbox form one report: a recipient (and action) named in two of them is listed once."""
    one = b"From MAILER-DAEMON Sat Nov 21 10:00:00 2026\n" + bounce("postfix_userunknown.eml")
    assert parse(one + b"\n" + one).recipients == parse(one).recipients
