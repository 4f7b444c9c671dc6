"""A real ``verpd serve`` subprocess for tests and benchmarks."""

from __future__ import annotations

import asyncio
import json
import socket
import sys
from pathlib import Path

from tests import logaudit
from tests.conftest import REPO, config_dict


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(tmp_path: Path, port: int, **sections: dict) -> Path:
    """A TOML config file for a subprocess daemon on ``port`` (plus ``sections``, one level of tables)."""
    return write_config_file(tmp_path, server={"lmtp": f"127.0.0.1:{port}"}, **sections)


def write_config_file(tmp_path: Path, **sections: dict) -> Path:
    """The test configuration (``config_dict``) with ``sections`` merged in, as ``tmp_path/verpd.toml``."""
    data = config_dict(tmp_path, **sections)
    logaudit.register_config(data)
    lines = []
    for section, values in data.items():
        lines.append(f"[{section}]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in values.items()]
    path = tmp_path / "verpd.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


# Sets RLIMIT_NOFILE to argv[1], then execs Python with the rest of the command line.
_LIMIT_FILES = """\
import os, resource, sys
resource.setrlimit(resource.RLIMIT_NOFILE, (int(sys.argv[1]), int(sys.argv[1])))
os.execv(sys.executable, [sys.executable, *sys.argv[2:]])
"""


class Process:
    """``python -m verpd serve`` in a subprocess; its JSON log lines are read continuously."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.events: list[dict] = []
        self._arrived = asyncio.Condition()
        self._reader = asyncio.create_task(self._read_log())

    @classmethod
    async def start(cls, config_path: Path, *, nofile: int | None = None) -> Process:
        """Start it and wait for ``server.started``; ``nofile``: its RLIMIT_NOFILE (soft and hard)."""
        prefix = [] if nofile is None else ["-c", _LIMIT_FILES, str(nofile)]
        proc = await asyncio.create_subprocess_exec(
            sys.executable, *prefix, "-m", "verpd", "--config", str(config_path), "serve",
            cwd=REPO, stderr=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL,
        )
        process = cls(proc)
        await process.wait_for_event("server.started")
        return process

    async def _read_log(self) -> None:
        assert self.proc.stderr is not None
        async for line in self.proc.stderr:  # never let the pipe fill up and block the daemon
            logaudit.feed("daemon", line.decode("utf-8", "replace"))
            async with self._arrived:
                self.events.append(json.loads(line))
                self._arrived.notify_all()
        async with self._arrived:
            self._arrived.notify_all()

    async def wait_for_event(self, name: str, timeout: float = 20.0) -> dict:
        def found() -> bool:
            return self._reader.done() or any(e.get("event") == name for e in self.events)

        async with self._arrived:
            await asyncio.wait_for(self._arrived.wait_for(found), timeout)
        for event in self.events:
            if event.get("event") == name:
                return event
        raise AssertionError(f"daemon exited before logging {name}; events: {self.events}")

    async def finish(self, timeout: float = 20.0) -> int:
        status = await asyncio.wait_for(self.proc.wait(), timeout)
        await self._reader
        return status
