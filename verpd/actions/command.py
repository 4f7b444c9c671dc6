"""The command action: run a program with each subscribed event as JSON on its stdin.

The program is ``command.argv``, executed directly (no shell, so no quoting
surprises), in a process group of its own, with a minimal environment: ``PATH``,
``LANG=C.UTF-8`` and ``VERPD_EVENT``, ``VERPD_EVENT_ID``, ``VERPD_TENANT``,
``VERPD_USER`` (empty for ``sender.trouble``). Its stdin is :meth:`Event.to_json`
and a newline. Exit status 0 means done; anything else, or running longer than
``command.timeout`` (then the whole group is killed), raises
:class:`~verpd.actions.ActionError` and the outbox runs it again later with the same
``VERPD_EVENT_ID``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable

import structlog

from verpd.actions import ActionError
from verpd.config import CommandConfig
from verpd.events import Event

__all__ = ["CommandRunner"]

log = structlog.get_logger("verpd.actions.command")

DEFAULT_PATH = "/usr/bin:/bin"  # when verpd itself runs without PATH
MAX_OUTPUT = 64 * 1024  # bytes kept of each of stdout and stderr (the last ones); the rest is read and dropped
STDERR_CHARS = 500  # of the end of stderr quoted in an error
KILL_GRACE = 5.0  # seconds to wait for the pipes to close after the group was killed


class CommandRunner:
    """Runs the command of an event's tenant, once per event, and says whether it succeeded."""

    def __init__(self, config_for: Callable[[str], CommandConfig | None]) -> None:
        self._config_for = config_for  # tenant -> its command, or None

    async def send(self, event: Event) -> None:
        """Run the tenant's command with ``event`` on stdin if it subscribes to it; raise ActionError unless it exits 0 in time."""
        config = self._config_for(event.tenant)
        if config is None or event.type not in config.events:
            log.debug("command.skipped", id=event.id, event_type=event.type.value, tenant=event.tenant,
                      why="no command configured" if config is None else "event not subscribed")
            return
        program = config.argv[0]
        env = _environment(event)
        started = time.monotonic()
        try:
            process = await asyncio.create_subprocess_exec(
                *config.argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=env,
                start_new_session=True,  # its own process group: a timeout kills what it started too
            )
        except FileNotFoundError:
            raise ActionError(
                f"command program {program!r} not found (or the interpreter on its #! line is missing): set command.argv[0] "
                f"to the absolute path of an installed program (a bare name is looked up in PATH={env['PATH']})"
            ) from None
        except PermissionError:
            raise ActionError(
                f"command program {program!r} is not executable: chmod +x it, or put its interpreter first "
                f"in command.argv, e.g. [\"/bin/sh\", {program!r}]"
            ) from None
        except (OSError, ValueError) as e:
            why = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            raise ActionError(
                f"cannot run command program {program!r}: {why}: start a script with a #! line, "
                "or put its interpreter first in command.argv"
            ) from None

        stdout, stderr = _Tail(), _Tail()
        assert process.stdin is not None and process.stdout is not None and process.stderr is not None
        io = [
            asyncio.create_task(_feed(process.stdin, event.to_json() + b"\n")),
            asyncio.create_task(_drain(process.stdout, stdout)),  # both at once: a full pipe never blocks the program
            asyncio.create_task(_drain(process.stderr, stderr)),
        ]
        try:
            async with asyncio.timeout(config.timeout):
                await asyncio.wait(io)  # not gather: on a timeout they must go on reading until the group is dead
                status = await process.wait()
            for task in io:
                task.result()  # a failure of our own reading or writing is a bug: raise it
        except TimeoutError:
            exited = process.returncode
            await _stop(process, io)
            message = f"command {program!r} timed out after {config.timeout} s (command.timeout); its process group was killed"
            if exited is not None:
                message += (
                    f" (it had {_status(exited)}, but a process it started kept its stdout or stderr open: "
                    "redirect that process's output, e.g. 'helper >/dev/null 2>&1 &')"
                )
            raise ActionError(message) from None
        except BaseException:  # cancelled (shutdown) or a bug: leave nothing running
            await _stop(process, io)
            raise
        if status != 0:
            tail = stderr.text(STDERR_CHARS)
            raise ActionError(f"command {program!r} {_status(status)}; " + (f"stderr ends {tail!r}" if tail else "no stderr"))
        fields = {"stderr": stderr.text(STDERR_CHARS)} if stderr.total else {}
        log.info("command.ran", id=event.id, event_type=event.type.value, tenant=event.tenant, program=program,
                 seconds=round(time.monotonic() - started, 3), stdout_bytes=stdout.total, stderr_bytes=stderr.total, **fields)


def _environment(event: Event) -> dict[str, str]:
    """What the program sees: nothing of verpd's own environment but PATH."""
    return {
        "PATH": os.environ.get("PATH") or DEFAULT_PATH,
        "LANG": "C.UTF-8",
        "VERPD_EVENT": event.type.value,
        "VERPD_EVENT_ID": event.id,
        "VERPD_TENANT": event.tenant,
        "VERPD_USER": "" if event.user is None else str(event.user),
    }


class _Tail:
    """The last MAX_OUTPUT bytes of a stream, and how many there were in all."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.total = 0

    def add(self, chunk: bytes) -> None:
        self.total += len(chunk)
        self.data += chunk
        if len(self.data) > MAX_OUTPUT:
            del self.data[:-MAX_OUTPUT]

    def text(self, chars: int) -> str:
        return self.data.decode("utf-8", "replace")[-chars:].strip()


async def _feed(stdin: asyncio.StreamWriter, data: bytes) -> None:
    try:
        stdin.write(data)
        await stdin.drain()
    except (BrokenPipeError, ConnectionResetError):
        pass  # the program exited without reading all its stdin: its exit status tells
    stdin.close()


async def _drain(stream: asyncio.StreamReader, tail: _Tail) -> None:
    while chunk := await stream.read(MAX_OUTPUT):
        tail.add(chunk)


async def _stop(process: asyncio.subprocess.Process, io: list[asyncio.Task[None]]) -> None:
    """SIGKILL the program's whole process group, reap the program, and let its pipes close."""
    try:
        os.killpg(process.pid, signal.SIGKILL)  # its pgid is its pid (start_new_session)
    except ProcessLookupError:
        pass  # the group is already gone
    await process.wait()
    _, pending = await asyncio.wait(io, timeout=KILL_GRACE)  # the pipes close once the group is dead
    for task in pending:  # held open by a process that left the group (setsid): stop reading
        task.cancel()
    await asyncio.gather(*io, return_exceptions=True)


def _status(code: int) -> str:
    """'exited with status 3' or 'was killed by signal SIGTERM (15)'."""
    if code >= 0:
        return f"exited with status {code}"
    try:
        name = signal.Signals(-code).name
    except ValueError:
        name = "signal"
    return f"was killed by signal {name} ({-code})"
