"""The mediawiki action: clear a suppressed user's email confirmation as Extension:BounceHandler does, minus its bugs.

The databases are SQLite files built with DDL we wrote after MediaWiki's own SQLite
layouts (core, CentralAuth and Echo ``sql/sqlite/tables-generated.sql``: the same
tables, columns, types, defaults and keys), filled with example.org users.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event as sa_event
from structlog.testing import capture_logs

from tests.conftest import FakeClock
from verpd.actions import ActionError
from verpd.actions.mediawiki import ECHO_EVENT_TYPE, MediaWikiUnconfirm, UnconfirmResult, php_serialize, same_address, ts_mw
from verpd.config import MediaWikiConfig
from verpd.events import Event, EventType

# --- DDL: MediaWiki's SQLite layouts, columns as MediaWiki declares them ----------------

CORE_USER = """
CREATE TABLE {p}user (
  user_id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
  user_name BLOB DEFAULT '' NOT NULL,
  user_real_name BLOB DEFAULT '' NOT NULL,
  user_password BLOB NOT NULL,
  user_newpassword BLOB NOT NULL,
  user_newpass_time BLOB DEFAULT NULL,
  user_email CLOB NOT NULL,
  user_touched BLOB NOT NULL,
  user_token BLOB DEFAULT '' NOT NULL,
  user_email_authenticated BLOB DEFAULT NULL,
  user_email_token BLOB DEFAULT NULL,
  user_email_token_expires BLOB DEFAULT NULL,
  user_registration BLOB DEFAULT NULL,
  user_editcount INTEGER UNSIGNED DEFAULT NULL,
  user_password_expires BLOB DEFAULT NULL,
  user_is_temp SMALLINT DEFAULT 0 NOT NULL
);
CREATE UNIQUE INDEX {p}user_name ON {p}user (user_name);
CREATE INDEX {p}user_email_token ON {p}user (user_email_token);
CREATE INDEX {p}user_email ON {p}user (user_email);
"""

CENTRALAUTH = """
CREATE TABLE globaluser (
  gu_id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
  gu_name BLOB DEFAULT NULL,
  gu_home_db BLOB DEFAULT NULL,
  gu_email BLOB DEFAULT NULL,
  gu_email_authenticated BLOB DEFAULT NULL,
  gu_password BLOB DEFAULT NULL,
  gu_locked SMALLINT DEFAULT 0 NOT NULL,
  gu_hidden_level INTEGER DEFAULT 0 NOT NULL,
  gu_registration BLOB DEFAULT NULL,
  gu_password_reset_key BLOB DEFAULT NULL,
  gu_password_reset_expiration BLOB DEFAULT NULL,
  gu_auth_token BLOB DEFAULT NULL,
  gu_cas_token INTEGER UNSIGNED DEFAULT 1 NOT NULL
);
CREATE UNIQUE INDEX gu_name ON globaluser (gu_name);
CREATE INDEX gu_email ON globaluser (gu_email);
CREATE TABLE localuser (
  lu_wiki BLOB NOT NULL,
  lu_name BLOB NOT NULL,
  lu_attached_timestamp BLOB DEFAULT NULL,
  lu_attached_method TEXT DEFAULT NULL,
  lu_attachment_method SMALLINT UNSIGNED DEFAULT NULL,
  lu_local_id INTEGER UNSIGNED DEFAULT NULL,
  lu_global_id INTEGER UNSIGNED DEFAULT NULL,
  PRIMARY KEY (lu_wiki, lu_name)
);
CREATE INDEX lu_name_wiki ON localuser (lu_name, lu_wiki);
"""

ECHO = """
CREATE TABLE {p}echo_event (
  event_id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
  event_type BLOB NOT NULL,
  event_agent_id INTEGER UNSIGNED DEFAULT NULL,
  event_agent_ip BLOB DEFAULT NULL,
  event_extra BLOB DEFAULT NULL,
  event_page_id INTEGER UNSIGNED DEFAULT NULL,
  event_deleted SMALLINT UNSIGNED DEFAULT 0 NOT NULL
);
CREATE TABLE {p}echo_notification (
  notification_event INTEGER UNSIGNED NOT NULL,
  notification_user INTEGER UNSIGNED NOT NULL,
  notification_timestamp BLOB NOT NULL,
  notification_read_timestamp BLOB DEFAULT NULL,
  notification_bundle_hash BLOB NOT NULL,
  PRIMARY KEY (notification_user, notification_event)
);
"""

CONFIRMED = "20250102030405"  # when the users confirmed their address
TOUCHED = "20260101000000"
NOW = "20261121120000"  # the FakeClock's start, as TS_MW

# user_id, user_name, user_email, user_email_authenticated
USERS = [
    (42, "Alice", "alice@example.org", CONFIRMED),
    (43, "Bob", "bob@Example.ORG", CONFIRMED),
    (44, "Carol", "carol.new@example.org", CONFIRMED),  # changed her address after the bounces
    (45, "Dave", "dave@example.org", None),  # already unconfirmed
]


class Wiki:
    """One wiki's SQLite files, read back with the sqlite3 module."""

    def __init__(self, tmp_path: Path, prefix: str = "", echo_file: str | None = None, central_file: str | None = None) -> None:
        self.prefix = prefix
        self.path = tmp_path / "wiki.sqlite3"
        self.echo_path = tmp_path / echo_file if echo_file else self.path
        self.central_path = tmp_path / central_file if central_file else self.path
        self._script(self.path, CORE_USER.format(p=prefix))
        self._script(self.echo_path, ECHO.format(p=prefix))
        self._script(self.central_path, CENTRALAUTH)
        for user_id, name, email, authenticated in USERS:
            self.add_user(user_id, name, email, authenticated)

    def add_user(self, user_id: int, name: str, email: str, authenticated: str | None, touched: str = TOUCHED) -> None:
        self.run(
            self.path,
            f"INSERT INTO {self.prefix}user (user_id, user_name, user_password, user_newpassword, user_email, user_touched,"
            " user_email_authenticated, user_email_token, user_email_token_expires, user_registration)"
            " VALUES (?, ?, '', '', ?, ?, ?, 'd41d8cd98f00b204e9800998ecf8427e', '20250109030405', '20250101000000')",
            (user_id, name, email, touched, authenticated),
        )

    def add_global(self, name: str, email: str, authenticated: str | None, attached_to: tuple[str, ...] = ("enwiki",)) -> None:
        self.run(
            self.central_path,
            "INSERT INTO globaluser (gu_name, gu_home_db, gu_email, gu_email_authenticated, gu_cas_token) VALUES (?, 'enwiki', ?, ?, 7)",
            (name, email, authenticated),
        )
        for wiki in attached_to:
            self.run(self.central_path, "INSERT INTO localuser (lu_wiki, lu_name, lu_attached_method) VALUES (?, ?, 'primary')", (wiki, name))

    def url(self, path: Path | None = None) -> str:
        return f"sqlite+aiosqlite:///{path or self.path}"

    def config(self, **overrides: Any) -> MediaWikiConfig:
        base = MediaWikiConfig(
            database_url=self.url(),
            wiki_id=None,
            central_auth=False,
            central_auth_database_url=None,
            echo=True,
            echo_database_url=None,
            table_prefix=self.prefix,
        )
        return replace(base, **overrides)

    def user(self, user_id: int) -> dict[str, Any]:
        (row,) = self.rows(self.path, f"SELECT * FROM {self.prefix}user WHERE user_id = ?", (user_id,))
        return row

    def global_user(self, name: str) -> dict[str, Any]:
        (row,) = self.rows(self.central_path, "SELECT * FROM globaluser WHERE gu_name = ?", (name,))
        return row

    def notices(self) -> list[dict[str, Any]]:
        return self.rows(
            self.echo_path,
            f"SELECT * FROM {self.prefix}echo_event JOIN {self.prefix}echo_notification ON notification_event = event_id ORDER BY event_id",
        )

    @staticmethod
    def _script(path: Path, sql: str) -> None:
        with sqlite3.connect(path) as db:
            db.executescript(sql)
        db.close()

    @staticmethod
    def run(path: Path, sql: str, params: tuple[Any, ...] = ()) -> None:
        with sqlite3.connect(path) as db:
            db.execute(sql, params)
        db.close()

    @staticmethod
    def rows(path: Path, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        db = sqlite3.connect(path)
        db.row_factory = sqlite3.Row
        try:
            return [dict(r) for r in db.execute(sql, params)]
        finally:
            db.close()


def suppressed(user: int | None = 42, *addresses: str, tenant: str = "enwiki", type: EventType = EventType.SUBJECT_SUPPRESSED) -> Event:
    return Event(
        id=f"ev-{user}",
        type=type,
        tenant=tenant,
        user=user,
        occurred_at=datetime(2026, 11, 21, 11, 59, tzinfo=UTC),
        addresses=addresses or ("alice@example.org",),
        reason="10 hard bounces within 7d (limit 10)",
        rule="limit",
    )


@pytest.fixture
def wiki(tmp_path: Path) -> Wiki:
    return Wiki(tmp_path)


@pytest.fixture
async def make_action(clock: FakeClock) -> AsyncIterator[Callable[..., MediaWikiUnconfirm]]:
    """Actions for one config (for tenant 'enwiki' only); their engines are disposed at teardown."""
    made: list[MediaWikiUnconfirm] = []

    def make(config: MediaWikiConfig | None) -> MediaWikiUnconfirm:
        action = MediaWikiUnconfirm(lambda tenant: config if tenant == "enwiki" else None, clock)
        made.append(action)
        return action

    yield make
    for action in made:
        await action.aclose()


def logged(logs: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [e for e in logs if e["event"] == name]


# --- the local path ----------------------------------------------------------------------


async def test_unconfirms_the_current_address_when_it_failed(wiki: Wiki, make_action) -> None:
    """The user's confirmation and pending token are cleared, user_touched moves to now, and the address is kept."""
    before = wiki.user(42)
    with capture_logs() as logs:
        result = await make_action(wiki.config()).send(suppressed(42, "alice@example.org"))
    assert result is UnconfirmResult.UNCONFIRMED
    after = wiki.user(42)
    assert after["user_email_authenticated"] is None
    assert (after["user_email_token"], after["user_email_token_expires"]) == (None, None)
    assert after["user_touched"] == NOW
    assert after["user_email"] == "alice@example.org"
    unchanged = {"user_email_authenticated", "user_email_token", "user_email_token_expires", "user_touched"}
    assert {k: v for k, v in after.items() if k not in unchanged} == {k: v for k, v in before.items() if k not in unchanged}
    (line,) = logged(logs, "subject.unconfirmed")
    assert line == {"event": "subject.unconfirmed", "log_level": "info", "tenant": "enwiki", "user": 42, "address": "alice@example.org", "table": "user"}


async def test_user_touched_always_moves_forward(wiki: Wiki, make_action) -> None:
    """As User::newTouchedTimestamp: a stored user_touched ahead of our clock becomes that value plus one second."""
    wiki.add_user(50, "Erin", "erin@example.org", CONFIRMED, touched="20261121120100")
    await make_action(wiki.config()).send(suppressed(50, "erin@example.org"))
    assert wiki.user(50)["user_touched"] == "20261121120101"


async def test_leaves_the_row_untouched_when_the_address_changed(wiki: Wiki, make_action) -> None:
    """Bounces for an old address never unconfirm the new one (the original's bug); the log names only the new domain."""
    before = wiki.user(44)
    with capture_logs() as logs:
        result = await make_action(wiki.config()).send(suppressed(44, "carol@example.org"))
    assert result is UnconfirmResult.ADDRESS_CHANGED
    assert wiki.user(44) == before
    assert wiki.notices() == []
    (line,) = logged(logs, "subject.unconfirm_skipped")
    assert (line["tenant"], line["user"], line["why"], line["domain"]) == ("enwiki", 44, "address_changed", "example.org")
    assert not any("carol.new" in str(value) for entry in logs for value in entry.values())


@pytest.mark.parametrize(
    ("user", "failed", "expected"),
    [
        pytest.param(43, "bob@example.org", UnconfirmResult.UNCONFIRMED, id="stored-domain-upper-case"),
        pytest.param(42, "alice@EXAMPLE.ORG", UnconfirmResult.UNCONFIRMED, id="failed-domain-upper-case"),
        pytest.param(42, "Alice@example.org", UnconfirmResult.ADDRESS_CHANGED, id="local-part-case-differs"),
        pytest.param(42, "alice+x@example.org", UnconfirmResult.ADDRESS_CHANGED, id="local-part-differs"),
    ],
)
async def test_domain_compares_case_insensitively_and_local_part_exactly(wiki: Wiki, make_action, user: int, failed: str, expected) -> None:
    """A failed address is the stored one when the local parts are equal and the domains equal in any case."""
    assert await make_action(wiki.config()).send(suppressed(user, failed)) is expected
    assert (wiki.user(user)["user_email_authenticated"] is None) is (expected is UnconfirmResult.UNCONFIRMED)


async def test_any_of_the_failed_addresses_can_match(wiki: Wiki, make_action) -> None:
    """An event with several failed addresses unconfirms the user whose address is one of them."""
    result = await make_action(wiki.config()).send(suppressed(42, "old@example.org", "alice@example.org"))
    assert result is UnconfirmResult.UNCONFIRMED


async def test_already_unconfirmed_is_idempotent_with_no_second_echo_notice(wiki: Wiki, make_action, clock: FakeClock) -> None:
    """The same event twice unconfirms once, creates one Echo notice, and the second time writes nothing."""
    action = make_action(wiki.config())
    assert await action.send(suppressed(42)) is UnconfirmResult.UNCONFIRMED
    once = wiki.user(42)
    clock.advance(minutes=5)
    with capture_logs() as logs:
        assert await action.send(suppressed(42)) is UnconfirmResult.ALREADY
    assert wiki.user(42) == once
    assert len(wiki.notices()) == 1
    (line,) = logged(logs, "subject.unconfirm_skipped")
    assert line["why"] == "already"


async def test_a_user_unconfirmed_before_gets_no_notice(wiki: Wiki, make_action) -> None:
    """A user whose address is already unconfirmed is left alone: ALREADY, no row written, no notice."""
    before = wiki.user(45)
    assert await make_action(wiki.config()).send(suppressed(45, "dave@example.org")) is UnconfirmResult.ALREADY
    assert wiki.user(45) == before
    assert wiki.notices() == []


async def test_no_such_user(wiki: Wiki, make_action) -> None:
    """A user id with no row on the wiki is NO_SUCH_USER and logged as skipped."""
    with capture_logs() as logs:
        assert await make_action(wiki.config()).send(suppressed(999)) is UnconfirmResult.NO_SUCH_USER
    (line,) = logged(logs, "subject.unconfirm_skipped")
    assert (line["user"], line["why"], line["domain"]) == (999, "no_such_user", None)


async def test_an_event_without_a_user_is_no_such_user(wiki: Wiki, make_action) -> None:
    """A suppressed event that names no user touches nothing and says so."""
    with capture_logs() as logs:
        assert await make_action(wiki.config()).send(suppressed(None)) is UnconfirmResult.NO_SUCH_USER
    assert logged(logs, "subject.unconfirm_skipped")[0]["why"] == "no_user"


async def test_a_concurrent_address_change_is_never_overwritten(wiki: Wiki, make_action) -> None:
    """The guarded UPDATE misses a row whose address changed after we read it; re-read, it is ADDRESS_CHANGED."""
    action = make_action(wiki.config())
    engine = action._engine(wiki.url())
    changed = []

    @sa_event.listens_for(engine.sync_engine, "before_cursor_execute")
    def change_address_first(conn, cursor, statement, parameters, context, executemany) -> None:
        if statement.lstrip().upper().startswith("UPDATE") and not changed:
            changed.append(statement)
            cursor.execute("UPDATE user SET user_email = 'alice@example.net' WHERE user_id = 42")

    assert await action.send(suppressed(42)) is UnconfirmResult.ADDRESS_CHANGED
    assert changed
    row = wiki.user(42)
    assert (row["user_email"], row["user_email_authenticated"], row["user_touched"]) == ("alice@example.net", CONFIRMED, TOUCHED)
    assert wiki.notices() == []


# --- CentralAuth -------------------------------------------------------------------------


async def test_central_auth_clears_the_global_confirmation_and_leaves_the_local_row(wiki: Wiki, make_action) -> None:
    """With CentralAuth an attached user's gu_email_authenticated is cleared (gu_cas_token bumped); the local row stays."""
    wiki.add_global("Alice", "alice@example.org", CONFIRMED)
    local = wiki.user(42)
    with capture_logs() as logs:
        result = await make_action(wiki.config(central_auth=True)).send(suppressed(42))
    assert result is UnconfirmResult.UNCONFIRMED
    row = wiki.global_user("Alice")
    assert (row["gu_email"], row["gu_email_authenticated"], row["gu_cas_token"]) == ("alice@example.org", None, 8)
    assert wiki.user(42) == local
    (line,) = logged(logs, "subject.unconfirmed")
    assert line["table"] == "globaluser"
    (notice,) = wiki.notices()
    assert notice["notification_user"] == 42


async def test_central_auth_not_attached_falls_back_to_the_local_row(wiki: Wiki, make_action) -> None:
    """A local account not attached to a global one on this wiki is unconfirmed locally, as the original does."""
    wiki.add_global("Alice", "alice@example.org", CONFIRMED, attached_to=("dewiki",))
    global_before = wiki.global_user("Alice")
    with capture_logs() as logs:
        result = await make_action(wiki.config(central_auth=True)).send(suppressed(42))
    assert result is UnconfirmResult.UNCONFIRMED
    assert wiki.global_user("Alice") == global_before
    assert wiki.user(42)["user_email_authenticated"] is None
    assert logged(logs, "subject.unconfirmed")[0]["table"] == "user"


async def test_central_auth_uses_the_configured_wiki_id(wiki: Wiki, make_action) -> None:
    """localuser is looked up under mediawiki.wiki_id when set, not under the tenant."""
    wiki.add_global("Alice", "alice@example.org", CONFIRMED, attached_to=("en_wikipedia",))
    await make_action(wiki.config(central_auth=True, wiki_id="en_wikipedia")).send(suppressed(42))
    assert wiki.global_user("Alice")["gu_email_authenticated"] is None
    assert wiki.user(42)["user_email_authenticated"] == CONFIRMED


async def test_central_auth_address_changed_globally(wiki: Wiki, make_action) -> None:
    """The global address is what counts with CentralAuth: if it is not a failed one nothing is written."""
    wiki.add_global("Alice", "alice@example.net", CONFIRMED)
    global_before, local_before = wiki.global_user("Alice"), wiki.user(42)
    assert await make_action(wiki.config(central_auth=True)).send(suppressed(42)) is UnconfirmResult.ADDRESS_CHANGED
    assert (wiki.global_user("Alice"), wiki.user(42), wiki.notices()) == (global_before, local_before, [])


async def test_central_auth_no_such_user(wiki: Wiki, make_action) -> None:
    """With CentralAuth a user id missing from the wiki is NO_SUCH_USER."""
    assert await make_action(wiki.config(central_auth=True)).send(suppressed(999)) is UnconfirmResult.NO_SUCH_USER


# --- Echo --------------------------------------------------------------------------------


async def test_echo_notice_is_stored_as_echo_stores_it(wiki: Wiki, make_action) -> None:
    """One echo_event of type unsubscribe-bouncehandler (PHP-serialized extra, no agent, no page) and its notification."""
    await make_action(wiki.config()).send(suppressed(42))
    (notice,) = wiki.notices()
    assert notice == {
        "event_id": notice["event_id"],
        "event_type": "unsubscribe-bouncehandler",
        "event_agent_id": None,
        "event_agent_ip": None,
        "event_extra": 'a:2:{s:14:"failed-user-id";s:2:"42";s:12:"failed-email";s:17:"alice@example.org";}',
        "event_page_id": None,
        "event_deleted": 0,
        "notification_event": notice["event_id"],
        "notification_user": 42,
        "notification_timestamp": NOW,
        "notification_read_timestamp": None,
        "notification_bundle_hash": "",
    }


async def test_echo_extra_names_the_stored_address(wiki: Wiki, make_action) -> None:
    """failed-email is the address as the wiki stores it (here with an upper-case domain), as the extension passes it."""
    await make_action(wiki.config()).send(suppressed(43, "bob@example.org"))
    (notice,) = wiki.notices()
    assert notice["event_extra"] == php_serialize({"failed-user-id": "43", "failed-email": "bob@Example.ORG"})


async def test_no_echo_notice_when_echo_is_off(wiki: Wiki, make_action) -> None:
    """With mediawiki.echo = false the user is unconfirmed and no Echo row is written."""
    assert await make_action(wiki.config(echo=False)).send(suppressed(42)) is UnconfirmResult.UNCONFIRMED
    assert wiki.notices() == []


@pytest.mark.parametrize(
    ("value", "serialized"),
    [
        pytest.param("abc", 's:3:"abc";', id="string"),
        pytest.param("é@exämple.org", 's:15:"é@exämple.org";', id="utf8-length-in-bytes"),
        pytest.param('a"b', 's:3:"a"b";', id="quotes-not-escaped"),
        pytest.param(7, "i:7;", id="int"),
        pytest.param({"k": 1, "l": "v"}, 'a:2:{s:1:"k";i:1;s:1:"l";s:1:"v";}', id="array"),
        pytest.param({}, "a:0:{}", id="empty-array"),
    ],
)
def test_php_serialize_matches_php(value, serialized: str) -> None:
    """php_serialize writes what PHP's serialize() writes for these shapes (lengths in bytes, no escaping)."""
    assert php_serialize(value) == serialized


def test_ts_mw_is_fourteen_digits_utc() -> None:
    """TS_MW is YYYYMMDDHHMMSS in UTC, whatever the datetime's zone."""
    assert ts_mw(datetime(2026, 11, 21, 13, 0, 5, tzinfo=timezone(timedelta(hours=1)))) == "20261121120005"


def test_same_address_rule() -> None:
    """same_address: exact local part, case-insensitive domain, exact comparison without an '@'."""
    assert same_address("a@Example.org", "a@example.ORG")
    assert not same_address("A@example.org", "a@example.org")
    assert not same_address("postmaster", "Postmaster")


# --- where the tables are ------------------------------------------------------------------


async def test_table_prefix_applies_to_the_wiki_and_echo_tables(tmp_path: Path, make_action) -> None:
    """With $wgDBprefix 'mw_' the action reads and writes mw_user, mw_echo_event and mw_echo_notification."""
    wiki = Wiki(tmp_path, prefix="mw_")
    with capture_logs() as logs:
        assert await make_action(wiki.config()).send(suppressed(42)) is UnconfirmResult.UNCONFIRMED
    assert wiki.user(42)["user_email_authenticated"] is None
    assert len(wiki.notices()) == 1
    assert logged(logs, "subject.unconfirmed")[0]["table"] == "mw_user"


async def test_separate_echo_and_central_auth_databases(tmp_path: Path, make_action) -> None:
    """CentralAuth's tables and Echo's may each live in their own database."""
    wiki = Wiki(tmp_path, echo_file="echo.sqlite3", central_file="centralauth.sqlite3")
    wiki.add_global("Alice", "alice@example.org", CONFIRMED)
    config = wiki.config(central_auth=True, central_auth_database_url=wiki.url(wiki.central_path), echo_database_url=wiki.url(wiki.echo_path))
    assert await make_action(config).send(suppressed(42)) is UnconfirmResult.UNCONFIRMED
    assert wiki.global_user("Alice")["gu_email_authenticated"] is None
    assert wiki.user(42)["user_email_authenticated"] == CONFIRMED
    (notice,) = wiki.notices()
    assert notice["notification_user"] == 42


async def test_separate_echo_database_on_the_local_path(tmp_path: Path, make_action) -> None:
    """Without CentralAuth the notice still goes to mediawiki.echo_database_url."""
    wiki = Wiki(tmp_path, echo_file="echo.sqlite3")
    assert await make_action(wiki.config(echo_database_url=wiki.url(wiki.echo_path))).send(suppressed(42)) is UnconfirmResult.UNCONFIRMED
    assert len(wiki.notices()) == 1


# --- what it does not act on -------------------------------------------------------------


@pytest.mark.parametrize("type", [t for t in EventType if t is not EventType.SUBJECT_SUPPRESSED], ids=str)
async def test_a_non_suppressed_event_does_nothing(wiki: Wiki, make_action, type: EventType) -> None:
    """Only subject.suppressed acts; every other event returns None and writes nothing."""
    before = wiki.user(42)
    assert await make_action(wiki.config()).send(suppressed(42, type=type)) is None
    assert wiki.user(42) == before
    assert wiki.notices() == []


async def test_a_tenant_without_a_wiki_does_nothing(wiki: Wiki, make_action) -> None:
    """No mediawiki configuration for the tenant: None, nothing written."""
    before = wiki.user(42)
    assert await make_action(wiki.config()).send(suppressed(42, tenant="dewiki")) is None
    assert wiki.user(42) == before


# --- failures ------------------------------------------------------------------------------


async def test_a_database_error_raises_action_error_naming_the_database_and_step(tmp_path: Path, make_action) -> None:
    """A missing table is an ActionError that names the database and what was being done."""
    empty = tmp_path / "empty.sqlite3"
    sqlite3.connect(empty).close()
    config = Wiki(tmp_path).config(database_url=f"sqlite+aiosqlite:///{empty}")
    with pytest.raises(ActionError) as raised:
        await make_action(config).send(suppressed(42))
    message = str(raised.value)
    assert str(empty) in message and "unconfirming user 42 in user" in message and "no such table" in message


async def test_an_echo_failure_rolls_back_the_unconfirmation(tmp_path: Path, make_action) -> None:
    """In one database the notice and the unconfirmation commit together: without Echo's tables neither is written."""
    wiki = Wiki(tmp_path)
    Wiki.run(wiki.path, "DROP TABLE echo_notification")
    with pytest.raises(ActionError):
        await make_action(wiki.config()).send(suppressed(42))
    assert wiki.user(42)["user_email_authenticated"] == CONFIRMED


async def test_action_error_hides_the_password(tmp_path: Path, make_action) -> None:
    """The database named in an ActionError never shows its password."""
    config = Wiki(tmp_path).config(database_url=f"sqlite+aiosqlite://wiki:s3cret@/{tmp_path}/missing/dir/wiki.sqlite3")
    with pytest.raises(ActionError) as raised:
        await make_action(config).send(suppressed(42))
    assert "s3cret" not in str(raised.value) and "***" in str(raised.value)
