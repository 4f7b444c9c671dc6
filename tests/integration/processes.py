"""Helpers the private MTA instances share: their directories and process groups."""

from __future__ import annotations

import contextlib
import os
import signal
import shutil
import stat
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path


@contextlib.contextmanager
def instance_directory(prefix: str) -> Iterator[Path]:
    """A new directory for an MTA instance in the system's temporary directory; removed afterwards.

    Not under pytest's ``tmp_path``: every pytest session that starts on the machine
    makes its ``pytest-of-<user>`` directory 0700 again, and an instance's
    unprivileged daemons below it would then lose their way to their own files.
    """
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def make_searchable(directory: Path) -> None:
    """Give ``directory`` and its ancestors the "search by others" bit (never "read").

    Mail daemons switch to an unprivileged user and then open files in their spool
    and data directories by absolute path, so every directory above those must be
    searchable by that user; pytest makes its temporary directories 0700.
    """
    for path in (directory, *directory.parents):
        mode = path.stat().st_mode
        if not mode & stat.S_IXOTH:
            path.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)


def running_in_group(pgid: int) -> list[int]:
    """PIDs of the processes in process group ``pgid``, zombies excluded.

    Zombies are left out because whoever inherits the orphaned daemon processes
    (PID 1 in a container) may be slow to reap them, or never do.
    """
    pids = []
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            # "pid (comm) state ppid pgrp ...": comm may contain spaces and ")".
            state, _ppid, pgrp = stat_file.read_text().rpartition(")")[2].split()[:3]
        except OSError:  # the process ended while we looked
            continue
        if int(pgrp) == pgid and state != "Z":
            pids.append(int(stat_file.parent.name))
    return pids


def wait_until_gone(pgid: int, timeout: float) -> bool:
    """Wait up to ``timeout`` seconds for process group ``pgid`` to end; True if it did."""
    deadline = time.monotonic() + timeout
    while running_in_group(pgid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def smtp_submit(port: int, *, mail_from: str, rcpt_to: list[str], message: bytes, timeout: float) -> bytes:
    """Submit ``message`` over SMTP to 127.0.0.1:``port``; the server's reply to the data, or the matching
    ``smtplib`` exception (carrying the reply) if the sender, a recipient or the message is refused.

    ``mail_from=""`` sends the null sender ``MAIL FROM:<>``.
    """
    import smtplib

    with smtplib.SMTP("127.0.0.1", port, "localhost", timeout=timeout) as smtp:
        smtp.ehlo()
        code, reply = smtp.mail(mail_from)
        if code != 250:
            raise smtplib.SMTPSenderRefused(code, reply, mail_from)
        for recipient in rcpt_to:
            code, reply = smtp.rcpt(recipient)
            if code not in (250, 251):
                raise smtplib.SMTPRecipientsRefused({recipient: (code, reply)})
        code, reply = smtp.data(message)
        if code != 250:
            raise smtplib.SMTPDataError(code, reply)
    return reply


def end_group(leader: int, timeout: float, what: str, *, reap: Callable[[], object] | None = None) -> None:
    """SIGTERM the process ``leader`` (which leads its own group), then SIGKILL whatever is left of its group
    after ``timeout`` seconds; RuntimeError naming ``what`` if anything survives even that. ``reap`` waits for
    the leader if it is our child (so it does not linger as a zombie)."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(leader, signal.SIGTERM)
    if reap is not None:
        with contextlib.suppress(Exception):
            reap()
    if not wait_until_gone(leader, timeout):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(leader, signal.SIGKILL)
        if not wait_until_gone(leader, timeout):
            raise RuntimeError(f"{what} processes {running_in_group(leader)} survived SIGKILL")
