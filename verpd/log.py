"""Structured logging: one JSON object per line on stderr, named events with fields.

Events are names (``rcpt.rejected``, ``bounce.recorded``, ``subject.suppressed``),
never formatted prose; a raw message or a secret is never a field. Libraries that
use the standard ``logging`` module (aiosmtpd) are routed into the same stream as
``library.log`` events at warning level and above.

Mail addresses follow ``log.addresses`` in every field of every line, wherever they
occur (an address inside a diagnostic too): ``pseudonym`` (the default) writes
``h:3fa9c2d1@example.com``, a keyed hash of the whole address (the same address
always gives the same form; ``verpd log-key ADDRESS`` prints it to grep for) and
its domain; ``domain`` writes ``*@example.com``; ``full`` leaves addresses alone.
The key derives from the first VERP secret, so the forms change when it rotates.

Events a client can cause at will (a rejected recipient, an error reply, a refused
or failed connection, a library's warning) are rate-limited (:data:`RATE_LIMITED`):
of the events with the same name, level and *kind* fields (``rcpt.rejected`` with the
same reason from the same client), at most :data:`RATE_BURST` are written per
:data:`RATE_INTERVAL` seconds; the rest are counted, and one ``log.suppressed`` line
with the event's name, its kind fields and the count follows when the interval is
over (:func:`flush_suppressed`, which the daemon calls every second) or comes before
the next line of that kind, whichever is first.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import sys
import threading
import time
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any, TextIO

import structlog

from verpd.config import LogConfig

# An address as it appears in text: a local part (dot-atom-ish, or quoted), "@", a domain (labels,
# or an address literal). SMTPUTF8 (RFC 6531) allows any non-ASCII character in both, so those
# count as address characters (Unicode spaces end an address); otherwise "jöhn@example.com"
# would leak "jö" and "user@münchen.de" would not be hidden at all. The local part starts
# where its run of characters starts (the look-behind) and is taken whole (possessive), so a
# long run is neither half-shown nor scanned again from each of its characters.
_NON_ASCII = "\u0080-\u0084\u0086-\u009f\u00a1-\u167f\u1681-\u1fff\u200b-\u2027\u202a-\u202e\u2030-\u205e\u2060-\u2fff\u3001-\U0010ffff"
_ATEXT = rf"A-Za-z0-9.!#$%&'*+/=?^_`{{|}}~\-{_NON_ASCII}"
_LABEL = rf"[A-Za-z0-9{_NON_ASCII}](?:[A-Za-z0-9{_NON_ASCII}-]{{0,61}}[A-Za-z0-9{_NON_ASCII}])?"
_TOP_LABEL = rf"(?![0-9]+(?![A-Za-z0-9{_NON_ASCII}-])){_LABEL}"  # not all digits: "user@127.0.0.1:5432" in a URL is no address
_ADDRESS = re.compile(
    rf"(?<![{_ATEXT}])(?:[{_ATEXT}]++|\"(?:[^\"\\\r\n]|\\.){{1,256}}\")"
    rf"@((?:{_LABEL}\.)+{_TOP_LABEL}|\[[^\[\]\s]{{1,64}}\])"
)
_PSEUDONYM_LABEL = b"verpd log pseudonym\x00"


def pseudonym_key(secret: bytes) -> bytes:
    """The key of the log pseudonyms, derived from a VERP secret (never the secret itself)."""
    return hmac.new(secret, _PSEUDONYM_LABEL, hashlib.sha256).digest()


def pseudonym(address: str, key: bytes) -> str:
    """``h:<8 hex>@domain``: the form ``address`` takes in the logs under ``log.addresses = "pseudonym"``."""
    local, _, domain = address.strip().rpartition("@")
    digest = hmac.new(key, address.strip().casefold().encode("utf-8", "surrogateescape"), hashlib.sha256).hexdigest()[:8]
    return f"h:{digest}@{domain.lower()}" if local else f"h:{digest}"


def address_filter(mode: str, key: bytes) -> Callable[[Any], Any]:
    """A function that rewrites every address in a value (strings, lists, dicts) as ``mode`` says."""
    if mode == "full":
        return lambda value: value
    if mode == "domain":
        def replace(m: re.Match[str]) -> str:
            return f"*@{m.group(1).lower()}"
    else:
        def replace(m: re.Match[str]) -> str:
            return pseudonym(m.group(0), key)

    def rewrite(value: Any) -> Any:
        if isinstance(value, str):
            return _ADDRESS.sub(replace, value) if "@" in value else value
        if isinstance(value, list | tuple):
            return [rewrite(v) for v in value]
        if isinstance(value, dict):
            return {k: rewrite(v) for k, v in value.items()}
        return value

    return rewrite


def _addresses_processor(rewrite: Callable[[Any], Any]) -> Callable[[Any, str, MutableMapping[str, Any]], MutableMapping[str, Any]]:
    def process(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        for name, value in event.items():
            event[name] = rewrite(value)
        return event

    return process

# Events a client can cause as often as it likes, and the fields that make two of them the
# same kind. A field whose name starts with "_" only keys the limit and is not written.
RATE_LIMITED: Mapping[str, tuple[str, ...]] = {
    "rcpt.rejected": ("reason", "client"),
    "rcpt.too_many": ("client",),
    "data.engine_reply": ("reply", "client"),
    "session.error": ("error",),
    "session.limited": ("limit", "client"),
    "server.accept_failed": ("error",),
    "library.log": ("logger", "_template"),
}
RATE_BURST = 10  # lines of one kind written per interval
RATE_INTERVAL = 10.0  # seconds


@dataclass
class _Window:
    start: float
    level: str
    fields: dict[str, Any]
    written: int = 0
    suppressed: int = 0


class RateLimiter:
    """A structlog processor: at most ``burst`` events of one kind per ``interval``, then a count.

    ``limited`` maps an event name to its kind fields; other events pass untouched.
    """

    MAX_KINDS = 10_000  # windows kept before ended ones are summarised early (memory stays bounded)

    def __init__(self, limited: Mapping[str, tuple[str, ...]] = RATE_LIMITED, burst: int = RATE_BURST,
                 interval: float = RATE_INTERVAL, clock: Callable[[], float] = time.monotonic) -> None:
        self.limited = limited
        self.burst = burst
        self.interval = interval
        self.clock = clock
        self._windows: dict[tuple[Any, ...], _Window] = {}
        self._lock = threading.Lock()

    def __call__(self, _logger: Any, method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        name = event.get("event")
        kind = self.limited.get(name) if isinstance(name, str) else None
        if kind is None:
            return event
        fields = {f: event.get(f) for f in kind}
        for f in kind:
            if f.startswith("_"):
                event.pop(f, None)
        level = str(event.get("level", method))
        key = (name, level, *(repr(v) for v in fields.values()))
        now = self.clock()
        ended: list[tuple[str, _Window]] = []
        with self._lock:
            window = self._windows.get(key)
            if window is None or now - window.start >= self.interval:
                if window is not None and window.suppressed:
                    ended.append((name, window))
                window = self._windows[key] = _Window(now, level, fields)
                if len(self._windows) > self.MAX_KINDS:
                    ended += self._take_ended(now)
            drop = window.written >= self.burst
            if drop:
                window.suppressed += 1
            else:
                window.written += 1
        _write_summaries(ended)
        if drop:
            raise structlog.DropEvent
        return event

    def flush(self, *, everything: bool = False) -> None:
        """Write the ``log.suppressed`` lines of intervals that are over (``everything``: of all)."""
        with self._lock:
            ended = self._take_ended(None if everything else self.clock())
        _write_summaries(ended)

    def _take_ended(self, now: float | None) -> list[tuple[str, _Window]]:
        ended = []
        for key, window in list(self._windows.items()):
            if now is None or now - window.start >= self.interval:
                del self._windows[key]
                if window.suppressed:
                    ended.append((key[0], window))
        return ended


def _write_summaries(ended: list[tuple[str, _Window]]) -> None:
    logger = structlog.get_logger("verpd.log")
    for name, window in ended:
        visible = {f: v for f, v in window.fields.items() if not f.startswith("_") and v is not None}
        getattr(logger, window.level if window.level in _LEVELS else "warning")(
            "log.suppressed", suppressed=name, count=window.suppressed, **visible
        )


_limiter: RateLimiter | None = None


def flush_suppressed(*, everything: bool = False) -> None:
    """Write the pending ``log.suppressed`` lines (see :class:`RateLimiter`); a no-op unless :func:`configure` set it up."""
    if _limiter is not None and _limiter in structlog.get_config()["processors"]:
        _limiter.flush(everything=everything)


_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


def configure(config: LogConfig, stream: TextIO | None = None, *, key: bytes = b"", clock: Callable[[], float] = time.monotonic) -> None:
    """Set up structlog (and the stdlib bridge) for the whole process; ``key``: :func:`pseudonym_key`;
    ``clock``: the rate limiter's (monotonic seconds)."""
    global _limiter
    renderer: Any = structlog.processors.JSONRenderer() if config.format == "json" else structlog.dev.ConsoleRenderer(colors=False)
    _limiter = RateLimiter(clock=clock)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            _limiter,  # before the time stamp and the rendering: a dropped line costs little
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            _addresses_processor(address_filter(config.addresses, key)),  # last before rendering: tracebacks too
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[config.level]),
        logger_factory=structlog.PrintLoggerFactory(stream or sys.stderr),
        cache_logger_on_first_use=False,
    )
    root = logging.getLogger()
    root.handlers[:] = [_Bridge()]
    root.setLevel(logging.WARNING)


class _Bridge(logging.Handler):
    """Forwards standard-library log records into structlog."""

    def emit(self, record: logging.LogRecord) -> None:
        level = record.levelname.lower() if record.levelname.lower() in _LEVELS else "warning"
        template = record.msg if isinstance(record.msg, str) else type(record.msg).__name__
        getattr(structlog.get_logger("verpd.library"), level)(
            "library.log", logger=record.name, message=record.getMessage(), _template=template.partition("\n")[0]
        )
