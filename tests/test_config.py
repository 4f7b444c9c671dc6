"""Configuration: one TOML file to validated objects, every problem reported with its key and fix."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, TEST_SECRET, config_dict, make_config
from verpd import cli, config as config_module
from verpd.config import DEMO_SECRET, HostPort, Secret, parse_duration, parse_size
from verpd.errors import ConfigError, ConfigProblem
from verpd.model import VerpFormat
from verpd.verp import Verp

# A valid configuration as TOML literals, section -> key -> literal; tests override keys.
BASE: dict[str, dict[str, str]] = {
    "server": {"lmtp": '"127.0.0.1:0"', "hostname": '"verpd.test"'},
    "database": {"url": '"sqlite+aiosqlite:///verpd.sqlite3"'},
    "verp": {"domain": '"bounces.example.org"', "secrets": f'["{TEST_SECRET}"]'},
    "policy": {"limit": "3"},
    "forward": {"relay": '"127.0.0.1:9"'},
    "log": {"level": '"debug"'},
}


def render(overrides: dict[str, dict[str, str | None]] | None = None) -> str:
    """BASE with ``overrides`` applied (None removes a key) as TOML text."""
    sections: dict[str, dict[str, str]] = {name: dict(keys) for name, keys in BASE.items()}
    for name, keys in (overrides or {}).items():
        table = sections.setdefault(name, {})
        for key, literal in keys.items():
            if literal is None:
                table.pop(key, None)
            else:
                table[key] = literal
    return "".join(f"[{name}]\n" + "".join(f"{k} = {v}\n" for k, v in keys.items()) + "\n" for name, keys in sections.items())


def write(tmp_path: Path, text: str, name: str = "verpd.toml") -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, "utf-8")
    return path


def load_error(path: Path, environ: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        config_module.load(path, environ={} if environ is None else environ)
    return caught.value


def problem_at(error: ConfigError, key: str) -> ConfigProblem:
    found = [p for p in error.problems if p.path == key]
    assert found, f"no problem reported for {key!r}; got {[str(p) for p in error.problems]}"
    return found[0]


# --- the example file ----------------------------------------------------------------


def test_example_config_loads_and_warns_about_its_demo_secret() -> None:
    """config.example.toml loads without problems, and warnings() flags its publicly known demo secret."""
    config = config_module.load(REPO / "config.example.toml", environ={})
    assert config.verp.secrets == (Secret(DEMO_SECRET.encode()),)
    assert config.verp.format is VerpFormat.VERPD
    assert config.server.lmtp == HostPort("127.0.0.1", 8024)
    assert config.database.url == f"sqlite+aiosqlite:///{REPO / 'var' / 'verpd.sqlite3'}"
    warnings = config.warnings()
    assert len(warnings) == 1
    assert "verp.secrets[0]" in warnings[0] and "publicly known" in warnings[0]
    assert DEMO_SECRET not in warnings[0]


@pytest.mark.parametrize(
    ("secret", "warned"),
    [("MediawikiVERP", "publicly known"), ("short-secret", "shorter than 16 bytes"), (TEST_SECRET, None)],
    ids=["mediawiki-default", "short", "long-random"],
)
def test_warnings_flag_public_and_short_secrets_only(tmp_path: Path, secret: str, warned: str | None) -> None:
    """warnings() names MediaWiki's public default and secrets under 16 bytes, and nothing for a long private secret."""
    config = make_config(tmp_path, verp={"secrets": [TEST_SECRET, secret]})
    warnings = config.warnings()
    if warned is None:
        assert warnings == []
    else:
        assert len(warnings) == 1 and "verp.secrets[1]" in warnings[0] and warned in warnings[0]


# --- bad files: every problem names its key and the fix ------------------------------

BAD_FILES = [
    pytest.param({"verp": {"secret": '["x"]'}}, "verp.secret", ["unknown key", "did you mean 'verp.secrets'"], id="unknown-key-did-you-mean"),
    pytest.param({"verb": {"domain": '"x.org"'}}, "verb", ["unknown key", "did you mean 'verp'"], id="unknown-section-did-you-mean"),
    pytest.param({"verp": {"accept_time": '"3 days"'}}, "verp.accept_time", ['"7d"', '"72h"', "'3 days'"], id="bad-duration"),
    pytest.param({"verp": {"accept_time": "0"}}, "verp.accept_time", ["longer than zero", '"3d"'], id="zero-accept-time"),
    pytest.param({"verp": {"accept_time": "inf"}}, "verp.accept_time", ["finite number of seconds"], id="infinite-duration"),
    pytest.param({"verp": {"clock_skew": "-5"}}, "verp.clock_skew", ["at least 0"], id="negative-duration"),
    pytest.param({"server": {"max_message_size": '"10 megabytes"'}}, "server.max_message_size", ['"10MiB"', "number of bytes"], id="bad-size"),
    pytest.param({"server": {"max_message_size": "0"}}, "server.max_message_size", ['"10MiB"'], id="zero-size"),
    pytest.param({"verp": {"secrets": None}}, "verp.secrets", ["set exactly one of secrets, secrets_file or secrets_env", "none of them"], id="no-secrets"),
    pytest.param({"verp": {"secrets_env": '"VERPD_SECRETS"'}}, "verp.secrets", ["set exactly one of", "found secrets and secrets_env"], id="two-secret-sources"),
    pytest.param({"verp": {"secrets": "[]"}}, "verp.secrets", ["holds no secret", "add at least one"], id="empty-secret-list"),
    pytest.param({"verp": {"secrets": '[""]'}}, "verp.secrets[0]", ["empty secret", "long random string"], id="empty-secret"),
    pytest.param({"verp": {"secrets": None, "secrets_env": '"VERPD_UNSET_SECRETS"'}}, "verp.secrets_env", ["VERPD_UNSET_SECRETS is not set", "one secret per line"], id="secrets-env-unset"),
    pytest.param({"verp": {"secrets": None, "secrets_file": '"no-such-secrets"'}}, "verp.secrets_file", ["no-such-secrets", "fix the path", "create it"], id="secrets-file-missing"),
    pytest.param({"verp": {"domain": None}}, "verp.domain", ["missing", 'domain = "bounces.example.org"'], id="domain-missing"),
    pytest.param({"verp": {"domain": '"bounces_example"'}}, "verp.domain", ["not a domain name such as bounces.example.org"], id="domain-invalid"),
    pytest.param({"verp": {"format": '"mediawiki"', "prefix": '"my-wiki"'}}, "verp.prefix", ["[A-Za-z0-9_.] only", "'-' makes every address unverifiable"], id="mediawiki-prefix-with-dash"),
    pytest.param({"verp": {"prefix": '"Wiki"'}}, "verp.prefix", ["1-16 characters of [a-z0-9]"], id="verpd-prefix-uppercase"),
    pytest.param({"verp": {"format": '"exim"'}}, "verp.format", ['"mediawiki" or "verpd"'], id="unknown-format"),
    pytest.param({"verp": {"algorithm": '"md6"'}}, "verp.algorithm", ["'md6'", "sha256"], id="unknown-algorithm"),
    pytest.param({"verp": {"algorithm": '"shake_128"'}}, "verp.algorithm", ["unusable", "sha256"], id="algorithm-unusable-for-hmac"),
    pytest.param({"server": {"lmtp": '"localhost"'}}, "server.lmtp", ["HOST:PORT", '"127.0.0.1:8024"', '"[::1]:8024"'], id="host-without-port"),
    pytest.param({"server": {"lmtp": '"127.0.0.1:70000"'}}, "server.lmtp", ["port 70000 is out of range"], id="port-out-of-range"),
    pytest.param({"server": {"smtp": '"::1:25"'}}, "server.smtp", ["HOST:PORT", '"[::1]:8024"'], id="ipv6-without-brackets"),
    pytest.param({"server": {"allowed_clients": '["10.0.0.0/8", "office"]'}}, "server.allowed_clients[1]", ["'office'", "CIDR network such as 127.0.0.1/32"], id="allowed-client-not-a-network"),
    pytest.param({"server": {"max_connections": "0"}}, "server.max_connections", ["whole number of at least 1", "got 0"], id="zero-max-connections"),
    pytest.param({"server": {"backlog": "100000"}}, "server.backlog", ["from 1 to 65535", "somaxconn", "got 100000"], id="backlog-too-large"),
    pytest.param({"server": {"idle_timeout": '"0s"'}}, "server.idle_timeout", ["at least one second", '"60s"'], id="zero-idle-timeout"),
    pytest.param({"server": {"data_timeout": "0.5"}}, "server.data_timeout", ["at least one second", '"2m"'], id="sub-second-data-timeout"),
    pytest.param({"server": {"connection_lifetime": '"forever"'}}, "server.connection_lifetime", ['"7d"', "'forever'"], id="bad-lifetime"),
    pytest.param({"server": {"max_commands": "1.5"}}, "server.max_commands", ["whole number of at least 1"], id="fractional-max-commands"),
    pytest.param({"server": {"max_errors": "-1"}}, "server.max_errors", ["whole number of at least 1", "got -1"], id="negative-max-errors"),
    pytest.param({"database": {"url": '"mysql://verpd@db/verpd"'}}, "database.url", ["unsupported database 'mysql'", "sqlite+aiosqlite:///PATH", "postgresql+asyncpg://"], id="mysql-url"),
    pytest.param({"database": {"url": '"sqlite+aiosqlite:///:memory:"'}}, "database.url", ["in-memory", "give a file path"], id="in-memory-sqlite"),
    pytest.param({"database": {"url": '"sqlite://"'}}, "database.url", ["in-memory", "give a file path"], id="sqlite-without-path"),
    pytest.param({"database": {"url": '"sqlite+pysqlite:///verpd.sqlite3"'}}, "database.url", ["not asynchronous", "sqlite+aiosqlite"], id="synchronous-driver"),
    pytest.param({"database": {"url": '""'}}, "database.url", ["not a database URL such as"], id="empty-database-url"),
    pytest.param({"policy": {"limit": "0"}}, "policy.limit", ["whole number of at least 1", "got 0"], id="zero-limit"),
    pytest.param({"policy": {"limit": "-5"}}, "policy.limit", ["whole number of at least 1", "got -5"], id="negative-limit"),
    pytest.param({"policy": {"prune_batch": "2.5"}}, "policy.prune_batch", ["whole number of at least 1"], id="fractional-batch"),
    pytest.param({"policy": {"act": '"yes"'}}, "policy.act", ["true or false (no quotes)", "'yes'"], id="string-for-act"),
    pytest.param({"forward": {"to": '["Postmaster <postmaster@example.org>"]'}}, "forward.to[0]", ["bare address such as postmaster@example.org"], id="forward-to-with-display-name"),
    pytest.param({"log": {"level": '"verbose"'}}, "log.level", ['"debug"', '"info"', "'verbose'"], id="unknown-log-level"),
]


@pytest.mark.parametrize(("overrides", "key", "fragments"), BAD_FILES)
def test_bad_config_file_names_the_key_and_the_fix(tmp_path: Path, overrides: dict[str, Any], key: str, fragments: list[str]) -> None:
    """Each mistake in a configuration file is reported as a ConfigError naming the key path and saying how to fix it."""
    error = load_error(write(tmp_path, render(overrides)))
    message = problem_at(error, key).message
    for fragment in fragments:
        assert fragment in message
    assert f"  {key}: {message}" in str(error)
    assert error.source == str(tmp_path / "verpd.toml")


def test_several_problems_in_one_file_are_all_reported_at_once(tmp_path: Path) -> None:
    """A file with several mistakes in several sections gets one ConfigError listing every one of them."""
    text = render(
        {
            "server": {"lmtp": '"nowhere"', "allowed_clients": '["office"]'},
            "database": {"url": '"mysql://db/verpd"'},
            "verp": {"accept_time": '"3 days"', "secret": '["x"]'},
            "policy": {"limit": "0", "act": '"yes"'},
            "log": {"format": '"xml"'},
        }
    )
    error = load_error(write(tmp_path, text))
    expected = {
        "server.lmtp",
        "server.allowed_clients[0]",
        "database.url",
        "verp.accept_time",
        "verp.secret",
        "policy.limit",
        "policy.act",
        "log.format",
    }
    assert {p.path for p in error.problems} == expected
    for key in expected:
        assert f"  {key}: " in str(error)


def test_invalid_toml_is_reported_with_its_line_number(tmp_path: Path) -> None:
    """A TOML syntax error is a ConfigError that names the file and the line to look at."""
    path = write(tmp_path, '[server]\nlmtp = "127.0.0.1:8024"\nhostname = verpd.test\n')
    error = load_error(path)
    assert str(path) in str(error)
    assert "not valid TOML" in str(error)
    assert "line 3" in str(error)


def test_missing_config_file_says_how_to_point_at_one(tmp_path: Path) -> None:
    """Loading a file that does not exist is a ConfigError suggesting --config and the example file."""
    error = load_error(tmp_path / "absent.toml")
    assert "file not found" in str(error)
    assert "--config" in str(error) and "config.example.toml" in str(error)


def test_section_that_is_not_a_table_is_reported(tmp_path: Path) -> None:
    """A section given as a plain value instead of a [table] is reported under the section's name."""
    error = load_error(write(tmp_path, 'log = "debug"\n' + render({"log": {"level": None}}).replace("[log]\n", "")))
    assert "expected a table [log]" in problem_at(error, "log").message


# --- value syntaxes --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("7d", 604800), ("72h", 259200), ("30m", 1800), ("10s", 10), ("2w", 1209600), ("1.5h", 5400), (" 5m ", 300), ("45", 45), (3600, 3600), (0, 0), (2.9, 2)],
    ids=["7d", "72h", "30m", "10s", "2w", "1.5h", "padded", "bare-string", "int-3600", "zero", "float-truncates"],
)
def test_duration_parses_to_whole_seconds(text: Any, seconds: int) -> None:
    """Durations are a number with s/m/h/d/w (or none, meaning seconds), or a plain number of seconds."""
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "value",
    ["3 days", "7y", "", "d", "-1s", -1, True, float("inf"), float("nan"), [1]],
    ids=["words", "unknown-unit", "empty", "unit-only", "negative-string", "negative-int", "bool", "inf", "nan", "list"],
)
def test_invalid_duration_is_a_value_error_with_an_example(value: Any) -> None:
    """Anything but a non-negative finite number or "<number><s|m|h|d|w>" is a ValueError showing valid forms."""
    with pytest.raises(ValueError, match=r"duration"):
        parse_duration(value)


@pytest.mark.parametrize(
    ("text", "size"),
    [("10MiB", 10 * 2**20), ("512KiB", 512 * 2**10), ("1GB", 10**9), ("1GiB", 2**30), ("100KB", 100_000), ("64B", 64), ("2048", 2048), (1024, 1024)],
    ids=["10MiB", "512KiB", "1GB", "1GiB", "100KB", "64B", "bare-string", "int-1024"],
)
def test_size_parses_to_bytes(text: Any, size: int) -> None:
    """Sizes are a whole number with B/KB/MB/GB (powers of 1000) or KiB/MiB/GiB (powers of 1024), or a number of bytes."""
    assert parse_size(text) == size


@pytest.mark.parametrize(
    "value",
    ["10 megabytes", "1.5MiB", "10mib", "0", 0, -1, True, 1.5, ""],
    ids=["words", "fraction", "lowercase-unit", "zero-string", "zero", "negative", "bool", "float", "empty"],
)
def test_invalid_size_is_a_value_error_with_an_example(value: Any) -> None:
    """A size must be a positive whole number of bytes, with an optional exact-case unit; anything else is a ValueError with examples."""
    with pytest.raises(ValueError, match=r'"10MiB"'):
        parse_size(value)


def test_durations_and_sizes_in_a_file_reach_the_config(tmp_path: Path) -> None:
    """Duration and size strings in the file become seconds and bytes on the loaded objects."""
    text = render({"verp": {"accept_time": '"72h"', "clock_skew": "30"}, "server": {"max_message_size": '"512KiB"'}, "policy": {"period": '"2w"'}})
    config = config_module.load(write(tmp_path, text), environ={})
    assert (config.verp.accept_time, config.verp.clock_skew) == (259200, 30)
    assert config.server.max_message_size == 524288
    assert config.policy.period == 1209600


# --- secrets ---------------------------------------------------------------------------

NEW, OLD = "new-secret-0123456789abcdefghij", "old-secret-0123456789abcdefghij"


def test_secrets_file_holds_one_secret_per_line_ignoring_comments_and_blanks(tmp_path: Path) -> None:
    """secrets_file (relative to the config file) gives one secret per line, in order; '#' comments and blank lines are skipped."""
    write(tmp_path, f"# rotated 2026-11-01\n\n  {NEW}  \n# previous one\n{OLD}\r\n\n", name="etc/secrets")
    path = write(tmp_path, render({"verp": {"secrets": None, "secrets_file": '"secrets"'}}), name="etc/verpd.toml")
    config = config_module.load(path, environ={})
    assert config.verp.secrets == (Secret(NEW.encode()), Secret(OLD.encode()))


def test_secrets_env_holds_one_secret_per_line(tmp_path: Path) -> None:
    """secrets_env names a variable of the given environment whose lines are the secrets, in order."""
    path = write(tmp_path, render({"verp": {"secrets": None, "secrets_env": '"VERPD_SECRETS"'}}))
    config = config_module.load(path, environ={"VERPD_SECRETS": f"{NEW}\n{OLD}\n"})
    assert config.verp.secrets == (Secret(NEW.encode()), Secret(OLD.encode()))


def test_secrets_env_reads_the_environment_passed_not_the_process_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """from_dict(environ=...) looks the variable up in that mapping only."""
    monkeypatch.setenv("VERPD_SECRETS", NEW)
    data = config_dict(tmp_path, verp={"secrets_env": "VERPD_SECRETS"})
    del data["verp"]["secrets"]
    with pytest.raises(ConfigError, match="VERPD_SECRETS is not set"):
        config_module.from_dict(data, base_dir=tmp_path, environ={})
    assert config_module.from_dict(data, base_dir=tmp_path).verp.secrets == (Secret(NEW.encode()),)


def test_first_secret_signs_and_the_others_verify(tmp_path: Path) -> None:
    """With secrets loaded in the order (new, old), addresses are signed with new and those signed with old still verify."""
    data = config_dict(tmp_path, verp={"secrets_env": "VERPD_SECRETS"})
    del data["verp"]["secrets"]
    config = config_module.from_dict(data, base_dir=tmp_path, environ={"VERPD_SECRETS": f"{NEW}\n{OLD}"})
    verp = Verp(config.verp)
    only_new = Verp(dataclasses.replace(config.verp, secrets=(Secret(NEW.encode()),)))
    only_old = Verp(dataclasses.replace(config.verp, secrets=(Secret(OLD.encode()),)))
    now = 1_700_000_000
    address = verp.encode("enwiki", 42, now)
    assert address == only_new.encode("enwiki", 42, now)
    assert verp.verify(address, now).key_index == 0
    assert verp.verify(only_old.encode("enwiki", 42, now), now).key_index == 1


def test_secret_values_never_appear_in_repr_or_str(tmp_path: Path) -> None:
    """Neither repr nor str of a Secret, the verp section or the whole Config shows a secret's value."""
    config = make_config(tmp_path, verp={"secrets": [NEW, OLD]})
    for text in (repr(config), str(config), repr(config.verp), str(config.verp), repr(config.verp.secrets[0]), str(config.verp.secrets[0])):
        assert NEW not in text and OLD not in text
        assert "<hidden>" in text


@pytest.mark.parametrize(
    "literal",
    [f'"{NEW}"', f'["{NEW}", 42]'],
    ids=["string-instead-of-list", "list-with-a-number"],
)
def test_malformed_secrets_are_reported_without_echoing_them(tmp_path: Path, literal: str) -> None:
    """A wrongly typed secrets value is reported at verp.secrets with the expected form, never with the secret in the message."""
    error = load_error(write(tmp_path, render({"verp": {"secrets": literal}})))
    assert "expected a list of strings" in problem_at(error, "verp.secrets").message
    assert NEW not in str(error)


# --- database URLs ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///var/verpd.sqlite3", "sqlite+aiosqlite:///{dir}/var/verpd.sqlite3"),
        ("sqlite+aiosqlite:///verpd.sqlite3", "sqlite+aiosqlite:///{dir}/verpd.sqlite3"),
        ("sqlite:////srv/verpd/verpd.sqlite3", "sqlite+aiosqlite:////srv/verpd/verpd.sqlite3"),
        ("postgresql://verpd:pw@db.example.org/verpd", "postgresql+asyncpg://verpd:pw@db.example.org/verpd"),
        ("postgresql+asyncpg://verpd@db/verpd", "postgresql+asyncpg://verpd@db/verpd"),
    ],
    ids=["relative-sqlite-upgraded", "relative-aiosqlite", "absolute-sqlite", "postgresql-upgraded", "asyncpg-kept"],
)
def test_database_url_gets_an_async_driver_and_a_path_relative_to_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str, expected: str
) -> None:
    """Relative SQLite paths resolve against the config file's directory (not the cwd), and sqlite:// / postgresql:// get their async driver."""
    monkeypatch.setattr(config_module, "driver_installed", lambda module: True)
    path = write(tmp_path, render({"database": {"url": f'"{url}"'}}), name="etc/verpd.toml")
    monkeypatch.chdir(tmp_path)
    config = config_module.load(path, environ={})
    assert config.database.url == expected.format(dir=tmp_path / "etc")


def test_postgresql_without_its_driver_says_how_to_install_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A PostgreSQL URL when asyncpg is not installed is a config error naming the pip command."""
    monkeypatch.setattr(config_module, "driver_installed", lambda module: False)
    path = write(tmp_path, render({"database": {"url": '"postgresql://verpd@db.example.org/verpd"'}}))
    with pytest.raises(ConfigError) as error:
        config_module.load(path, environ={})
    assert "pip install asyncpg" in problem_at(error.value, "database.url").message


# --- command line ----------------------------------------------------------------------


def test_check_config_prints_ok_and_exits_0_for_a_good_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`verpd check-config` on a valid file exits 0, prints OK with a summary, and warns about nothing for a private secret."""
    path = write(tmp_path, render())
    assert cli.main(["--config", str(path), "check-config"]) == 0
    out, err = capsys.readouterr()
    assert f"{path}: OK" in out
    assert "@bounces.example.org" in out and "1 secret(s)" in out
    assert err == ""


def test_check_config_warns_about_the_demo_secret(capsys: pytest.CaptureFixture[str]) -> None:
    """`verpd check-config` on the example file exits 0 but warns on stderr that its secret is public."""
    assert cli.main(["--config", str(REPO / "config.example.toml"), "check-config"]) == 0
    out, err = capsys.readouterr()
    assert "OK" in out
    assert "warning: verp.secrets[0] is a publicly known demo value" in err


def test_check_config_lists_the_problems_and_exits_78_for_a_bad_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`verpd check-config` on an invalid file exits 78 (EX_CONFIG) and prints every problem on stderr, nothing on stdout."""
    path = write(tmp_path, render({"verp": {"accept_time": '"3 days"'}, "policy": {"act": '"yes"'}}))
    assert cli.main(["--config", str(path), "check-config"]) == 78
    out, err = capsys.readouterr()
    assert out == ""
    assert str(path) in err
    assert "verp.accept_time: " in err and "policy.act: " in err


# --- command-line overrides --------------------------------------------------------------


def test_overrides_replace_lmtp_and_database_and_leave_the_rest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """with_overrides sets server.lmtp and database.url (relative SQLite paths against the cwd), returning a new Config."""
    config = make_config(tmp_path)
    monkeypatch.chdir(tmp_path)
    changed = config.with_overrides(lmtp="[::1]:2424", database_url="sqlite:///other.sqlite3")
    assert changed.server.lmtp == HostPort("::1", 2424)
    assert str(changed.server.lmtp) == "[::1]:2424"
    assert changed.database.url == f"sqlite+aiosqlite:///{tmp_path}/other.sqlite3"
    assert changed.verp == config.verp and changed.policy == config.policy
    assert config.server.lmtp == HostPort("127.0.0.1", 0)  # the original is untouched


def test_no_overrides_give_an_equal_config(tmp_path: Path) -> None:
    """with_overrides() without arguments changes nothing."""
    config = make_config(tmp_path)
    assert config.with_overrides() == config


def test_bad_overrides_are_config_errors_naming_the_option(tmp_path: Path) -> None:
    """Invalid --lmtp and --database values are validated like the file and both reported, under the option's name."""
    config = make_config(tmp_path)
    with pytest.raises(ConfigError) as caught:
        config.with_overrides(lmtp="localhost", database_url="mysql://db/verpd")
    error = caught.value
    assert error.source == "command line"
    assert "HOST:PORT" in problem_at(error, "--lmtp").message
    assert "unsupported database 'mysql'" in problem_at(error, "--database").message


# --- parse ---------------------------------------------------------------------------


def test_parse_max_recipients_defaults_to_the_parsers_own_default(tmp_path: Path) -> None:
    """Without a [parse] table, parse.max_recipients is verpd.parse.MAX_RECIPIENTS (the two constants agree)."""
    from verpd.parse import MAX_RECIPIENTS

    config = config_module.load(write(tmp_path, render()), environ={})
    assert config.parse.max_recipients == MAX_RECIPIENTS == config_module.DEFAULT_MAX_RECIPIENTS
    assert config_module.load(REPO / "config.example.toml", environ={}).parse.max_recipients == MAX_RECIPIENTS


@pytest.mark.parametrize("literal", ["0", "-3", '"many"', "2.5"])
def test_parse_max_recipients_must_be_a_whole_number_of_at_least_one(tmp_path: Path, literal: str) -> None:
    """parse.max_recipients = 0 (or not a whole number) is reported at its key with the fix."""
    error = load_error(write(tmp_path, render({"parse": {"max_recipients": literal}})))
    assert "whole number of at least 1" in problem_at(error, "parse.max_recipients").message


def test_parse_max_recipients_in_a_file_reaches_the_config(tmp_path: Path) -> None:
    """A [parse] table sets max_recipients."""
    assert config_module.load(write(tmp_path, render({"parse": {"max_recipients": "25"}})), environ={}).parse.max_recipients == 25


def test_server_limits_default_to_what_the_example_shows(tmp_path: Path) -> None:
    """Without them in the file the limits are 200 connections, backlog 1024, 60s idle, 10m and 10,000 commands
    per connection, 2m for DATA, 20 errors: the values config.example.toml sets."""
    server = config_module.load(write(tmp_path, render()), environ={}).server
    limits = (server.max_connections, server.backlog, server.idle_timeout, server.connection_lifetime, server.max_commands,
              server.data_timeout, server.max_errors)
    assert limits == (200, 1024, 60, 600, 10_000, 120, 20)
    example = config_module.load(REPO / "config.example.toml", environ={}).server
    assert dataclasses.replace(example, lmtp=server.lmtp, hostname=server.hostname) == server


def test_every_key_the_loader_reads_is_documented_in_the_example() -> None:
    """Each key ``config.py`` reads appears in config.example.toml (set, or shown commented out)."""
    import re

    source = (REPO / "verpd" / "config.py").read_text()
    keys = set(re.findall(r"""\bt\.get\("(\w+)\"""", source))
    example = (REPO / "config.example.toml").read_text()
    missing = sorted(k for k in keys if not re.search(rf"^#?\s*{k}\s*=", example, re.MULTILINE))
    assert keys and not missing, f"undocumented keys: {missing}"


def test_a_tenant_overrides_the_global_sections_key_by_key() -> None:
    data = {
        "verp": {"domain": "bounces.example.org", "secrets": [TEST_SECRET]},
        "policy": {"limit": 10, "act": False},
        "webhook": {"url": "https://app.example.org/hook", "secret": "a-webhook-secret-of-some-length", "events": ["subject.suppressed"]},
        "tenants": {"dewiki": {"policy": {"act": True}, "webhook": {"url": "https://de.example.org/hook"},
                               "verp": {"secrets": ["a-secret-only-dewiki-knows"]}}},
    }
    config = config_module.from_dict(data)
    dewiki, other = config.tenant("dewiki"), config.tenant("frwiki")
    assert (dewiki.policy.limit, dewiki.policy.act) == (10, True) and (other.policy.limit, other.policy.act) == (10, False)
    assert dewiki.actions.webhook is not None and dewiki.actions.webhook.url == "https://de.example.org/hook"
    assert dewiki.actions.webhook.secret == config.actions.webhook.secret  # inherited: only the url was overridden
    assert [s.value for s in dewiki.verp.secrets] == [b"a-secret-only-dewiki-knows"]  # replaced, never added to
    assert other.verp is config.verp


@pytest.mark.parametrize(("data", "key", "fragments"), [
    pytest.param({"webhook": {"url": "ftp://x", "secret": "a-webhook-secret-of-some-length"}}, "webhook.url", ["http:// or https://"], id="webhook-url"),
    pytest.param({"webhook": {"url": "https://x.example.org/"}}, "webhook.secret", ["exactly one of secret", "token_urlsafe"], id="webhook-no-secret"),
    pytest.param({"webhook": {"url": "https://x.example.org/", "secret": "short"}}, "webhook.secret", ["shorter than 16 bytes"], id="webhook-short-secret"),
    pytest.param({"webhook": {"url": "https://x.example.org/", "secret": "a-webhook-secret-of-some-length", "events": ["subject.deleted"]}},
                 "webhook.events", ["unknown event 'subject.deleted'", '"subject.suppressed"'], id="webhook-unknown-event"),
    pytest.param({"command": {"events": ["subject.suppressed"]}}, "command.argv", ["missing"], id="command-no-argv"),
    pytest.param({"mediawiki": {"database_url": "oracle://wiki@db/wiki"}}, "mediawiki.database_url", ["not supported", "mysql+aiomysql"], id="mediawiki-driver"),
    pytest.param({"policy": {"soft_weight": 2}}, "policy.soft_weight", ["from 0 to 1"], id="soft-weight-range"),
    pytest.param({"dkim": {"sign_selector": "verpd"}}, "dkim.sign_key_file", ["all three"], id="dkim-partial-signing"),
    pytest.param({"tenants": {"de wiki": {}}}, "tenants.de wiki", ["letters, digits"], id="tenant-id"),
    pytest.param({"tenants": {"dewiki": {"polcy": {}}}}, "tenants.dewiki.polcy", ["did you mean 'tenants.dewiki.policy'"], id="tenant-typo"),
])
def test_action_and_tenant_settings_are_validated_with_a_fix(data: dict, key: str, fragments: list[str]) -> None:
    full = {"verp": {"domain": "bounces.example.org", "secrets": [TEST_SECRET]}, **data}
    with pytest.raises(ConfigError) as raised:
        config_module.from_dict(full)
    messages = [p.message for p in raised.value.problems if p.path == key]
    assert messages, f"no problem for {key}: {raised.value}"
    assert all(f in messages[0] for f in fragments), messages[0]


# --- server.write_wait ----------------------------------------------------------------


def test_server_write_wait_defaults_to_five_seconds_and_can_be_set(tmp_path: Path) -> None:
    """server.write_wait (how long a message waits for the database write path before 451 4.3.2) is 5 s unless set."""
    assert config_module.load(write(tmp_path, render()), environ={}).server.write_wait == 5
    assert config_module.load(write(tmp_path, render({"server": {"write_wait": '"2s"'}})), environ={}).server.write_wait == 2


@pytest.mark.parametrize(("literal", "fragments"), [
    pytest.param("0", ["at least one second", '"5s"'], id="zero"),
    pytest.param('"0s"', ["at least one second", '"5s"'], id="zero-seconds"),
    pytest.param('"0.5s"', ["at least one second"], id="under-a-second"),  # durations are whole seconds: 0.5s is 0
    pytest.param("-1", ["at least 0", "got -1"], id="negative"),  # the duration parser's own refusal
    pytest.param('"soon"', ['"7d"', "'soon'"], id="not-a-duration"),
])
def test_server_write_wait_under_one_second_is_refused_at_its_key(tmp_path: Path, literal: str, fragments: list[str]) -> None:
    """A write_wait of zero (every message busy at once), below a second or negative is a ConfigError at server.write_wait saying what is allowed."""
    error = load_error(write(tmp_path, render({"server": {"write_wait": literal}})))
    message = problem_at(error, "server.write_wait").message
    assert all(fragment in message for fragment in fragments), message
