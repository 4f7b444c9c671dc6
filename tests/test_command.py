"""The command action: real programs, written to tmp_path, run with the event on stdin."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import structlog

from verpd.actions import ActionError
from verpd.actions.command import CommandRunner
from verpd.config import CommandConfig
from verpd.events import Event, EventType

SUBSCRIBED = frozenset({EventType.SUBJECT_SUPPRESSED, EventType.SENDER_TROUBLE})


def make_event(type: EventType = EventType.SUBJECT_SUPPRESSED, tenant: str = "enwiki", user: int | None = 42) -> Event:
    return Event(
        id="evt-0001",
        type=type,
        tenant=tenant,
        user=user,
        occurred_at=datetime(2024, 5, 1, 11, 59, 0, tzinfo=UTC),
        addresses=("user@example.org",),
        reason="10 hard bounces within 7d (limit 10)",
        rule="limit",
    )


def script(tmp_path: Path, text: str, name: str = "on-event") -> Path:
    """An executable file holding ``text`` (its first line the #! line)."""
    path = tmp_path / name
    path.write_text(text)
    path.chmod(0o755)
    return path


def runner(*argv: str | Path, timeout: int = 10, tenant: str = "enwiki") -> CommandRunner:
    command = CommandConfig(tuple(str(a) for a in argv), SUBSCRIBED, timeout)
    return CommandRunner(lambda t: command if t == tenant else None)


RECORDER = f"""#!{sys.executable}
import json, os, sys
record = {{"stdin": sys.stdin.buffer.read().decode(), "env": dict(os.environ), "argv": sys.argv[1:]}}
with open(sys.argv[1], "w") as f:
    json.dump(record, f)
"""


async def gone(pid: int, within: float = 3.0) -> bool:
    """Whether process ``pid`` has ended (a zombie waiting for init counts as ended)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        if state in ("Z", "X"):
            return True
        await asyncio.sleep(0.05)
    return False


# --- what the program receives ----------------------------------------------------------


async def test_stdin_is_the_event_json_and_a_newline(tmp_path: Path) -> None:
    """The program's stdin is Event.to_json() and a newline; the JSON equals Event.body()."""
    out = tmp_path / "record.json"
    event = make_event()
    await runner(script(tmp_path, RECORDER), out).send(event)
    record = json.loads(out.read_text())
    assert record["stdin"] == event.to_json().decode() + "\n"
    assert json.loads(record["stdin"]) == event.body()
    assert record["argv"] == [str(out)]


async def test_environment_is_minimal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The program sees PATH, LANG=C.UTF-8 and the VERPD_* variables, and nothing else of verpd's environment."""
    monkeypatch.setenv("VERPD_DATABASE_PASSWORD", "leak")
    monkeypatch.setenv("PATH", "/usr/local/bin:/usr/bin:/bin")
    out = tmp_path / "record.json"
    await runner(script(tmp_path, RECORDER), out).send(make_event())
    env = json.loads(out.read_text())["env"]
    assert env == {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "VERPD_EVENT": "subject.suppressed",
        "VERPD_EVENT_ID": "evt-0001",
        "VERPD_TENANT": "enwiki",
        "VERPD_USER": "42",
    }


async def test_path_has_a_default_and_user_may_be_empty(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without PATH in verpd's environment the program gets /usr/bin:/bin; a sender.trouble event has an empty VERPD_USER."""
    monkeypatch.delenv("PATH", raising=False)
    out = tmp_path / "record.json"
    await runner(script(tmp_path, RECORDER), out).send(make_event(EventType.SENDER_TROUBLE, user=None))
    env = json.loads(out.read_text())["env"]
    assert env["PATH"] == "/usr/bin:/bin" and env["VERPD_USER"] == "" and env["VERPD_EVENT"] == "sender.trouble"


async def test_success_is_logged(tmp_path: Path) -> None:
    """Exit status 0 logs command.ran with the event's id, type and tenant."""
    with structlog.testing.capture_logs() as logs:
        await runner(script(tmp_path, "#!/bin/sh\necho done\n")).send(make_event())
    [ran] = [e for e in logs if e["event"] == "command.ran"]
    assert ran["id"] == "evt-0001" and ran["event_type"] == "subject.suppressed" and ran["tenant"] == "enwiki"
    assert ran["stdout_bytes"] == len("done\n")


async def test_program_need_not_read_its_stdin(tmp_path: Path) -> None:
    """A program that exits 0 without reading stdin has succeeded."""
    await runner(script(tmp_path, "#!/bin/sh\nexit 0\n")).send(make_event())


# --- what is not run --------------------------------------------------------------------


async def test_unsubscribed_event_runs_nothing(tmp_path: Path) -> None:
    """An event type the command does not list in command.events does not run it."""
    out = tmp_path / "record.json"
    await runner(script(tmp_path, RECORDER), out).send(make_event(EventType.BOUNCE_HARD))
    assert not out.exists()


async def test_tenant_without_command_runs_nothing(tmp_path: Path) -> None:
    """A tenant with no command configured runs nothing."""
    out = tmp_path / "record.json"
    await runner(script(tmp_path, RECORDER), out, tenant="enwiki").send(make_event(tenant="dewiki"))
    assert not out.exists()


# --- failures are ActionErrors (the outbox retries) ---------------------------------------


async def test_nonzero_exit_names_the_status_and_the_end_of_stderr(tmp_path: Path) -> None:
    """A non-zero exit raises ActionError with the exit status and the last lines of stderr."""
    program = script(tmp_path, "#!/bin/sh\necho 'starting' >&2\necho 'database is locked' >&2\nexit 3\n")
    with pytest.raises(ActionError, match=r"exited with status 3; stderr ends '.*database is locked'"):
        await runner(program).send(make_event())


async def test_death_by_signal_names_the_signal(tmp_path: Path) -> None:
    """A program killed by a signal raises ActionError naming the signal."""
    with pytest.raises(ActionError, match=r"killed by signal SIGTERM \(15\); no stderr"):
        await runner(script(tmp_path, "#!/bin/sh\nkill -TERM $$\n")).send(make_event())


async def test_error_quotes_only_the_tail_of_a_long_stderr(tmp_path: Path) -> None:
    """Of a long stderr the error quotes the last 500 characters only."""
    program = script(tmp_path, f"#!{sys.executable}\nimport sys\nsys.stderr.write('noise ' * 50000 + 'THE END')\nsys.exit(1)\n")
    with pytest.raises(ActionError) as caught:
        await runner(program).send(make_event())
    assert str(caught.value).endswith("THE END'")
    assert len(str(caught.value)) < 700


async def test_timeout_kills_the_program_and_what_it_started(tmp_path: Path) -> None:
    """Past command.timeout the whole process group is killed (a background grandchild too) and ActionError says so."""
    program = script(tmp_path, f"#!/bin/sh\necho $$ > {tmp_path}/child\nsleep 60 &\necho $! > {tmp_path}/grandchild\nwait\n")
    started = time.monotonic()
    with pytest.raises(ActionError, match=r"timed out after 1 s .*process group was killed"):
        await runner(program, timeout=1).send(make_event())
    assert time.monotonic() - started < 5
    for name in ("child", "grandchild"):
        assert await gone(int((tmp_path / name).read_text())), f"the {name} is still running"


async def test_timeout_when_a_background_process_holds_the_output_open(tmp_path: Path) -> None:
    """A program that exits but leaves a background process holding its stdout times out, and the error says why."""
    program = script(tmp_path, f"#!/bin/sh\nsleep 60 &\necho $! > {tmp_path}/grandchild\nexit 0\n")
    with pytest.raises(ActionError, match=r"timed out after 1 s .*it had exited with status 0, but a process it started kept its stdout"):
        await runner(program, timeout=1).send(make_event())
    assert await gone(int((tmp_path / "grandchild").read_text()))


async def test_missing_program_says_which_path(tmp_path: Path) -> None:
    """A program that does not exist raises ActionError naming the path and how to fix command.argv."""
    missing = tmp_path / "no-such-program"
    with pytest.raises(ActionError, match=rf"{missing}.* not found.*command\.argv\[0\]"):
        await runner(missing).send(make_event())


async def test_unexecutable_program_says_chmod(tmp_path: Path) -> None:
    """A program without the execute bit raises ActionError saying to chmod +x it."""
    program = script(tmp_path, "#!/bin/sh\nexit 0\n")
    program.chmod(0o644)
    with pytest.raises(ActionError, match=rf"{program}.* is not executable: chmod \+x"):
        await runner(program).send(make_event())


async def test_script_without_interpreter_line_says_so(tmp_path: Path) -> None:
    """An executable script with no #! line raises ActionError asking for one."""
    with pytest.raises(ActionError, match=r"cannot run .*#! line"):
        await runner(script(tmp_path, "exit 0\n")).send(make_event())


async def test_huge_output_does_not_hang(tmp_path: Path) -> None:
    """Megabytes on stdout and stderr are read as they come (and dropped), so the program finishes."""
    program = script(tmp_path, f"#!{sys.executable}\nimport sys\nsys.stdout.write('o' * 5_000_000)\nsys.stderr.write('e' * 5_000_000)\n")
    with structlog.testing.capture_logs() as logs:
        await asyncio.wait_for(runner(program, timeout=30).send(make_event()), 20)
    [ran] = [e for e in logs if e["event"] == "command.ran"]
    assert ran["stdout_bytes"] == ran["stderr_bytes"] == 5_000_000
    assert len(ran["stderr"]) <= 500
