"""The one error tree of verpd.

Lower layers raise these domain errors; only the edges (``lmtp``, ``cli``) turn
them into reply codes or exit statuses.

    VerpdError
    ├── ConfigError            the configuration file is unusable (lists every problem)
    ├── VerpError              a recipient is not a valid VERP address we signed
    │     (its ``kind`` says why: not ours, bad signature, expired, from the future)
    ├── MessageTooBig          a message exceeds ``server.max_message_size``
    ├── StoreError             the database could not durably record something
    │     └── WriteBusy        the write path stayed busy past its bound (server.write_wait)
    └── StartupError           the daemon cannot start: names the thing and the fix
          │                    (a listener that cannot bind, a database directory that
          │                    cannot be created), and the sysexits status to exit with
          └── SchemaError      the database schema is not the one this verpd needs
                               (outdated and database.auto_upgrade is off, a newer verpd
                               wrote it, or verpd did not make its tables): 78
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class VerpdError(Exception):
    """Base class of every error verpd raises on purpose."""


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with a configuration file: where, what, and how to fix it."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ConfigError(VerpdError):
    """The configuration cannot be used; ``problems`` lists every reason."""

    def __init__(self, source: str, problems: list[ConfigProblem]) -> None:
        self.source = source
        self.problems = tuple(problems)
        lines = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(f"invalid configuration {source}:\n{lines}")


class VerpErrorKind(enum.Enum):
    """Why a recipient address was not accepted as one of our VERP addresses."""

    NOT_OURS = "not_ours"  # wrong domain, wrong prefix, or not shaped like a VERP address
    BAD_SIGNATURE = "bad_signature"  # shaped right, but no configured secret signed it
    EXPIRED = "expired"  # signed by us, but older than verp.accept_time
    FUTURE = "future"  # signed by us, but sent later than now plus the allowed clock skew


class VerpError(VerpdError):
    """A recipient address is not a valid VERP address of ours."""

    def __init__(self, kind: VerpErrorKind, detail: str) -> None:
        self.kind = kind
        self.detail = detail
        super().__init__(f"{kind.value}: {detail}")


class MessageTooBig(VerpdError):
    """A message is larger than the configured maximum."""

    def __init__(self, size: int, limit: int) -> None:
        self.size = size
        self.limit = limit
        super().__init__(f"message of {size} bytes exceeds the limit of {limit} bytes")


class StoreError(VerpdError):
    """The database could not record something durably; the sender should retry."""


class WriteBusy(StoreError):
    """A write waited longer than its bound for its turn: nothing was written, the sender should retry soon."""


class StartupError(VerpdError):
    """Something the daemon needs is unavailable; the message names it and how to fix it.

    ``status`` is the ``sysexits.h`` exit status: 69 EX_UNAVAILABLE (a port in use),
    73 EX_CANTCREAT (a file or directory that cannot be created), 77 EX_NOPERM,
    78 EX_CONFIG (the configuration points somewhere unusable).
    """

    def __init__(self, message: str, status: int = 69) -> None:
        self.status = status
        super().__init__(message)


class SchemaError(StartupError):
    """The database schema is outdated (and ``database.auto_upgrade`` is off), was written by a newer
    verpd, or holds tables verpd did not make. Exit status 78 (EX_CONFIG): restarting cannot help
    (systemd does not restart on 78); the operator runs ``verpd db upgrade``, sets ``auto_upgrade``,
    runs the newer verpd, or points ``database.url`` elsewhere."""

    def __init__(self, message: str) -> None:
        super().__init__(message, status=78)
