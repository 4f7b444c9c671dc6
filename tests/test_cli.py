"""The command line: VERP encode/verify and the inspection commands."""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import TEST_SECRET, FakeClock, make_config
from tests.messages import dsn
from tests.daemon_process import write_config, write_config_file
from verpd import cli
from verpd import config as config_module
from verpd.pipeline import Pipeline
from verpd.store import Store, create_engine, init_schema
from verpd.verp import Verp


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    return write_config(tmp_path, 8024)


@pytest.fixture
def store_config_file(tmp_path: Path, database_url: str) -> Path:
    """``config_file`` with the test's fresh database, for the commands that read or write the store (each backend)."""
    return write_config(tmp_path, 8024, database={"url": database_url})


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = cli.main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_verp_encode_prints_an_address_that_verify_accepts(config_file: Path, capsys) -> None:
    """`verp encode` prints one address; `verp verify` of it prints valid JSON with the fields and exits 0."""
    status, out, _ = run(capsys, "--config", str(config_file), "verp", "encode", "--tenant", "enwiki", "--user", "42", "--time", "1800000000")
    assert status == 0
    address = out.strip()
    assert address.endswith("@bounces.example.org") and "\n" not in address
    status, out, _ = run(capsys, "--config", str(config_file), "verp", "verify", address, "--now", "1800000060")
    assert status == 0
    assert json.loads(out) == {"valid": True, "tenant": "enwiki", "user": 42, "sent_at": "2027-01-15T08:00:00+00:00", "error": None}


@pytest.mark.parametrize(
    ("mutate", "now_delta", "error_kind"),
    [
        pytest.param(lambda a: a.replace("enwiki", "dewiki"), 60, "bad_signature", id="tampered"),
        pytest.param(lambda a: a, 3 * 86400, "expired", id="expired"),
        pytest.param(lambda a: a.replace("bounces.example.org", "example.net"), 60, "not_ours", id="foreign-domain"),
    ],
)
def test_verp_verify_reports_invalid_addresses_with_exit_1(config_file: Path, capsys, mutate, now_delta: int, error_kind: str) -> None:
    """`verp verify` of a bad address prints valid=false with the error kind and exits 1."""
    address = Verp(make_config(config_file.parent).verp).encode("enwiki", 42, 1800000000)
    status, out, _ = run(capsys, "--config", str(config_file), "verp", "verify", mutate(address), "--now", str(1800000000 + now_delta))
    result = json.loads(out)
    assert status == 1
    assert result["valid"] is False and result["tenant"] is None and result["error"].startswith(error_kind)


def test_verp_encode_refuses_a_bad_tenant_with_exit_64(config_file: Path, capsys) -> None:
    """A tenant the format cannot carry is a usage error (EX_USAGE) that says what is allowed."""
    status, _, err = run(capsys, "--config", str(config_file), "verp", "encode", "--tenant", "My_Wiki", "--user", "1")
    assert status == 64 and "[a-z0-9.]" in err


def test_missing_config_file_says_how_to_fix_it(tmp_path: Path, capsys) -> None:
    """Without a readable config file every command exits 78 (EX_CONFIG) and names --config."""
    status, _, err = run(capsys, "--config", str(tmp_path / "absent.toml"), "bounces", "list")
    assert status == 78 and "--config" in err


def test_bounces_and_subjects_list_print_stored_fields_as_json_lines(store_config_file: Path, capsys) -> None:
    """`bounces list --json` and `subjects list --json` print one object per stored row with its fields."""
    config_file = store_config_file
    config = config_module.load(config_file)

    async def record_two_bounces() -> None:
        engine = create_engine(config.database.url)
        await init_schema(engine)
        pipeline = Pipeline(config, Store(engine))
        clock = FakeClock(datetime(2026, 11, 21, 12, 0, tzinfo=UTC))
        verp = Verp(config.verp)
        for user in (3, 4):
            address = verp.encode("enwiki", user, clock.unix - 10)
            await pipeline.deliver(dsn(address), [verp.verify(address, clock.unix)], clock.now)
        await engine.dispose()

    asyncio.run(record_two_bounces())
    capsys.readouterr()  # drop the setup's log lines

    status, out, _ = run(capsys, "--config", str(config_file), "bounces", "list", "--json")
    rows = [json.loads(line) for line in out.splitlines()]
    assert status == 0 and [r["user_id"] for r in rows] == [4, 3]  # newest first
    assert set(rows[0]) >= {"tenant", "user_id", "verp_local", "sent_at", "received_at", "address", "action", "status",
                            "reply_code", "reason", "severity", "diagnostic", "remote_mta", "message_id"}
    assert rows[0]["address"] == "alice@example.com" and rows[0]["received_at"] == "2026-11-21T12:00:00+00:00"

    status, out, _ = run(capsys, "--config", str(config_file), "subjects", "list", "--json")
    subjects = [json.loads(line) for line in out.splitlines()]
    assert status == 0 and [(s["tenant"], s["user_id"], s["state"]) for s in subjects] == [("enwiki", 3, "active"), ("enwiki", 4, "active")]

    status, out, _ = run(capsys, "--config", str(config_file), "bounces", "list")
    assert status == 0 and out.splitlines()[0].split()[:3] == ["id", "received_at", "tenant"] and "alice@example.com" in out


def test_secret_never_printed_by_check_config(config_file: Path, capsys) -> None:
    """check-config summarises the configuration without printing any secret."""
    status, out, err = run(capsys, "--config", str(config_file), "check-config")
    assert status == 0 and "OK" in out and TEST_SECRET not in out + err


POSTFIX_BOUNCE = Path(__file__).parent / "fixtures" / "detectors" / "postfix_userunknown.eml"
SCORER_KEYS = {"address", "status", "replycode", "reason", "hard", "action", "diagnostic", "remote_mta"}


def test_parse_jsonl_prints_one_object_per_message_in_the_scorers_format(tmp_path: Path, capsys) -> None:
    status, out, _ = run(capsys, "parse", "--jsonl", str(POSTFIX_BOUNCE))
    assert status == 0
    (found,) = (json.loads(line) for line in out.splitlines())
    assert found["file"] == str(POSTFIX_BOUNCE) and found["detector"] == "dsn"
    (recipient,) = found["recipients"]
    assert SCORER_KEYS <= recipient.keys()
    assert (recipient["address"], recipient["status"], recipient["replycode"], recipient["reason"], recipient["hard"]) == (
        "alice.marsh@example.com", "5.1.1", 550, "userunknown", True)


def test_parse_names_an_unreadable_input_on_stderr_and_exits_1(tmp_path: Path, capsys) -> None:
    missing = tmp_path / "gone.eml"
    status, out, err = run(capsys, "parse", "--jsonl", str(POSTFIX_BOUNCE), str(missing))
    assert status == 1 and len(out.splitlines()) == 1  # the readable one is still reported
    assert err.strip() == f"verpd: cannot read {missing}: no such file or directory"


def test_parse_reads_paths_from_stdin_when_no_file_is_given(capsys, monkeypatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{POSTFIX_BOUNCE}\n\n{POSTFIX_BOUNCE}\n"))
    status, out, _ = run(capsys, "parse", "--jsonl")
    assert status == 0
    assert [json.loads(line)["file"] for line in out.splitlines()] == [str(POSTFIX_BOUNCE)] * 2


def test_parse_text_output_names_reason_and_severity(capsys) -> None:
    status, out, _ = run(capsys, "parse", str(POSTFIX_BOUNCE))
    assert status == 0
    assert "bounce (dsn)" in out and "alice.marsh@example.com  5.1.1  userunknown  hard" in out


def test_parse_stops_quietly_when_the_reader_goes_away() -> None:
    """``verpd parse ... | head -1``: no BrokenPipeError traceback on stderr."""
    paths = "\n".join([str(POSTFIX_BOUNCE)] * 5000) + "\n"
    command = f"{sys.executable} -m verpd parse --jsonl | head -1"
    done = subprocess.run(["sh", "-c", command], input=paths, capture_output=True, text=True, timeout=120)
    assert done.stdout.count("\n") == 1
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr


def _report_of_three(tmp_path: Path) -> Path:
    blocks = "".join(f"Final-Recipient: rfc822; {name}@example.org\nAction: failed\nStatus: 5.1.1\n\n" for name in ("ann", "bob", "cy"))
    path = tmp_path / "three.eml"
    path.write_text(
        "From: MAILER-DAEMON@example.com\nSubject: Undelivered Mail Returned to Sender\n"
        "Content-Type: multipart/report; report-type=delivery-status; boundary=B\n\n"
        f"--B\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.com\n\n{blocks}--B--\n"
    )
    return path


def test_parse_max_recipients_option_bounds_the_report(tmp_path: Path, capsys, monkeypatch) -> None:
    """`verpd parse --max-recipients 1` prints one recipient, then one record standing for the other two."""
    monkeypatch.delenv("VERPD_CONFIG", raising=False)
    status, out, _ = run(capsys, "parse", "--jsonl", "--max-recipients", "1", str(_report_of_three(tmp_path)))
    assert status == 0
    recipients = json.loads(out)["recipients"]
    assert [(r["address"], r["diagnostic"]) for r in recipients] == [
        ("ann@example.org", None), ("bob@example.org", "2 more recipients not reported (parse.max_recipients = 1)")]


def test_parse_takes_max_recipients_from_a_named_configuration(tmp_path: Path, capsys, monkeypatch) -> None:
    """With --config (or $VERPD_CONFIG) `verpd parse` uses parse.max_recipients; --max-recipients overrides it."""
    monkeypatch.delenv("VERPD_CONFIG", raising=False)
    config = write_config(tmp_path, 8024)
    config.write_text(config.read_text() + "[parse]\nmax_recipients = 2\n")
    message = str(_report_of_three(tmp_path))
    _, out, _ = run(capsys, "--config", str(config), "parse", "--jsonl", message)
    assert len(json.loads(out)["recipients"]) == 3  # two, and the one standing for the third
    monkeypatch.setenv("VERPD_CONFIG", str(config))
    _, out, _ = run(capsys, "parse", "--jsonl", "--max-recipients", "5", message)
    assert len(json.loads(out)["recipients"]) == 3 and all(r["diagnostic"] is None for r in json.loads(out)["recipients"])


def test_parse_refuses_a_max_recipients_below_one(capsys) -> None:
    """--max-recipients 0 is a usage error (EX_USAGE), not an empty report."""
    assert cli.main(["parse", "--max-recipients", "0", str(POSTFIX_BOUNCE)]) == 64
    assert "at least 1" in capsys.readouterr().err



def _bounces_for(config_file: Path, user: int, count: int) -> None:
    config = config_module.load(config_file)

    async def record() -> None:
        engine = create_engine(config.database.url)
        await init_schema(engine)
        pipeline = Pipeline(config, Store(engine))
        clock = FakeClock(datetime(2026, 11, 21, 12, 0, tzinfo=UTC))
        verp = Verp(config.verp)
        for _ in range(count):
            clock.advance(seconds=60)
            address = verp.encode("enwiki", user, clock.unix - 10)
            await pipeline.deliver(dsn(address), [verp.verify(address, clock.unix)], clock.now)
        await engine.dispose()

    asyncio.run(record())


def test_subjects_show_names_the_state_the_rule_and_the_bounces_that_counted(tmp_path: Path, capsys, database_url: str) -> None:
    config_file = write_config_file(tmp_path, database={"url": database_url}, policy={"limit": 2, "act": True})
    _bounces_for(config_file, 7, 3)
    capsys.readouterr()
    status, out, _ = run(capsys, "--config", str(config_file), "subjects", "show", "enwiki", "7")
    assert status == 0
    assert out.startswith("enwiki user 7: suppressed since 2026-11-21 12:02:00 (2 hard bounces of different messages")
    assert "suppress  rule limit" in out and "failed addresses: alice@example.com" in out
    assert out.count("counted:") == 2 and "[status 5.1.1]" in out

    status, out, _ = run(capsys, "--config", str(config_file), "subjects", "show", "enwiki", "7", "--json")
    shown = json.loads(out)
    assert shown["subject"]["state"] == "suppressed" and len(shown["bounces"]) == 3
    (decision,) = shown["decisions"]
    assert decision["rule"] == "limit" and [b["evidence"] for b in decision["counted"]] == ["status 5.1.1"] * 2


def test_subjects_show_of_an_unknown_user_says_so_with_exit_1(store_config_file: Path, capsys) -> None:
    status, _, err = run(capsys, "--config", str(store_config_file), "subjects", "show", "enwiki", "404")
    assert status == 1 and "no record of user 404" in err


def test_subjects_reset_makes_the_user_active_and_is_explained(tmp_path: Path, capsys, database_url: str) -> None:
    config_file = write_config_file(tmp_path, database={"url": database_url}, policy={"limit": 2, "act": True})
    _bounces_for(config_file, 7, 2)
    capsys.readouterr()
    status, out, _ = run(capsys, "--config", str(config_file), "subjects", "reset", "enwiki", "7", "--by", "admin")
    assert status == 0 and "enwiki user 7: active" in out
    status, out, _ = run(capsys, "--config", str(config_file), "subjects", "show", "enwiki", "7", "--json")
    shown = json.loads(out)
    assert shown["subject"]["state"] == "active" and shown["subject"]["reset_at"] is not None
    assert [(d["action"], d["why"]) for d in shown["decisions"]][0] == ("reset", "reset by admin")
    status, _, err = run(capsys, "--config", str(config_file), "subjects", "reset", "enwiki", "404")
    assert status == 1 and "nothing to reset" in err


def test_outbox_list_and_retry_revive_a_dead_letter(tmp_path: Path, capsys, database_url: str) -> None:
    config_file = write_config_file(tmp_path, database={"url": database_url}, policy={"limit": 1, "act": True},
                                    webhook={"url": "http://127.0.0.1:9/hook", "secret": "a-webhook-secret-of-some-length"})
    _bounces_for(config_file, 7, 1)
    config = config_module.load(config_file)

    async def kill_it() -> None:
        engine = create_engine(config.database.url)
        store = Store(engine)
        (row,) = await store.list_outbox()
        await store.outbox_failed(row["id"], "ConnectError: refused", datetime(2026, 11, 21, 13, 0, tzinfo=UTC),
                                  dead_at=datetime(2026, 11, 21, 13, 0, tzinfo=UTC))
        await engine.dispose()

    asyncio.run(kill_it())
    capsys.readouterr()
    status, out, _ = run(capsys, "--config", str(config_file), "outbox", "list", "--json")
    (item,) = [json.loads(line) for line in out.splitlines()]
    assert status == 0 and (item["kind"], item["state"], item["attempts"]) == ("webhook", "dead", 1)
    assert item["payload"]["event"] == "subject.suppressed" and item["last_error"] == "ConnectError: refused"
    status, out, _ = run(capsys, "--config", str(config_file), "outbox", "retry", str(item["id"]))
    assert status == 0 and out.startswith("1 item(s) due again")
    status, out, _ = run(capsys, "--config", str(config_file), "outbox", "list", "--json")
    (item,) = [json.loads(line) for line in out.splitlines()]
    assert (item["state"], item["attempts"]) == ("pending", 0)
    status, _, err = run(capsys, "--config", str(config_file), "outbox", "retry")
    assert status == 64 and "--dead" in err


def test_bounces_show_prints_the_verdict_and_the_raw_message(tmp_path: Path, capsys, database_url: str) -> None:
    config_file = write_config_file(tmp_path, database={"url": database_url})
    _bounces_for(config_file, 7, 1)
    capsys.readouterr()
    status, out, _ = run(capsys, "--config", str(config_file), "bounces", "show", "1", "--json")
    shown = json.loads(out)
    assert status == 0 and shown["reason"] == "userunknown" and shown["raw_kept"] is True and shown["evidence"]["ref"] == "5.1.1"
    status, out, _ = run(capsys, "--config", str(config_file), "bounces", "show", "1", "--raw")
    assert status == 0 and out.startswith("Return-Path: <>") and "message/delivery-status" in out
    status, _, err = run(capsys, "--config", str(config_file), "bounces", "show", "99")
    assert status == 1 and "no bounce with id 99" in err
