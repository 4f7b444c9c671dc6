"""The log audit: no secret, raw message or diagnostic text in any log line of the whole test run.

A pytest plugin (``tests/conftest.py`` loads it). From the start of the session it sees
every log line verpd emits, wherever it goes:

* in-process structlog output, after every processor (``PrintLogger``, as ``verpd.log``
  configures it and as structlog's defaults print it), and the event dicts that
  ``structlog.testing.capture_logs`` keeps instead of printing;
* standard-library ``logging`` records at the level the root logger lets through;
* the JSON lines of ``verpd serve`` subprocesses (:class:`tests.daemon_process.Process`
  feeds them here) and the stderr of the CLI subprocesses of ``test_cli_commands``.

The logs of Postfix, Exim and PostgreSQL in ``tests/integration`` are theirs, not ours,
and never pass through these hooks.

Each line is checked against needles: every secret the run configures (each
:class:`verpd.config.Secret` made in-process, the secrets and tokens of the config files
written for subprocesses), raw, hex and base64-encoded; sentences of the bodies of the
test messages (``tests/messages.py``), which only a raw message can carry; and the
diagnostic text of the test DSNs. A finding fails the run: ``pytest_sessionfinish`` sets
the exit status and the terminal summary lists the lines, the needle masked so the
report does not repeat the leak.

Secrets shorter than :data:`MIN_SECRET` bytes (the two-byte keys of the key-id tests) are
not needles: they would match by chance.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import tomllib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

MIN_SECRET = 12
EXCERPT = 300  # characters of an offending line shown around the match

# Only a raw message carries these: sentences of the bodies tests/messages.py builds, and a
# marker the security tests put in theirs (test_log_audit_needles_occur_in_the_test_messages
# keeps the list true to tests/messages.py).
RAW_MARKER = "RAW-BODY-MARKER-5d1e0c"
BODY_MARKERS = (
    "This is the mail system at host",  # dsn()
    "Please stop sending me these",  # not_a_bounce()
    "A user marked your message as spam",  # complaint()
    "I am away until Monday",  # auto_reply()
    RAW_MARKER,
)
# The diagnostic text of dsn(): what the remote server said, which is stored, never logged.
DIAGNOSTIC_MARKERS = ("Recipient address rejected",)
# The secret of tests/conftest.py's configurations (also in every config file written for a subprocess).
STATIC_SECRETS = ("test-secret-not-for-production-0123456789",)


@dataclass(frozen=True)
class Finding:
    source: str  # structlog, capture_logs, logging, daemon, cli
    test: str  # the test that was running (node id), or "" outside any test
    what: str  # which needle matched, e.g. "secret #1 (base64)"
    excerpt: str  # the line around the match, the needle masked


class LogAudit:
    """Needles, and the findings of the lines fed to it."""

    def __init__(self) -> None:
        self._needles: dict[str, str] = {}  # text -> what it is
        self._pattern: re.Pattern[str] | None = None
        self._secrets = 0
        self._lock = threading.Lock()
        self.findings: list[Finding] = []
        self.lines = 0
        self.test = ""

    def secret(self, value: bytes | str) -> None:
        """Watch for ``value`` and its common encodings (hex, base64, JSON-escaped)."""
        raw = value.encode("utf-8", "surrogateescape") if isinstance(value, str) else value
        if len(raw) < MIN_SECRET:
            return
        text = raw.decode("utf-8", "backslashreplace")
        if text in self._needles:
            return
        self._secrets += 1
        label = f"secret #{self._secrets}"
        forms = [
            (text, "raw"),
            (json.dumps(text)[1:-1], "JSON-escaped"),
            (repr(raw)[2:-1], "bytes repr"),
            (raw.hex(), "hex"),
            (raw.hex().upper(), "hex"),
            (base64.b64encode(raw).decode(), "base64"),
            (base64.b64encode(raw).decode().rstrip("="), "base64"),
            (base64.urlsafe_b64encode(raw).decode().rstrip("="), "base64url"),
        ]
        for form, encoding in forms:  # a form two encodings share keeps the first name
            self._add(form, f"{label} ({encoding})")

    def marker(self, text: str, what: str) -> None:
        """Watch for ``text`` (a sentence only a raw message or a diagnostic carries)."""
        self._add(text, what)

    def _add(self, text: str, what: str) -> None:
        with self._lock:
            if text not in self._needles:
                self._needles[text] = what
                self._pattern = None

    def feed(self, source: str, line: str) -> None:
        """Check one log line."""
        pattern = self._pattern
        if pattern is None:
            with self._lock:
                alternatives = sorted(self._needles, key=len, reverse=True)
                pattern = self._pattern = re.compile("|".join(map(re.escape, alternatives)) or r"(?!)")
        self.lines += 1
        match = pattern.search(line)
        if match is None:
            return
        masked = pattern.sub(lambda m: f"«{self._needles[m.group(0)]}»", line)
        start = max(0, match.start() - EXCERPT // 2)
        self.findings.append(Finding(source, self.test, self._needles[match.group(0)], masked[start : start + EXCERPT]))


def standard() -> LogAudit:
    """An audit watching for the static secrets, the body sentences and the diagnostic text."""
    audit = LogAudit()
    for value in STATIC_SECRETS:
        audit.secret(value)
    for text in BODY_MARKERS:
        audit.marker(text, "raw message body")
    for text in DIAGNOSTIC_MARKERS:
        audit.marker(text, "diagnostic text")
    return audit


# --- where the lines come from -------------------------------------------------------------

SESSION = standard()
_active: list[LogAudit] = []  # empty until install(): benchmarks and scripts that import the helpers pay nothing


def feed(source: str, line: str) -> None:
    """Hand one log line to the audit in force (a no-op outside a test run)."""
    if _active:
        _active[-1].feed(source, line)


def secret(value: bytes | str) -> None:
    if _active:
        for audit in {id(a): a for a in (SESSION, _active[-1])}.values():
            audit.secret(value)


def register_config(data: Mapping[str, Any]) -> None:
    """Watch for the secrets and tokens of a configuration (a TOML-shaped dict) a subprocess will read."""
    for key, value in data.items():
        if isinstance(value, Mapping):
            register_config(value)
        elif key in ("secret", "token") and isinstance(value, str):
            secret(value)
        elif key == "secrets" and isinstance(value, list):
            for item in value:
                if isinstance(item, str):
                    secret(item)


def register_config_file(path: Path) -> None:
    try:
        register_config(tomllib.loads(path.read_text("utf-8")))
    except (OSError, ValueError):
        pass  # a test of a broken file: it configures nothing


@contextmanager
def redirected(audit: LogAudit) -> Iterator[LogAudit]:
    """Send every line to ``audit`` instead of the session's (to prove the audit on a planted leak)."""
    _active.append(audit)
    try:
        yield audit
    finally:
        _active.remove(audit)


class _Handler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # a record whose arguments do not fit its format: audit the parts
            text = f"{record.msg!r} {record.args!r}"
        if record.exc_info and not record.exc_text:
            text += "\n" + logging.Formatter().formatException(record.exc_info)
        elif record.exc_text:
            text += "\n" + record.exc_text
        feed("logging", text)


def _patch(cls: type, name: str, wrap: Callable[[Any], Any], undo: list[Callable[[], None]]) -> None:
    original = cls.__dict__[name]
    setattr(cls, name, wrap(original))
    undo.append(lambda: setattr(cls, name, original))


def install() -> Callable[[], None]:
    """Start auditing the session (idempotent per call); returns the function that stops it."""
    import structlog
    import structlog.testing

    from verpd.config import Secret

    undo: list[Callable[[], None]] = []
    _active.append(SESSION)
    undo.append(lambda: _active.remove(SESSION))

    def printed(original: Callable[..., None]) -> Callable[..., None]:
        def msg(self: Any, message: str) -> None:
            feed("structlog", message if isinstance(message, str) else repr(message))
            original(self, message)

        return msg

    # PrintLogger's level methods are aliases of one function: patch every name.
    for name in ("msg", "log", "debug", "info", "warn", "warning", "fatal", "failure", "err", "error", "critical", "exception"):
        if name in structlog.PrintLogger.__dict__:
            _patch(structlog.PrintLogger, name, printed, undo)

    def captured(original: Callable[..., Any]) -> Callable[..., Any]:
        def call(self: Any, logger: Any, method: str, event: Any) -> Any:
            feed("capture_logs", json.dumps(event, default=repr, ensure_ascii=False))
            return original(self, logger, method, event)

        return call

    _patch(structlog.testing.LogCapture, "__call__", captured, undo)

    def made(original: Callable[..., None]) -> Callable[..., None]:
        def init(self: Any, *args: Any, **kwargs: Any) -> None:
            original(self, *args, **kwargs)
            secret(self.value)

        return init

    _patch(Secret, "__init__", made, undo)

    handler = _Handler()
    root = logging.getLogger()
    root.addHandler(handler)
    undo.append(lambda: root.removeHandler(handler))

    def stop() -> None:
        for step in reversed(undo):
            step()

    return stop


# --- the plugin ------------------------------------------------------------------------------

_stop: list[Callable[[], None]] = []


def pytest_configure(config: pytest.Config) -> None:
    if not _stop:
        _stop.append(install())


def pytest_unconfigure(config: pytest.Config) -> None:
    while _stop:
        _stop.pop()()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    SESSION.test = item.nodeid
    try:
        return (yield)
    finally:
        SESSION.test = ""


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if SESSION.findings and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    findings = SESSION.findings
    if not findings:
        terminalreporter.write_line(f"log audit: {SESSION.lines} log lines, no secret, raw message or diagnostic text")
        return
    terminalreporter.section("log audit: secrets or raw message text in log lines", red=True)
    for finding in findings[:20]:
        terminalreporter.write_line(f"{finding.what} in a {finding.source} line of {finding.test or '(no test)'}:")
        terminalreporter.write_line(f"    {finding.excerpt}")
    if len(findings) > 20:
        terminalreporter.write_line(f"... and {len(findings) - 20} more")
    terminalreporter.write_line(f"log audit FAILED: {len(findings)} of {SESSION.lines} log lines leak (see above)", red=True)
