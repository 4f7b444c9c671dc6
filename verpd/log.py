"""Structured logging: one JSON object per line on stderr, named events with fields.

Events are names (``rcpt.rejected``, ``bounce.recorded``, ``subject.suppressed``),
never formatted prose; a raw message or a secret is never a field. Libraries that
use the standard ``logging`` module (aiosmtpd) are routed into the same stream as
``library.log`` events at warning level and above.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog

from verpd.config import LogConfig

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


def configure(config: LogConfig, stream: TextIO | None = None) -> None:
    """Set up structlog (and the stdlib bridge) for the whole process."""
    renderer: Any = structlog.processors.JSONRenderer() if config.format == "json" else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
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
        getattr(structlog.get_logger("verpd.library"), level)("library.log", logger=record.name, message=record.getMessage())
