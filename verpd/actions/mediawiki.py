"""Clear a wiki user's email confirmation, as Extension:BounceHandler does, without its bugs.

What the extension does (wikimedia/mediawiki-extensions-BounceHandler@360a47ba
includes/BounceHandlerActions.php:136-159, ``unSubscribeUser``): with CentralAuth
loaded and the local account attached to a global one, it clears
``globaluser.gu_email_authenticated`` (``CentralAuthUser::setEmailAuthenticationTimestamp(null)``
and ``saveSettings()``) and has a job create the Echo notice on the wiki; otherwise it
clears the local ``user.user_email_authenticated`` (``User::setEmailAuthenticationTimestamp(null)``
and ``saveSettings()``) and creates the Echo notice directly. The address is kept: since
5f08e79 (2015, "Don't erase the email addresses on a wiki without CentralAuth") it no
longer calls ``User::invalidateEmail()``, which also blanks ``user_email``.

What we do differently:

* The original unconfirms whatever address the user has *now*, even when the bounces
  were for an old one. We act only when the stored address is one of the event's failed
  addresses (domain compared case-insensitively, local part exactly), and every UPDATE
  repeats that guard in its WHERE clause, so an address changed concurrently is never
  unconfirmed.
* Each UPDATE is a compare-and-set like MediaWiki's own: the local row on
  ``user_touched`` (core ``User::makeUpdateConditions``), the global row on
  ``gu_cas_token`` (CentralAuth ``CentralAuthUser::saveSettings``). We bump the same
  column MediaWiki bumps, so a PHP request still holding the old row fails its own CAS
  instead of writing the confirmation back. A lost race is re-read and re-judged.
* We also clear ``user_email_token``/``user_email_token_expires`` as
  ``User::invalidateEmail()`` does, so a confirmation link mailed earlier cannot
  re-confirm the dead address (the address itself stays).
* An already unconfirmed user is left alone: no write, no second Echo notice.

Sources (table layouts are those of each project's ``sql/sqlite/tables-generated.sql``):

* core wikimedia/mediawiki@7be40dfa includes/user/User.php: ``saveSettings`` (writes
  the user row with ``user_touched = newTouchedTimestamp()`` under
  ``makeUpdateConditions``' ``user_touched = <as loaded>``), ``newTouchedTimestamp``
  (``max(now, old + 1 s)`` as TS_MW), ``invalidateEmail``, ``setEmailAuthenticationTimestamp``;
  wikimedia/mediawiki@ddcfcf2b sql/sqlite/tables-generated.sql (``user``).
* wikimedia/mediawiki-extensions-CentralAuth@89c06419 includes/User/CentralAuthUser.php:347-363
  (``localuser`` joined on ``gu_name = lu_name AND lu_wiki = <wiki>``), :576 (attached
  means that row exists), :3136-3143, :3258-3322 (``saveSettings``: ``gu_cas_token + 1``
  where ``gu_cas_token = <as loaded>``); includes/CentralAuthHooks.php:393-404 (an
  unattached account's confirmation is the local one, which is why the original falls
  back to the local row); schema/sqlite/tables-generated.sql:20-52.
* wikimedia/mediawiki-extensions-Echo@b3765b15 includes/Model/Event.php:135-238
  (``create``/``toDbArray``: no agent, no page, ``event_deleted`` 0), :493-520 (``extra``
  is JSON since 1.45, f0218ad9; PHP-serialized ``extra`` is still read);
  includes/Model/Notification.php:49-72, :130-134 (notification timestamp = event
  timestamp, bundle hash ``''`` unless the type bundles on the web);
  includes/Mapper/NotificationMapper.php:29-53; extension.json:637-640 (category
  ``system-noemail``: web only); sql/sqlite/tables-generated.sql:5-37.
* BounceHandler includes/BounceHandlerActions.php:94-104 (type
  ``unsubscribe-bouncehandler``, extra ``failed-user-id``, ``failed-email``),
  includes/EchoHooks.php:30-51 (no ``bundle``; recipient from ``failed-user-id``),
  includes/ProcessBounceEmails.php:156 (the id is ``base_convert()``'s string).

Not done (MediaWiki's caches live in memcached, out of our reach): the user object cache
(up to an hour) and Echo's notification-count cache (up to a day) are not purged, so the
wiki may show the old state until they expire.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from verpd.actions import ActionError
from verpd.config import MediaWikiConfig
from verpd.events import Event, EventType

__all__ = ["ECHO_EVENT_TYPE", "MediaWikiUnconfirm", "UnconfirmResult", "php_serialize", "same_address", "ts_mw"]

log = structlog.get_logger("verpd.actions.mediawiki")

ECHO_EVENT_TYPE = "unsubscribe-bouncehandler"  # BounceHandler includes/EchoHooks.php:30
CAS_ATTEMPTS = 3  # a row that changes under us this often is left to the outbox's retry


class UnconfirmResult(enum.StrEnum):
    """What one ``subject.suppressed`` event did to the wiki."""

    UNCONFIRMED = "unconfirmed"  # the failed address was confirmed; now it is not (and the Echo notice was created)
    ALREADY = "already"  # the failed address was already unconfirmed: nothing written, no second notice
    ADDRESS_CHANGED = "address_changed"  # the user's address is none of the failed ones: left alone (the original's bug)
    NO_SUCH_USER = "no_such_user"  # no user row with that id on the wiki


@dataclass(frozen=True)
class _Outcome:
    result: UnconfirmResult
    table: str
    address: str | None = None  # UNCONFIRMED: the failed address that matched
    current_domain: str | None = None  # skipped: the domain of the stored address (never the address)


class MediaWikiUnconfirm:
    """The ``mediawiki`` action: clears the confirmation of a suppressed user's failed address."""

    def __init__(self, config_for: Callable[[str], MediaWikiConfig | None], clock: Callable[[], datetime]) -> None:
        self._config_for = config_for
        self._clock = clock
        self._engines: dict[str, AsyncEngine] = {}

    async def send(self, event: Event) -> UnconfirmResult | None:
        """Act on a ``subject.suppressed`` event; any other event, or a tenant without a wiki, is None."""
        if event.type is not EventType.SUBJECT_SUPPRESSED:
            return None
        config = self._config_for(event.tenant)
        if config is None:
            return None
        if event.user is None:
            log.warning("subject.unconfirm_skipped", tenant=event.tenant, user=None, why="no_user", domain=None)
            return UnconfirmResult.NO_SUCH_USER
        now = self._clock()
        outcome = None
        if config.central_auth:
            outcome = await self._unconfirm_global(event, event.user, config, now)
        if outcome is None:  # no CentralAuth, or the local account is not attached to a global one
            outcome = await self._unconfirm_local(event, event.user, config, now)
        if outcome.result is UnconfirmResult.UNCONFIRMED:
            log.info("subject.unconfirmed", tenant=event.tenant, user=event.user, address=outcome.address, table=outcome.table)
        else:
            log.info(
                "subject.unconfirm_skipped",
                tenant=event.tenant,
                user=event.user,
                why=outcome.result.value,
                domain=outcome.current_domain,
                table=outcome.table,
            )
        return outcome.result

    async def aclose(self) -> None:
        """Dispose of every engine this action opened."""
        engines, self._engines = list(self._engines.values()), {}
        for engine in engines:
            await engine.dispose()

    def _engine(self, url: str) -> AsyncEngine:
        engine = self._engines.get(url)
        if engine is None:
            with _step(url, "opening the database"):
                engine = create_async_engine(url, pool_pre_ping=True, pool_recycle=3600)
            self._engines[url] = engine
        return engine

    # --- the local path: user.user_email_authenticated --------------------------------

    async def _unconfirm_local(self, event: Event, user_id: int, config: MediaWikiConfig, now: datetime) -> _Outcome:
        url = config.database_url
        engine = self._engine(url)
        t = _tables(config.table_prefix, engine.dialect.name)
        user = t.user
        for _ in range(CAS_ATTEMPTS):
            with _step(url, f"unconfirming user {user_id} in {user.name}"):
                async with engine.begin() as conn:
                    row = (
                        await conn.execute(
                            sa.select(user.c.user_email, user.c.user_email_authenticated, user.c.user_touched).where(user.c.user_id == user_id)
                        )
                    ).first()
                    if row is None:
                        return _Outcome(UnconfirmResult.NO_SUCH_USER, user.name)
                    email = _text(row.user_email)
                    failed, skip = _judge(email, row.user_email_authenticated, event.addresses, user.name)
                    if skip is not None:
                        return skip
                    done = await conn.execute(
                        sa.update(user)
                        .where(
                            user.c.user_id == user_id,
                            user.c.user_email == row.user_email,  # the value as read: a changed address is never touched
                            user.c.user_email_authenticated.is_not(None),
                            user.c.user_touched == row.user_touched,  # MediaWiki's CAS (User::makeUpdateConditions)
                        )
                        .values(
                            user_email_authenticated=None,
                            user_email_token=None,  # as User::invalidateEmail: an old confirmation link stops working
                            user_email_token_expires=None,
                            user_touched=_db_timestamp(_new_touched(now, row.user_touched), conn),
                        )
                    )
                    if done.rowcount != 1:
                        continue  # changed since we read it: read it again
                    if config.echo:
                        await self._notify(conn, url, config, user_id, email, now)
                    return _Outcome(UnconfirmResult.UNCONFIRMED, user.name, address=failed)
        raise ActionError(f"mediawiki: user {user_id} in {user.name} on {_safe(url)} changed {CAS_ATTEMPTS} times while being unconfirmed")

    # --- the CentralAuth path: globaluser.gu_email_authenticated ----------------------

    async def _unconfirm_global(self, event: Event, user_id: int, config: MediaWikiConfig, now: datetime) -> _Outcome | None:
        """The global account's outcome, or None when the local account is not attached (then the local row counts)."""
        wiki_url = config.database_url
        wiki = self._engine(wiki_url)
        local = _tables(config.table_prefix, wiki.dialect.name).user
        with _step(wiki_url, f"reading the name of user {user_id} from {local.name}"):
            async with wiki.connect() as conn:
                raw_name = (await conn.execute(sa.select(local.c.user_name).where(local.c.user_id == user_id))).scalar()
        if raw_name is None:
            return _Outcome(UnconfirmResult.NO_SUCH_USER, local.name)
        name = _text(raw_name)
        wiki_id = config.wiki_id or event.tenant
        url = config.central_auth_database_url or config.database_url
        engine = self._engine(url)
        t = _tables("", engine.dialect.name)  # CentralAuth's tables are shared by every wiki: no $wgDBprefix
        gu, lu = t.globaluser, t.localuser
        for _ in range(CAS_ATTEMPTS):
            with _step(url, f"unconfirming the global account of user {user_id} in globaluser"):
                async with engine.begin() as conn:
                    row = (
                        await conn.execute(
                            sa.select(gu.c.gu_id, gu.c.gu_email, gu.c.gu_email_authenticated, gu.c.gu_cas_token)
                            .select_from(gu.join(lu, sa.and_(lu.c.lu_name == gu.c.gu_name, lu.c.lu_wiki == wiki_id)))
                            .where(gu.c.gu_name == name)
                        )
                    ).first()
                    if row is None:
                        return None
                    email = _text(row.gu_email)
                    failed, skip = _judge(email, row.gu_email_authenticated, event.addresses, gu.name)
                    if skip is not None:
                        return skip
                    done = await conn.execute(
                        sa.update(gu)
                        .where(
                            gu.c.gu_id == row.gu_id,
                            gu.c.gu_email == row.gu_email,
                            gu.c.gu_email_authenticated.is_not(None),
                            gu.c.gu_cas_token == row.gu_cas_token,  # CentralAuthUser::saveSettings' CAS
                        )
                        .values(gu_email_authenticated=None, gu_cas_token=gu.c.gu_cas_token + 1)
                    )
                    if done.rowcount != 1:
                        continue
                    if config.echo:  # on the wiki the bounce came from, for the local user (BounceHandlerNotificationJob)
                        await self._notify(conn, url, config, user_id, email, now)
                    return _Outcome(UnconfirmResult.UNCONFIRMED, gu.name, address=failed)
        raise ActionError(f"mediawiki: the global account of user {user_id} on {_safe(url)} changed {CAS_ATTEMPTS} times while being unconfirmed")

    # --- Echo ------------------------------------------------------------------------

    async def _notify(self, conn: AsyncConnection, conn_url: str, config: MediaWikiConfig, user_id: int, email: str, now: datetime) -> None:
        """Create the Echo notice in the unconfirming transaction, or in Echo's database while that transaction is open.

        In one database the notice and the unconfirmation commit together. In two, Echo's
        transaction commits just before the other: only a failed commit of the
        unconfirmation itself can leave a notice whose retry then writes a second one.
        """
        url = config.echo_database_url or config.database_url
        if url == conn_url:
            await _insert_echo_notice(conn, config.table_prefix, user_id, email, now)
            return
        with _step(url, f"creating the Echo notice for user {user_id}"):
            async with self._engine(url).begin() as echo:
                await _insert_echo_notice(echo, config.table_prefix, user_id, email, now)


async def _insert_echo_notice(conn: AsyncConnection, prefix: str, user_id: int, email: str, now: datetime) -> None:
    """The rows ``Event::create()`` and the web notifier write for ``unsubscribe-bouncehandler``."""
    t = _tables(prefix, conn.dialect.name)
    # BounceHandlerActions::createEchoNotification passes only type and extra: no agent, no
    # title, so event_agent_id, event_agent_ip and event_page_id stay NULL (Event::toDbArray).
    # failed-user-id is a string there (base_convert() in ProcessBounceEmails::getUserDetails).
    extra = php_serialize({"failed-user-id": str(user_id), "failed-email": email})
    inserted = await conn.execute(sa.insert(t.echo_event).values(event_type=ECHO_EVENT_TYPE, event_extra=extra, event_deleted=0))
    event_id = inserted.inserted_primary_key[0]
    await conn.execute(
        sa.insert(t.echo_notification).values(
            notification_event=event_id,
            notification_user=user_id,
            notification_timestamp=_db_timestamp(now, conn),
            notification_read_timestamp=None,
            notification_bundle_hash="",  # the type has no 'bundle' (EchoHooks.php:30-51), so Notification::insert keeps ''
        )
    )


# --- the tables ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Tables:
    user: sa.Table
    globaluser: sa.Table
    localuser: sa.Table
    echo_event: sa.Table
    echo_notification: sa.Table


@lru_cache(maxsize=64)
def _tables(prefix: str, dialect: str) -> _Tables:
    """The columns we read and write, under ``prefix`` ($wgDBprefix); untyped, so values pass as the driver gives them."""
    md = sa.MetaData()
    # MediaWiki on PostgreSQL names the user table mwuser ("user" is reserved there):
    # core's keywordTableMap [ 'user' => 'mwuser' ], applied before the prefix.
    user_table = "mwuser" if dialect == "postgresql" else "user"
    return _Tables(
        user=sa.Table(
            prefix + user_table,
            md,
            sa.Column("user_id", sa.Integer, primary_key=True),
            *(sa.Column(c) for c in ("user_name", "user_email", "user_touched", "user_email_authenticated", "user_email_token", "user_email_token_expires")),
            quote=True,
        ),
        globaluser=sa.Table(
            "globaluser",
            md,
            sa.Column("gu_id", sa.Integer, primary_key=True),
            sa.Column("gu_cas_token", sa.Integer),
            *(sa.Column(c) for c in ("gu_name", "gu_email", "gu_email_authenticated")),
        ),
        localuser=sa.Table("localuser", md, sa.Column("lu_wiki"), sa.Column("lu_name")),
        echo_event=sa.Table(
            prefix + "echo_event",
            md,
            sa.Column("event_id", sa.Integer, primary_key=True),
            *(sa.Column(c) for c in ("event_type", "event_agent_id", "event_agent_ip", "event_extra", "event_page_id", "event_deleted")),
        ),
        echo_notification=sa.Table(
            prefix + "echo_notification",
            md,
            *(
                sa.Column(c)
                for c in ("notification_event", "notification_user", "notification_timestamp", "notification_read_timestamp", "notification_bundle_hash")
            ),
        ),
    )


# --- values ------------------------------------------------------------------------------


def php_serialize(value: str | int | dict[str, str | int]) -> str:
    """PHP's ``serialize()`` of a string, an int, or an array of them with string keys.

    The format Echo stored ``event_extra`` in before 1.45 and still reads
    (Event::deserializeExtra). String lengths are in UTF-8 bytes, as PHP counts them.
    """
    if isinstance(value, bool):
        raise TypeError("php_serialize takes str, int or a dict of them")
    if isinstance(value, int):
        return f"i:{value};"
    if isinstance(value, str):
        return f's:{len(value.encode("utf-8"))}:"{value}";'
    if isinstance(value, dict):
        items = "".join(php_serialize(k) + php_serialize(v) for k, v in value.items())
        return f"a:{len(value)}:{{{items}}}"
    raise TypeError(f"php_serialize cannot serialize {type(value).__name__}")


def ts_mw(value: datetime) -> str:
    """MediaWiki's TS_MW timestamp: ``YYYYMMDDHHMMSS`` in UTC."""
    return value.astimezone(UTC).strftime("%Y%m%d%H%M%S")


def same_address(stored: str, failed: str) -> bool:
    """Whether two addresses are the same mailbox: the local part exactly, the domain in any case."""
    s_local, s_at, s_domain = stored.rpartition("@")
    f_local, f_at, f_domain = failed.rpartition("@")
    if not (s_at and f_at):
        return stored == failed
    return s_local == f_local and s_domain.lower() == f_domain.lower()


def _judge(email: str, authenticated: object, failed_addresses: tuple[str, ...], table: str) -> tuple[str, _Outcome | None]:
    """The failed address the stored ``email`` is, or why nothing is to be done: the user changed
    the address since (the original's bug was to unconfirm it anyway), or it is not confirmed now."""
    failed = _matching(email, failed_addresses)
    if failed is None:
        return "", _Outcome(UnconfirmResult.ADDRESS_CHANGED, table, current_domain=_domain(email))
    if authenticated is None:
        return failed, _Outcome(UnconfirmResult.ALREADY, table, current_domain=_domain(email))
    return failed, None


def _matching(stored: str, failed: tuple[str, ...]) -> str | None:
    """The failed address that is the stored one, if any."""
    if not stored:
        return None
    return next((f for f in failed if same_address(stored, f)), None)


def _domain(address: str) -> str | None:
    """The domain of an address (lower-cased), all a skip log says about it."""
    local, at, domain = address.rpartition("@")
    return domain.lower() if at else None


def _text(value: Any) -> str:
    """A text column's value as str (MySQL's binary columns come back as bytes)."""
    if value is None:
        return ""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", "replace")
    return str(value)


def _unix(value: Any) -> int | None:
    """A stored MediaWiki timestamp (TS_MW text, or a PostgreSQL timestamptz) in Unix seconds."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return int((value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp())
    text = _text(value).strip()
    if len(text) != 14 or not text.isdigit():
        return None
    return int(datetime.strptime(text, "%Y%m%d%H%M%S").replace(tzinfo=UTC).timestamp())


def _new_touched(now: datetime, old: Any) -> datetime:
    """User::newTouchedTimestamp: now, but always at least a second past the stored value."""
    seconds = int(now.timestamp())
    previous = _unix(old)
    if previous is not None:
        seconds = max(seconds, previous + 1)
    return datetime.fromtimestamp(seconds, UTC)


def _db_timestamp(value: datetime, conn: AsyncConnection) -> Any:
    """``$dbw->timestamp()``: TS_MW on MySQL/MariaDB and SQLite, a timestamptz on PostgreSQL."""
    return value.astimezone(UTC) if conn.dialect.name == "postgresql" else ts_mw(value)


def _safe(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


@contextmanager
def _step(url: str, what: str) -> Iterator[None]:
    """Turn a database failure into an ActionError naming the database and the step."""
    try:
        yield
    except SQLAlchemyError as e:
        cause = getattr(e, "orig", None) or e  # the driver's own message, without SQLAlchemy's statement and parameters
        raise ActionError(f"mediawiki: {what} on {_safe(url)} failed: {type(cause).__name__}: {cause}") from e
    except OSError as e:
        raise ActionError(f"mediawiki: {what} on {_safe(url)} failed: {type(e).__name__}: {e}") from e
