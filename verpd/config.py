"""One TOML file to frozen, typed, validated configuration objects.

``load(path)`` reads and validates the whole file at once and raises
:class:`~verpd.errors.ConfigError` listing *every* problem, each with its key path
and how to fix it. The result is passed explicitly to whoever needs it; nothing
here is global. ``config.example.toml`` documents every key.

Value syntaxes:
- durations: ``"7d"``, ``"72h"``, ``"30m"``, ``"10s"``, or a number of seconds;
- sizes: ``"10MiB"``, ``"512KiB"``, ``"1GB"``, or a number of bytes;
- secrets: inline ``secrets = [...]``, ``secrets_file = "path"`` (one per line) or
  ``secrets_env = "VARIABLE"`` (one per line of the variable's value).
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import importlib.util
import hmac
import ipaddress
import os
import re
import socket
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from verpd.errors import ConfigError, ConfigProblem
from verpd.events import EventType
from verpd.model import VerpFormat

# The secret shipped in config.example.toml, and MediaWiki's public default
# ($wgVERPsecret = "MediawikiVERP"): anyone can sign VERP addresses with these.
DEMO_SECRET = "demo-secret-CHANGE-ME-verpd-example"
PUBLIC_SECRETS = frozenset({DEMO_SECRET, "MediawikiVERP"})
MIN_SECRET_BYTES = 16
DEFAULT_MAX_RECIPIENTS = 1000  # parse.max_recipients; the same as verpd.parse.MAX_RECIPIENTS (a lower layer cannot import it)

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
T = TypeVar("T")


@dataclass(frozen=True)
class HostPort:
    """A TCP endpoint such as ``127.0.0.1:8024`` or ``[::1]:8024``."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True)
class Secret:
    """A VERP signing key. Its value never appears in a repr, a log line or an error."""

    value: bytes = field(repr=False)

    def __repr__(self) -> str:
        return "Secret(<hidden>)"


@dataclass(frozen=True)
class ServerConfig:
    lmtp: HostPort
    smtp: HostPort | None
    allowed_clients: tuple[IPNetwork, ...]
    max_message_size: int  # bytes
    hostname: str
    shutdown_timeout: int  # seconds to let in-flight transactions finish on SIGTERM
    max_recipients: int = 100  # recipients one transaction may name; beyond it "452 4.5.3" (RFC 5321 §4.5.3.1.8)
    # Limits on one client's hold on the daemon (README "Limits"); each closes with a 421.
    max_connections: int = 200  # LMTP and SMTP connections open at once; beyond it "421 4.3.2"
    backlog: int = 1024  # listen() queue of each listener
    idle_timeout: int = 60  # seconds without a command before "421 4.4.2"
    connection_lifetime: int = 600  # seconds a connection may live (checked at each command outside a transaction)
    max_commands: int = 10_000  # commands one connection may send (checked likewise)
    data_timeout: int = 120  # seconds the whole DATA body may take to arrive
    max_errors: int = 20  # error replies without a delivered message before "421 4.7.0"
    write_wait: float = 5.0  # seconds a message may wait for the database write path before "451 4.3.2" (busy)


@dataclass(frozen=True)
class DatabaseConfig:
    url: str
    busy_timeout: int  # seconds SQLite waits for a lock before the write fails (451)
    connect_timeout: float = 5.0  # PostgreSQL: seconds to open a connection
    statement_timeout: float = 10.0  # PostgreSQL: seconds one statement may run (well under the MTA's LMTP timeout)
    pool_size: int = 5  # PostgreSQL: connections kept open
    max_overflow: int = 5  # PostgreSQL: extra connections under load
    auto_upgrade: bool = False  # serve upgrades an outdated schema itself instead of refusing to start


@dataclass(frozen=True)
class VerpConfig:
    format: VerpFormat
    prefix: str
    domain: str  # compared case-insensitively
    algorithm: str
    secrets: tuple[Secret, ...]  # the first signs, all verify
    accept_time: int  # seconds a VERP address stays valid after its send time
    clock_skew: int  # seconds a send time may lie in the future


@dataclass(frozen=True)
class PolicyConfig:
    limit: int
    period: int  # seconds
    max_age: int  # seconds; 0 disables pruning
    act: bool
    prune_interval: int  # seconds
    prune_batch: int  # rows per DELETE
    soft_weight: float = 0.0  # what one soft bounce counts toward limit (a hard one counts 1)
    complaint_action: bool = True  # an ARF abuse complaint acts at once
    accept_time: int = 3 * 86400  # a bounce of mail sent longer ago than this never counts
    raw_retention: int = 7 * 86400  # seconds the raw bounce is kept for review; 0 keeps none
    max_failed_per_message: int = 10  # distinct failed addresses stored for one sent message (VERP address)


@dataclass(frozen=True)
class TroubleConfig:
    """When refusals that are about us (blocked IP, reputation, SPF, ...) from one domain make an episode."""

    window: int  # seconds looked back
    min_count: int  # at least this many such refusals from the domain in the window
    share: float  # and at least this share of all its failures in the window


@dataclass(frozen=True)
class WebhookConfig:
    url: str
    secret: Secret  # signs X-Verpd-Signature
    events: frozenset[EventType]
    timeout: int  # seconds for the whole request


@dataclass(frozen=True)
class CommandConfig:
    argv: tuple[str, ...]  # the program and its arguments; the event is its stdin
    events: frozenset[EventType]
    timeout: int  # seconds before it is killed (and retried)


@dataclass(frozen=True)
class MediaWikiConfig:
    """The wiki's database, to clear a user's email confirmation as Extension:BounceHandler does."""

    database_url: str  # SQLAlchemy URL of the wiki's database (its ``user`` table)
    wiki_id: str | None  # the wiki's id in CentralAuth's localuser (default: the tenant)
    central_auth: bool  # clear globaluser.gu_email_authenticated instead of user.user_email_authenticated
    central_auth_database_url: str | None  # where CentralAuth's globaluser/localuser are (default: database_url)
    echo: bool  # also create the Echo notice "unsubscribe-bouncehandler"
    echo_database_url: str | None  # where Echo's tables are (default: database_url)
    table_prefix: str  # $wgDBprefix


@dataclass(frozen=True)
class ActionsConfig:
    """The side effects of events, globally or for one tenant."""

    webhook: WebhookConfig | None = None
    command: CommandConfig | None = None
    mediawiki: MediaWikiConfig | None = None


@dataclass(frozen=True)
class OutboxConfig:
    retry_min: int  # seconds before the first retry of a failed action
    retry_max: int  # cap of the exponential backoff
    max_attempts: int  # then the row is dead-lettered (verpd outbox retry ID brings it back)
    lease: int = 120  # seconds an item a daemon claimed is its own; if the daemon dies, another retries it after this


@dataclass(frozen=True)
class DkimSigning:
    key_file: Path
    selector: str
    domain: str


@dataclass(frozen=True)
class DkimConfig:
    authserv_id: str | None  # trust our own MTA's Authentication-Results with this authserv-id
    timeout: int  # seconds for one verification (DNS included)
    require_for_complaints: bool  # a complaint without a DKIM pass is recorded but does not act
    sign: DkimSigning | None  # sign forwards to the admins


@dataclass(frozen=True)
class TenantConfig:
    """What one tenant (site or wiki) overrides: VERP, policy and actions."""

    verp: VerpConfig
    policy: PolicyConfig
    actions: ActionsConfig


@dataclass(frozen=True)
class ForwardConfig:
    to: tuple[str, ...]
    relay: HostPort
    sender: str  # the From: of forwarded mail; the envelope sender is always <>
    autoreplies: bool  # also forward auto-replies and challenge-responses (never recorded as bounces)
    retry_min: int  # seconds before the first retry after a failed send
    retry_max: int  # cap of the exponential backoff


@dataclass(frozen=True)
class ParseConfig:
    max_recipients: int  # recipients one report may name; the rest are summed up in one record


@dataclass(frozen=True)
class LogConfig:
    level: str
    format: str  # "json" or "console"
    addresses: str = "pseudonym"  # how log lines show mail addresses: "pseudonym", "full" or "domain"


@dataclass(frozen=True)
class HttpConfig:
    """The HTTP intake (MediaWiki's api.php curl pipe), /metrics, /healthz and /v1/subjects."""

    listen: HostPort | None  # None: off
    token: Secret | None  # bearer token for api.php and /v1 (None: none needed)
    trusted_proxies: tuple[IPNetwork, ...]  # peers whose X-Forwarded-For is believed
    metrics: bool  # serve GET /metrics


@dataclass(frozen=True)
class Config:
    server: ServerConfig
    database: DatabaseConfig
    verp: VerpConfig
    policy: PolicyConfig
    forward: ForwardConfig
    log: LogConfig
    parse: ParseConfig = ParseConfig(DEFAULT_MAX_RECIPIENTS)
    source: str = "<defaults>"
    actions: ActionsConfig = ActionsConfig()
    outbox: OutboxConfig = OutboxConfig(60, 3600, 12)
    dkim: DkimConfig = DkimConfig(None, 10, False, None)
    trouble: TroubleConfig = TroubleConfig(3600, 20, 0.5)
    tenants: dict[str, TenantConfig] = field(default_factory=dict)
    http: HttpConfig = HttpConfig(None, None, (), True)

    def tenant(self, tenant: str) -> TenantConfig:
        """The configuration ``tenant`` runs with: its own overrides, else the global sections."""
        found = self.tenants.get(tenant)
        return found if found is not None else TenantConfig(self.verp, self.policy, self.actions)

    def warnings(self) -> list[str]:
        """Things that work but should not go to production as they are."""
        found = []
        for i, secret in enumerate(self.verp.secrets):
            text = secret.value.decode("utf-8", "replace")
            if text in PUBLIC_SECRETS:
                found.append(
                    f"verp.secrets[{i}] is a publicly known demo value: anyone can forge "
                    "bounces for your users. Generate one with: "
                    "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
                )
            elif len(secret.value) < MIN_SECRET_BYTES:
                found.append(
                    f"verp.secrets[{i}] is shorter than {MIN_SECRET_BYTES} bytes; use a long random secret"
                )
        return found

    def with_overrides(self, *, lmtp: str | None = None, database_url: str | None = None) -> Config:
        """This configuration with command-line overrides applied (validated like the file)."""
        problems: list[ConfigProblem] = []
        server, database = self.server, self.database
        if lmtp is not None:
            endpoint = _parse_hostport(lmtp, "--lmtp", problems)
            if endpoint is not None:
                server = dataclasses.replace(server, lmtp=endpoint)
        if database_url is not None:
            url = _parse_database_url(database_url, "--database", Path.cwd(), problems)
            if url is not None:
                database = dataclasses.replace(database, url=url)
        if problems:
            raise ConfigError("command line", problems)
        return dataclasses.replace(self, server=server, database=database)


def load(path: str | os.PathLike[str], environ: dict[str, str] | None = None) -> Config:
    """Read, validate and return the configuration in ``path``."""
    path = Path(path)
    source = str(path)
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(source, [ConfigProblem("", "file not found; pass --config PATH (see config.example.toml)")]) from None
    except OSError as e:
        raise ConfigError(source, [ConfigProblem("", f"cannot read: {e.strerror}")]) from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(source, [ConfigProblem("", f"not valid TOML: {e}")]) from None
    return from_dict(data, source=source, base_dir=path.resolve().parent, environ=environ)


def from_dict(
    data: dict[str, Any],
    *,
    source: str = "<dict>",
    base_dir: Path | None = None,
    environ: dict[str, str] | None = None,
) -> Config:
    """Validate an already-parsed TOML document. Relative paths resolve against ``base_dir``."""
    base_dir = base_dir or Path.cwd()
    environ = os.environ if environ is None else environ
    problems: list[ConfigProblem] = []
    root = _Table(data, "", problems)
    sections = {
        name: root.table(name)
        for name in ("server", "database", "verp", "policy", "forward", "log", "parse", "outbox", "dkim", "trouble", "http", *TENANT_SECTIONS[2:])
    }
    tenant_tables = root.table("tenants")
    root.finish()

    server = _server(sections["server"])
    database = _database(sections["database"], base_dir)
    verp = _verp(sections["verp"], base_dir, environ)
    policy = _policy(sections["policy"])
    forward = _forward(sections["forward"])
    log = _log(sections["log"])
    parse = _parse(sections["parse"])
    outbox = _outbox(sections["outbox"], sections["forward"])
    dkim = _dkim(sections["dkim"], base_dir)
    trouble = _trouble(sections["trouble"])
    http = _http(sections["http"], base_dir, environ)
    actions = _actions(sections, base_dir, environ)
    for table in sections.values():
        table.finish()
    tenants = _tenants(tenant_tables, data, base_dir, environ)
    if outbox is not None:
        _actions_fit_the_lease(outbox, [actions, *(t.actions for t in tenants.values())], problems)
    if problems:
        raise ConfigError(source, problems)
    return Config(
        server, database, verp, policy, forward, log, parse, source,  # type: ignore[arg-type]
        actions=actions, outbox=outbox, dkim=dkim, trouble=trouble, tenants=tenants, http=http,  # type: ignore[arg-type]
    )


def _actions_fit_the_lease(outbox: OutboxConfig, every: list[ActionsConfig], problems: list[ConfigProblem]) -> None:
    """An action must end (or time out) within the outbox lease, or a second daemon could carry it out too."""
    for actions in every:
        for key, action in (("webhook.timeout", actions.webhook), ("command.timeout", actions.command)):
            if action is not None and action.timeout >= outbox.lease:
                problems.append(ConfigProblem(key, f"{action.timeout} s is not shorter than outbox.lease ({outbox.lease} s): "
                                              "shorten it or lengthen outbox.lease, or another daemon may repeat the action"))
                return


# The sections a [tenants.<id>] table may override; each of its keys replaces the global one.
TENANT_SECTIONS = ("verp", "policy", "webhook", "command", "mediawiki")
_SECRET_KEYS = {"verp": ("secrets", "secrets_file", "secrets_env"), "webhook": ("secret", "secret_file", "secret_env")}


def _tenants(t: _Table, data: dict[str, Any], base_dir: Path, environ: dict[str, str]) -> dict[str, TenantConfig]:
    """``[tenants.<id>]``: each section merged key by key over the global one, then validated alike."""
    found: dict[str, TenantConfig] = {}
    for tenant in list(t.data):
        own = t.table(tenant)
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,255}", tenant):
            t.problem(tenant, f"tenant id {tenant!r} may hold only letters, digits, '_', '-' and '.'")
            continue
        merged: dict[str, _Table] = {}
        for name in TENANT_SECTIONS:
            base = dict(data.get(name) or {}) if isinstance(data.get(name) or {}, dict) else {}
            override = own.data.get(name)
            own.seen.add(name)
            if isinstance(override, dict):
                if any(k in override for k in _SECRET_KEYS.get(name, ())):  # the tenant's secret replaces, never adds to, the global one
                    base = {k: v for k, v in base.items() if k not in _SECRET_KEYS[name]}
                base.update(override)
            elif override is not None:
                own.problem(name, f"expected a table [tenants.{tenant}.{name}]")
            merged[name] = _Table(base, f"tenants.{tenant}.{name}", t.problems)
        own.finish()
        verp = _verp(merged["verp"], base_dir, environ)
        policy = _policy(merged["policy"])
        actions = _actions(merged, base_dir, environ)
        for table in merged.values():
            table.finish()
        if verp is not None and policy is not None:
            found[tenant] = TenantConfig(verp, policy, actions)
    return found


# --- sections -------------------------------------------------------------------------


def _server(t: _Table) -> ServerConfig | None:
    lmtp = t.get("lmtp", "127.0.0.1:8024", _hostport)
    smtp_text = t.get("smtp", "", _string)
    smtp = None
    if smtp_text:
        smtp = _parse_hostport(smtp_text, t.key("smtp"), t.problems)
    clients = t.get("allowed_clients", ["127.0.0.1/32", "::1/128"], _string_list)
    networks = []
    for i, text in enumerate(clients or []):
        try:
            networks.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            t.problem(f"allowed_clients[{i}]", f"{text!r} is not an IP address or CIDR network such as 127.0.0.1/32")
    size = t.get("max_message_size", "10MiB", _size)
    hostname = t.get("hostname", socket.gethostname() or "localhost", _string)
    shutdown = t.get("shutdown_timeout", "30s", _duration)
    max_recipients = t.get("max_recipients", 100, _positive_int)
    max_connections = t.get("max_connections", 200, _positive_int)
    backlog = t.get("backlog", 1024, _backlog)
    idle_timeout = _at_least_a_second(t, "idle_timeout", t.get("idle_timeout", "60s", _duration), "60s")
    lifetime = _at_least_a_second(t, "connection_lifetime", t.get("connection_lifetime", "10m", _duration), "10m")
    max_commands = t.get("max_commands", 10_000, _positive_int)
    data_timeout = _at_least_a_second(t, "data_timeout", t.get("data_timeout", "2m", _duration), "2m")
    max_errors = t.get("max_errors", 20, _positive_int)
    write_wait = _at_least_a_second(t, "write_wait", t.get("write_wait", "5s", _duration), "5s")
    limits = (max_connections, backlog, idle_timeout, lifetime, max_commands, data_timeout, max_errors, write_wait)
    if None in (lmtp, size, hostname, shutdown, max_recipients, *limits):
        return None
    return ServerConfig(lmtp, smtp, tuple(networks), size, hostname, shutdown, max_recipients, *limits)  # type: ignore[arg-type]


def _at_least_a_second(t: _Table, name: str, value: int | None, example: str) -> int | None:
    """``value`` unless it is under one second (a limit of 0 would close every connection at once)."""
    if value is not None and value < 1:
        t.problem(name, f"must be at least one second, e.g. \"{example}\"")
        return None
    return value


def _database(t: _Table, base_dir: Path) -> DatabaseConfig | None:
    text = t.get("url", "sqlite+aiosqlite:///var/verpd.sqlite3", _string)
    busy = t.get("busy_timeout", "5s", _duration)
    connect = t.get("connect_timeout", "5s", _duration)
    statement = t.get("statement_timeout", "10s", _duration)
    pool = t.get("pool_size", 5, _positive_int)
    overflow = t.get("max_overflow", 5, _non_negative_int)
    upgrade = t.get("auto_upgrade", False, _bool)
    url = _parse_database_url(text, t.key("url"), base_dir, t.problems) if text is not None else None
    for name, value in (("connect_timeout", connect), ("statement_timeout", statement)):
        if value is not None and value <= 0:
            t.problem(name, "must be longer than zero, e.g. \"5s\"")
            return None
    if None in (url, busy, connect, statement, pool, overflow, upgrade):
        return None
    return DatabaseConfig(url, busy, connect, statement, pool, overflow, upgrade)  # type: ignore[arg-type]


def _verp(t: _Table, base_dir: Path, environ: dict[str, str]) -> VerpConfig | None:
    fmt = t.get("format", "verpd", _enum(VerpFormat))
    prefix = t.get("prefix", "wiki", _string)
    domain = t.get("domain", None, _string)
    algorithm = t.get("algorithm", "sha256", _string)
    accept = t.get("accept_time", "3d", _duration)
    skew = t.get("clock_skew", "5m", _duration)
    secrets = _secrets(t, base_dir, environ)

    if domain is not None and not re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*", domain):
        t.problem("domain", f"{domain!r} is not a domain name such as bounces.example.org")
        domain = None
    if prefix is not None and fmt is not None:
        if fmt is VerpFormat.VERPD and not re.fullmatch(r"[a-z0-9]{1,16}", prefix):
            t.problem("prefix", f"{prefix!r}: the verpd format needs 1-16 characters of [a-z0-9]")
            prefix = None
        elif fmt is VerpFormat.MEDIAWIKI and not re.fullmatch(r"[A-Za-z0-9_.]+", prefix):
            t.problem("prefix", f"{prefix!r}: the mediawiki format needs [A-Za-z0-9_.] only (a '-' makes every address unverifiable)")
            prefix = None
    if algorithm is not None and (algorithm not in hashlib.algorithms_available or _hmac_size(algorithm) < 12):
        names = ", ".join(sorted(a for a in hashlib.algorithms_guaranteed if _hmac_size(a) >= 12))
        t.problem("algorithm", f"unknown or unusable hash {algorithm!r}; use one of {names}")
        algorithm = None
    if accept is not None and accept <= 0:
        t.problem("accept_time", "must be longer than zero, e.g. \"3d\"")
        accept = None
    if None in (fmt, prefix, domain, algorithm, accept, skew, secrets):
        if domain is None and "domain" not in t.data:
            t.problem("domain", "missing; set the domain your VERP addresses use, e.g. domain = \"bounces.example.org\"")
        return None
    return VerpConfig(fmt, prefix, domain, algorithm, secrets, accept, skew)  # type: ignore[arg-type]


def _hmac_size(algorithm: str) -> int:
    """Bytes of an HMAC with ``algorithm``; 0 if it cannot make one (e.g. shake_128 needs a length)."""
    try:
        return len(hmac.new(b"", b"", algorithm).digest())
    except (ValueError, TypeError):
        return 0


def _secrets(t: _Table, base_dir: Path, environ: dict[str, str]) -> tuple[Secret, ...] | None:
    inline = t.get("secrets", None, _secret_list)
    file_name = t.get("secrets_file", None, _string)
    env_name = t.get("secrets_env", None, _string)
    given = [k for k, v in (("secrets", inline), ("secrets_file", file_name), ("secrets_env", env_name)) if v is not None]
    if len(given) != 1:
        what = "none of them" if not given else " and ".join(given)
        t.problem("secrets", f"set exactly one of secrets, secrets_file or secrets_env (found {what})")
        return None
    values: list[str]
    if inline is not None:
        values, where = inline, "secrets"
    elif file_name is not None:
        path = Path(file_name)
        path = path if path.is_absolute() else base_dir / path
        try:
            values, where = _secret_lines(path.read_text("utf-8")), "secrets_file"
        except (OSError, UnicodeDecodeError) as e:
            t.problem(
                "secrets_file",
                f"cannot read {str(path)!r}: {getattr(e, 'strerror', None) or e}; "
                "fix the path (relative paths are relative to the configuration file) or create it, one secret per line",
            )
            return None
    else:
        assert env_name is not None
        if env_name not in environ:
            t.problem("secrets_env", f"environment variable {env_name} is not set; set it to one secret per line, or use secrets_file")
            return None
        values, where = _secret_lines(environ[env_name]), f"secrets_env ({env_name})"
    if not values:
        t.problem("secrets", f"{where} holds no secret; add at least one")
        return None
    for i, value in enumerate(values):
        if not value:
            t.problem(f"secrets[{i}]", "empty secret; use a long random string")
            return None
    return tuple(Secret(v.encode("utf-8")) for v in values)


def _secret_lines(text: str) -> list[str]:
    """One secret per line; blank lines and lines starting with '#' are ignored."""
    lines = (line.strip() for line in text.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def _policy(t: _Table) -> PolicyConfig | None:
    limit = t.get("limit", 10, _positive_int)
    period = t.get("period", "7d", _duration)
    max_age = t.get("max_age", "60d", _duration)
    act = t.get("act", False, _bool)
    interval = t.get("prune_interval", "1h", _duration)
    batch = t.get("prune_batch", 500, _positive_int)
    soft_weight = t.get("soft_weight", 0.0, _fraction)
    complaint_action = t.get("complaint_action", True, _bool)
    accept_time = t.get("accept_time", "3d", _duration)
    raw_retention = t.get("raw_retention", "7d", _duration)
    max_failed = t.get("max_failed_per_message", 10, _positive_int)
    if period is not None and period <= 0:
        t.problem("period", "must be longer than zero, e.g. \"7d\"")
        period = None
    if interval is not None and interval <= 0:
        t.problem("prune_interval", "must be longer than zero, e.g. \"1h\"")
        interval = None
    if accept_time is not None and accept_time <= 0:
        t.problem("accept_time", "must be longer than zero, e.g. \"3d\"")
        accept_time = None
    values = (limit, period, max_age, act, interval, batch, soft_weight, complaint_action, accept_time, raw_retention, max_failed)
    if None in values:
        return None
    return PolicyConfig(*values)  # type: ignore[arg-type]


def _trouble(t: _Table) -> TroubleConfig | None:
    window = t.get("window", "1h", _duration)
    min_count = t.get("min_count", 20, _positive_int)
    share = t.get("share", 0.5, _fraction)
    if window is not None and window <= 0:
        t.problem("window", "must be longer than zero, e.g. \"1h\"")
        window = None
    if None in (window, min_count, share):
        return None
    return TroubleConfig(window, min_count, share)  # type: ignore[arg-type]


def _outbox(t: _Table, forward: _Table) -> OutboxConfig | None:
    # forward.retry_min/retry_max came first (the outbox carried only forwards); they still set the default.
    retry_min = t.get("retry_min", forward.data.get("retry_min", "1m"), _duration)
    retry_max = t.get("retry_max", forward.data.get("retry_max", "1h"), _duration)
    attempts = t.get("max_attempts", 12, _positive_int)
    lease = t.get("lease", "2m", _duration)
    if retry_min is not None and retry_min <= 0:
        t.problem("retry_min", "must be longer than zero, e.g. \"1m\"")
        retry_min = None
    if lease is not None and lease <= 0:
        t.problem("lease", "must be longer than zero, e.g. \"2m\"")
        lease = None
    if None in (retry_min, retry_max, attempts, lease):
        return None
    return OutboxConfig(retry_min, max(retry_min, retry_max), attempts, lease)  # type: ignore[arg-type]


_DEFAULT_EVENTS = [e.value for e in EventType if e is not EventType.BOUNCE_HARD]


def _actions(sections: dict[str, _Table], base_dir: Path, environ: dict[str, str]) -> ActionsConfig:
    return ActionsConfig(
        _webhook(sections["webhook"], base_dir, environ),
        _command(sections["command"], base_dir),
        _mediawiki(sections["mediawiki"], base_dir),
    )


def _webhook(t: _Table, base_dir: Path, environ: dict[str, str]) -> WebhookConfig | None:
    if not t.data:
        return None
    url = t.get("url", None, _string)
    events = t.get("events", _DEFAULT_EVENTS, _events)
    timeout = t.get("timeout", "10s", _duration)
    secret = _one_secret(t, base_dir, environ)
    if url is None:
        t.problem("url", "missing; the receiver's URL, e.g. url = \"https://app.example.org/hooks/verpd\"")
    elif not re.fullmatch(r"https?://[^\s/]+(/\S*)?", url):
        t.problem("url", f"{url!r} is not an http:// or https:// URL")
        url = None
    if timeout is not None and timeout <= 0:
        t.problem("timeout", "must be longer than zero, e.g. \"10s\"")
        timeout = None
    if None in (url, events, timeout, secret):
        return None
    return WebhookConfig(url, secret, events, timeout)  # type: ignore[arg-type]


def _command(t: _Table, base_dir: Path) -> CommandConfig | None:
    if not t.data:
        return None
    argv = t.get("argv", None, _string_list)
    events = t.get("events", _DEFAULT_EVENTS, _events)
    timeout = t.get("timeout", "30s", _duration)
    if argv is None and "argv" not in t.data:
        t.problem("argv", "missing; the program and its arguments, e.g. argv = [\"/usr/local/bin/on-bounce\", \"--quiet\"]")
    elif argv is not None and not argv:
        t.problem("argv", "is empty; name the program to run")
        argv = None
    if timeout is not None and timeout <= 0:
        t.problem("timeout", "must be longer than zero, e.g. \"30s\"")
        timeout = None
    if None in (argv, events, timeout):
        return None
    program = Path(argv[0])  # type: ignore[index]
    if not program.is_absolute():
        program = base_dir / program if "/" in argv[0] else program  # type: ignore[index]
    return CommandConfig((str(program), *argv[1:]), events, timeout)  # type: ignore[arg-type,index,misc]


def _mediawiki(t: _Table, base_dir: Path) -> MediaWikiConfig | None:
    if not t.data:
        return None
    text = t.get("database_url", None, _string)
    wiki_id = t.get("wiki_id", "", _string)
    central = t.get("central_auth", False, _bool)
    echo = t.get("echo", False, _bool)
    echo_text = t.get("echo_database_url", "", _string)
    central_text = t.get("central_auth_database_url", "", _string)
    prefix = t.get("table_prefix", "", _string)
    url = echo_url = central_url = None
    if text is None:
        t.problem("database_url", "missing; the wiki's database, e.g. \"mysql+aiomysql://wiki:PASSWORD@127.0.0.1/wikidb\"")
    else:
        url = _parse_wiki_url(text, t.key("database_url"), base_dir, t.problems)
    if echo_text:
        echo_url = _parse_wiki_url(echo_text, t.key("echo_database_url"), base_dir, t.problems)
        if echo_url is None:
            return None
    if central_text:
        central_url = _parse_wiki_url(central_text, t.key("central_auth_database_url"), base_dir, t.problems)
        if central_url is None:
            return None
    if prefix is not None and not re.fullmatch(r"[A-Za-z0-9_]*", prefix):
        t.problem("table_prefix", f"{prefix!r}: $wgDBprefix holds only letters, digits and '_'")
        prefix = None
    if None in (url, wiki_id, central, echo, prefix):
        return None
    return MediaWikiConfig(url, wiki_id or None, central, central_url, echo, echo_url, prefix)  # type: ignore[arg-type]


_WIKI_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg", "postgres": "postgresql+asyncpg", "mysql": "mysql+aiomysql", "mariadb": "mysql+aiomysql"}
_WIKI_MODULES = {"sqlite+aiosqlite": "aiosqlite", "postgresql+asyncpg": "asyncpg", "mysql+aiomysql": "aiomysql", "mariadb+aiomysql": "aiomysql"}


def _parse_wiki_url(text: str, key: str, base_dir: Path, problems: list[ConfigProblem]) -> str | None:
    try:
        url: URL = make_url(text)
    except ArgumentError:
        problems.append(ConfigProblem(key, f"{text!r} is not a database URL such as \"mysql+aiomysql://wiki:PASSWORD@127.0.0.1/wikidb\""))
        return None
    if url.drivername in _WIKI_DRIVERS:
        url = url.set(drivername=_WIKI_DRIVERS[url.drivername])
    module = _WIKI_MODULES.get(url.drivername)
    if module is None:
        problems.append(ConfigProblem(key, f"driver {url.drivername!r} is not supported; use mysql+aiomysql, postgresql+asyncpg or sqlite+aiosqlite"))
        return None
    if not driver_installed(module):
        problems.append(ConfigProblem(key, f"{url.drivername} needs the {module} driver: .venv/bin/pip install {module}"))
        return None
    if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).is_absolute():
        url = url.set(database=str(base_dir / url.database))
    return url.render_as_string(hide_password=False)


def _dkim(t: _Table, base_dir: Path) -> DkimConfig | None:
    authserv = t.get("authserv_id", "", _string)
    timeout = t.get("timeout", "10s", _duration)
    require = t.get("require_for_complaints", False, _bool)
    key_file = t.get("sign_key_file", "", _string)
    selector = t.get("sign_selector", "", _string)
    domain = t.get("sign_domain", "", _string)
    sign = None
    if key_file or selector or domain:
        if not (key_file and selector and domain):
            t.problem("sign_key_file", "signing forwards needs all three of sign_key_file, sign_selector and sign_domain")
            return None
        path = Path(key_file) if Path(key_file).is_absolute() else base_dir / key_file
        if not path.is_file():
            t.problem("sign_key_file", f"cannot read {str(path)!r}; give the PEM private key (relative paths are relative to this file)")
            return None
        sign = DkimSigning(path, selector, domain)
    if timeout is not None and timeout <= 0:
        t.problem("timeout", "must be longer than zero, e.g. \"10s\"")
        timeout = None
    if None in (authserv, timeout, require):
        return None
    return DkimConfig(authserv or None, timeout, require, sign)  # type: ignore[arg-type]


def _one_secret(t: _Table, base_dir: Path, environ: dict[str, str], name: str = "secret") -> Secret | None:
    """``secret``, ``secret_file`` or ``secret_env`` (or ``token``, ... with ``name``): exactly one."""
    inline = t.get(name, None, _secret_string)
    file_name = t.get(f"{name}_file", None, _string)
    env_name = t.get(f"{name}_env", None, _string)
    given = [k for k, v in ((name, inline), (f"{name}_file", file_name), (f"{name}_env", env_name)) if v is not None]
    if len(given) != 1:
        what = "none of them" if not given else " and ".join(given)
        t.problem(name, f"set exactly one of {name}, {name}_file or {name}_env (found {what}); generate one with: "
                  "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'")
        return None
    if inline is not None:
        value = inline
    elif file_name is not None:
        path = Path(file_name) if Path(file_name).is_absolute() else base_dir / file_name
        try:
            lines = _secret_lines(path.read_text("utf-8"))
        except (OSError, UnicodeDecodeError) as e:
            t.problem(f"{name}_file", f"cannot read {str(path)!r}: {getattr(e, 'strerror', None) or e}")
            return None
        value = lines[0] if lines else ""
    else:
        assert env_name is not None
        if env_name not in environ:
            t.problem(f"{name}_env", f"environment variable {env_name} is not set")
            return None
        value = environ[env_name].strip()
    if len(value.encode()) < MIN_SECRET_BYTES:
        t.problem(name, f"shorter than {MIN_SECRET_BYTES} bytes; use a long random string")
        return None
    return Secret(value.encode("utf-8"))


def _forward(t: _Table) -> ForwardConfig | None:
    to = t.get("to", [], _string_list)
    relay = t.get("relay", "127.0.0.1:25", _hostport)
    sender = t.get("sender", "verpd@localhost", _string)
    autoreplies = t.get("autoreplies", False, _bool)
    retry_min = t.get("retry_min", "1m", _duration)
    retry_max = t.get("retry_max", "1h", _duration)
    for i, address in enumerate(to or []):
        if not re.fullmatch(r"[^@\s<>]+@[^@\s<>]+", address):
            t.problem(f"to[{i}]", f"{address!r} is not a bare address such as postmaster@example.org")
            to = None
    if sender is not None and not re.fullmatch(r"[^@\s<>]+@[^@\s<>]+", sender):
        t.problem("sender", f"{sender!r} is not a bare address such as verpd@example.org")
        sender = None
    if retry_min is not None and retry_min <= 0:
        t.problem("retry_min", "must be longer than zero, e.g. \"1m\"")
        retry_min = None
    if None in (to, relay, sender, autoreplies, retry_min, retry_max):
        return None
    return ForwardConfig(tuple(to), relay, sender, autoreplies, retry_min, max(retry_min, retry_max))  # type: ignore[arg-type]


def _log(t: _Table) -> LogConfig | None:
    level = t.get("level", "info", _choice("debug", "info", "warning", "error"))
    fmt = t.get("format", "json", _choice("json", "console"))
    addresses = t.get("addresses", "pseudonym", _choice("pseudonym", "full", "domain"))
    if None in (level, fmt, addresses):
        return None
    return LogConfig(level, fmt, addresses)  # type: ignore[arg-type]


def _http(t: _Table, base_dir: Path, environ: dict[str, str]) -> HttpConfig | None:
    text = t.get("listen", "", _string)
    proxies = t.get("trusted_proxies", [], _string_list)
    metrics = t.get("metrics", True, _bool)
    listen = _parse_hostport(text, t.key("listen"), t.problems) if text else None
    token = None
    if any(k in t.data for k in ("token", "token_file", "token_env")):
        token = _one_secret(t, base_dir, environ, name="token")
        if token is None:
            return None
    networks = []
    for i, item in enumerate(proxies or []):
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            t.problem(f"trusted_proxies[{i}]", f"{item!r} is not an IP address or CIDR network such as 127.0.0.1/32")
    if (text and listen is None) or None in (proxies, metrics):
        return None
    return HttpConfig(listen, token, tuple(networks), metrics)  # type: ignore[arg-type]


def _parse(t: _Table) -> ParseConfig | None:
    max_recipients = t.get("max_recipients", DEFAULT_MAX_RECIPIENTS, _positive_int)
    if max_recipients is None:
        return None
    return ParseConfig(max_recipients)


# --- value converters: each returns the value or raises ValueError with the fix --------

_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)?\s*")
_DURATION_UNITS = {None: 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_SIZE = re.compile(r"\s*(\d+)\s*(B|KB|MB|GB|KiB|MiB|GiB)?\s*")
_SIZE_UNITS = {None: 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30}


def parse_duration(value: Any) -> int:
    """``"7d"``, ``"72h"``, ``"30m"``, ``"10s"``, ``"2w"`` or seconds → whole seconds."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration like \"7d\", \"72h\" or a number of seconds, got {value!r}")
    if isinstance(value, int | float):
        if not 0 <= value < float("inf"):  # also refuses nan, which compares false
            raise ValueError(f"a duration must be a finite number of seconds, at least 0, got {value!r}")
        return int(value)
    if isinstance(value, str) and (m := _DURATION.fullmatch(value)):
        return int(float(m.group(1)) * _DURATION_UNITS[m.group(2)])
    raise ValueError(f"expected a duration like \"7d\", \"72h\", \"30m\" or a number of seconds, got {value!r}")


def parse_size(value: Any) -> int:
    """``"10MiB"``, ``"512KiB"``, ``"1GB"`` or bytes → bytes."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if isinstance(value, str) and (m := _SIZE.fullmatch(value)) and int(m.group(1)) > 0:
        return int(m.group(1)) * _SIZE_UNITS[m.group(2)]
    raise ValueError(f"expected a size like \"10MiB\", \"512KiB\" or a number of bytes, got {value!r}")


def _duration(value: Any) -> int:
    return parse_duration(value)


def _size(value: Any) -> int:
    return parse_size(value)


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string in quotes, got {value!r}")
    return value


def _string_list(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"expected a list of strings such as [\"a\", \"b\"], got {value!r}")
    return value


def _secret_list(value: Any) -> list[str]:
    # Unlike _string_list, never echo the value: it holds signing secrets.
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError("expected a list of strings such as [\"a-long-random-string\"] (the value is not shown: it holds secrets)")
    return value


def _secret_string(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("expected a string in quotes (the value is not shown: it is a secret)")
    return value


def _fraction(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ValueError(f"expected a number from 0 to 1, e.g. 0.5, got {value!r}")
    return float(value)


def _events(value: Any) -> frozenset[EventType]:
    names = _string_list(value)
    found = set()
    for name in names:
        try:
            found.add(EventType(name))
        except ValueError:
            known = ", ".join(f'"{e.value}"' for e in EventType)
            raise ValueError(f"unknown event {name!r}; the events are {known}") from None
    return frozenset(found)


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false (no quotes), got {value!r}")
    return value


def _non_negative_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"expected a whole number of at least 0, got {value!r}")
    return value


def _positive_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"expected a whole number of at least 1, got {value!r}")
    return value


def _backlog(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise ValueError(f"expected a whole number from 1 to 65535 (Linux caps it at net.core.somaxconn), got {value!r}")
    return value


def _hostport(value: Any) -> HostPort:
    text = _string(value)
    problems: list[ConfigProblem] = []
    result = _parse_hostport(text, "", problems)
    if result is None:
        raise ValueError(problems[0].message)
    return result


def _enum(kind: type[VerpFormat]) -> Callable[[Any], VerpFormat]:
    def convert(value: Any) -> VerpFormat:
        try:
            return kind(value)
        except ValueError:
            names = " or ".join(f'"{m.value}"' for m in kind)
            raise ValueError(f"expected {names}, got {value!r}") from None

    return convert


def _choice(*allowed: str) -> Callable[[Any], str]:
    def convert(value: Any) -> str:
        if value not in allowed:
            names = ", ".join(f'"{a}"' for a in allowed)
            raise ValueError(f"expected one of {names}, got {value!r}")
        return value

    return convert


def _parse_hostport(text: str, key: str, problems: list[ConfigProblem]) -> HostPort | None:
    m = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\]:(\d+)|([^:\[\]]+):(\d+)", text.strip())
    if not m:
        problems.append(ConfigProblem(key, f"expected HOST:PORT such as \"127.0.0.1:8024\" or \"[::1]:8024\", got {text!r}"))
        return None
    host = m.group(1) or m.group(3)
    port = int(m.group(2) or m.group(4))
    if not 0 <= port < 65536:  # 0 asks the system for a free port (used by tests)
        problems.append(ConfigProblem(key, f"port {port} is out of range 1-65535 (0 picks a free port)"))
        return None
    return HostPort(host, port)


def driver_installed(module: str) -> bool:
    """Whether the database driver ``module`` can be imported."""
    return importlib.util.find_spec(module) is not None


_ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg", "postgres": "postgresql+asyncpg"}


def _parse_database_url(text: str, key: str, base_dir: Path, problems: list[ConfigProblem]) -> str | None:
    try:
        url: URL = make_url(text)
    except ArgumentError:
        problems.append(ConfigProblem(key, f"{text!r} is not a database URL such as \"sqlite+aiosqlite:///var/verpd.sqlite3\""))
        return None
    if url.drivername in _ASYNC_DRIVERS:
        url = url.set(drivername=_ASYNC_DRIVERS[url.drivername])
    backend = url.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        problems.append(ConfigProblem(key, f"unsupported database {backend!r}; use sqlite+aiosqlite:///PATH or postgresql+asyncpg://..."))
        return None
    if url.drivername not in ("sqlite+aiosqlite", "postgresql+asyncpg"):
        problems.append(ConfigProblem(key, f"driver {url.drivername!r} is not asynchronous; use sqlite+aiosqlite or postgresql+asyncpg"))
        return None
    if backend == "postgresql" and not driver_installed("asyncpg"):
        problems.append(ConfigProblem(key, "PostgreSQL needs the asyncpg driver: .venv/bin/pip install asyncpg"))
        return None
    if backend == "sqlite":
        if not url.database or url.database == ":memory:":
            problems.append(ConfigProblem(key, "an in-memory SQLite database loses every bounce on restart; give a file path"))
            return None
        path = Path(url.database)
        if not path.is_absolute():
            url = url.set(database=str(base_dir / path))
    return url.render_as_string(hide_password=False)


# --- table reader: collects problems and flags unknown keys ----------------------------


class _Table:
    """A view of one TOML table that records what was read and every problem found."""

    def __init__(self, data: Any, path: str, problems: list[ConfigProblem]) -> None:
        self.path = path
        self.problems = problems
        self.seen: set[str] = set()
        if data is None:
            data = {}
        if not isinstance(data, dict):
            problems.append(ConfigProblem(path, f"expected a table [{path}], got {data!r}"))
            data = {}
        self.data: dict[str, Any] = data

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def problem(self, name: str, message: str) -> None:
        self.problems.append(ConfigProblem(self.key(name), message))

    def table(self, name: str) -> _Table:
        self.seen.add(name)
        return _Table(self.data.get(name), self.key(name), self.problems)

    def get(self, name: str, default: Any, convert: Callable[[Any], T]) -> T | None:
        self.seen.add(name)
        if name not in self.data:
            if default is None:
                return None
            return convert(default)
        try:
            return convert(self.data[name])
        except ValueError as e:
            self.problem(name, str(e))
            return None

    def finish(self) -> None:
        for name in self.data:
            if name in self.seen:
                continue
            hint = difflib.get_close_matches(name, sorted(self.seen), n=1)
            fix = f"; did you mean {self.key(hint[0])!r}?" if hint else "; remove it (see config.example.toml for every key)"
            self.problem(name, f"unknown key{fix}")
