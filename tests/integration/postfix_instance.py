"""Run a real, private Postfix instance for integration tests.

Each instance lives entirely under a directory the test owns: its own
configuration directory, queue, data directory and log file, an smtpd on
``127.0.0.1:<smtp_port>`` and nothing else. Every transport that could reach
another machine is replaced by ``error:5.7.1``, so mail only ever goes where
the caller's transport table sends it (typically an LMTP server on loopback).
The system's default Postfix instance is neither used nor touched: every
command runs with ``-c`` and the instance's own configuration directory.

Postfix's master daemon has to run as root, so these tests need root (as in
CI); :func:`postfix_available` says why an instance can't be used here, which
suits ``pytest.skip``::

    import pytest
    from tests.integration.postfix_instance import PostfixInstance, postfix_available
    from tests.integration.processes import instance_directory

    @pytest.fixture  # lmtp_port and free_port are the test suite's own fixtures
    def postfix(lmtp_port, free_port):
        if reason := postfix_available():
            pytest.skip(reason)
        # Not under tmp_path: see instance_directory.
        with instance_directory("verpd-postfix-") as root:
            instance = PostfixInstance.create(
                root,
                smtp_port=free_port(),
                main_cf={
                    "relay_domains": "bounces.example.org",
                    "transport_maps": "texthash:{config_dir}/transport",
                },
                tables={"transport": f"bounces.example.org lmtp:inet:127.0.0.1:{lmtp_port}\\n"},
            )
            with instance:  # start() ... stop()
                yield instance

    def test_bounce_is_delivered(postfix):
        queue_id = postfix.send(
            mail_from="", rcpt_to=["someone@bounces.example.org"], message=b"..."
        )
        postfix.wait_for_log(rf"{queue_id}: to=<someone@bounces\\.example\\.org>.*status=sent")

Deferred mail is retried every few seconds (see ``_BASE_MAIN_CF``);
:meth:`PostfixInstance.flush` retries it at once.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import smtplib
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from tests.integration.processes import end_group, make_searchable, smtp_submit

MAIL_OWNER = "postfix"
"""The unprivileged user Postfix daemons run as (Postfix's ``mail_owner``)."""

MASTER_CF_TEMPLATES = (
    Path("/usr/share/postfix/master.cf.dist"),  # shipped by Debian's postfix package
    Path("/etc/postfix/master.cf.proto"),  # written by its postinst, and upstream's name
)
"""Where to find the stock master.cf; the first one that exists is used."""

NO_DELIVERY = "error:5.7.1 delivery disabled in this test instance"

_BASE_MAIN_CF = {
    "compatibility_level": "3.6",  # what Debian writes on a fresh install
    "myhostname": "postfix-test.localdomain",  # the machine's name may not be a valid one
    "inet_interfaces": "127.0.0.1",
    "inet_protocols": "ipv4",
    "mynetworks": "127.0.0.0/8",
    "mydestination": "",
    "alias_maps": "",  # the default one's nis: lookups only log warnings
    "default_transport": NO_DELIVERY,
    "relay_transport": NO_DELIVERY,
    "local_transport": NO_DELIVERY,
    "smtp_dns_support_level": "disabled",
    "minimal_backoff_time": "5s",
    "maximal_backoff_time": "10s",
    "queue_run_delay": "5s",
}
"""main.cf settings every instance gets, besides its own directories and names."""

_START_TIMEOUT = 20.0
_STOP_TIMEOUT = 10.0
_COMMAND_TIMEOUT = 60.0


class PostfixUnavailable(Exception):
    """Postfix can't be used on this machine; the message says why."""


def postfix_available() -> str | None:
    """Return None if a private Postfix instance can run here, else the reason it can't."""
    if os.geteuid() != 0:
        return "a private Postfix instance must be started as root"
    missing = [tool for tool in ("postfix", "postconf", "postqueue") if _tool(tool) is None]
    if missing:
        return f"Postfix is not installed (no {', '.join(missing)} on PATH or in /usr/sbin)"
    try:
        pwd.getpwnam(MAIL_OWNER)
    except KeyError:
        return f"there is no {MAIL_OWNER!r} user for Postfix daemons to run as"
    if _master_cf_template() is None:
        return f"no stock master.cf found (looked for {', '.join(map(str, MASTER_CF_TEMPLATES))})"
    return None


@dataclass
class PostfixInstance:
    """A private Postfix instance under ``root``, listening on ``127.0.0.1:smtp_port``.

    Build one with :meth:`create`, then :meth:`start` and :meth:`stop` it (or use it
    as a context manager, which does both).
    """

    root: Path
    smtp_port: int

    @property
    def config_dir(self) -> Path:
        """The instance's configuration directory (main.cf, master.cf, the tables)."""
        return self.root / "config"

    @property
    def queue_dir(self) -> Path:
        """The instance's ``queue_directory``."""
        return self.root / "queue"

    @property
    def data_dir(self) -> Path:
        """The instance's ``data_directory``."""
        return self.root / "data"

    @property
    def log_file(self) -> Path:
        """The instance's ``maillog_file``."""
        return self.root / "maillog"

    @classmethod
    def create(
        cls,
        root: Path,
        *,
        smtp_port: int,
        main_cf: dict[str, str],
        tables: dict[str, str],
        commands: str = "",
    ) -> PostfixInstance:
        """Write the configuration of a new, stopped instance under ``root``.

        ``main_cf`` settings are applied after the defaults in ``_BASE_MAIN_CF`` (so
        they win); ``{config_dir}`` in their values becomes the configuration
        directory. Each of ``tables`` (file name: content) is written to
        ``{config_dir}/<name>``. Then ``commands``, a shell script, runs with
        ``postconf`` bound to this instance (see :meth:`run_commands`). In master.cf
        the stock smtpd is replaced by one on ``127.0.0.1:smtp_port`` and chroot is
        turned off for every service.

        Raises PostfixUnavailable if :func:`postfix_available` finds a reason.
        """
        if reason := postfix_available():
            raise PostfixUnavailable(reason)
        instance = cls(root=root, smtp_port=smtp_port)
        instance._write_config(main_cf, tables, commands)
        return instance

    def start(self) -> None:
        """Start the instance and wait until its smtpd greets an SMTP client."""
        result = self._run("postfix", "start")
        if result.returncode != 0:
            self.stop()
            # The master daemon's own fatal errors (such as "bind ... Address already
            # in use") never reach the log: it dies before the log daemon runs.
            raise RuntimeError(
                f"postfix start failed (is 127.0.0.1:{self.smtp_port} free?)\n"
                f"{result.stdout}{self._log_tail()}"
            )
        deadline = time.monotonic() + _START_TIMEOUT
        while True:
            try:
                with smtplib.SMTP("127.0.0.1", self.smtp_port, "localhost", timeout=5):
                    return
            except OSError as error:  # includes smtplib.SMTPException
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(
                        f"Postfix smtpd on 127.0.0.1:{self.smtp_port} not ready after "
                        f"{_START_TIMEOUT:.0f}s ({error}){self._log_tail()}"
                    ) from error
            time.sleep(0.1)

    def stop(self) -> None:
        """Stop the instance and make sure none of its processes is left. Idempotent.

        Like ``postfix stop``, this sends SIGTERM to the master daemon, which passes
        it on to its children. But where that command checks once a second whether
        the master alone has gone, this waits for the master's whole process group
        (the master leads one of its own) and kills whatever is left of it after
        ``_STOP_TIMEOUT`` seconds.
        """
        pid_file = self.queue_dir / "pid" / "master.pid"
        try:
            master_pid = int(pid_file.read_text())
        except (FileNotFoundError, ValueError):
            return
        end_group(master_pid, _STOP_TIMEOUT, "Postfix")
        pid_file.unlink()

    def __enter__(self) -> PostfixInstance:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def send(self, *, mail_from: str, rcpt_to: list[str], message: bytes) -> str:
        """Submit ``message`` over SMTP to this instance and return its queue ID.

        ``mail_from=""`` sends the null sender ``MAIL FROM:<>``. Raises the matching
        ``smtplib`` exception, carrying the server's reply, if the sender, any
        recipient or the message is refused.
        """
        reply = smtp_submit(self.smtp_port, mail_from=mail_from, rcpt_to=rcpt_to, message=message, timeout=30)
        return re.search(rb"queued as (\w+)", reply)[1].decode()

    def postconf(self, *args: str) -> str:
        """Run ``postconf`` on this instance's configuration and return its output."""
        result = self._run("postconf", *args)
        if result.returncode != 0:
            raise RuntimeError(f"postconf {' '.join(args)} failed:\n{result.stdout}")
        return result.stdout

    def run_commands(self, script: str) -> None:
        """Run the shell ``script`` with every ``postconf`` in it acting on this instance.

        ``postconf`` becomes a shell function adding ``-c <config_dir>``, and
        ``MAIL_CONFIG`` names the same directory, so a script written for the
        system's Postfix (such as the README's) edits this instance only.
        ``{config_dir}`` in the script becomes the configuration directory; a script
        that still names ``/etc/postfix`` is refused rather than run.
        """
        script = script.replace("{config_dir}", str(self.config_dir))
        if "/etc/postfix" in script:
            raise ValueError(f"refusing to run a script that names /etc/postfix:\n{script}")
        postconf = _tool("postconf")
        bound = f'postconf() {{ "{postconf}" -c "$MAIL_CONFIG" "$@"; }}\n{script}'
        result = subprocess.run(
            ["/bin/sh", "-e", "-u", "-c", bound],
            env={"PATH": os.defpath, "MAIL_CONFIG": str(self.config_dir)},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=_COMMAND_TIMEOUT,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"commands failed (status {result.returncode}):\n{script}\n{result.stdout}")

    def queue(self) -> list[dict]:
        """The messages in the instance's queue, one dict each (``postqueue -j``)."""
        result = self._run("postqueue", "-j")
        if result.returncode != 0:
            raise RuntimeError(f"postqueue -j failed:\n{result.stdout}")
        return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]

    def flush(self) -> None:
        """Retry all deferred mail now, ignoring backoff times (``postqueue -f``)."""
        result = self._run("postqueue", "-f")
        if result.returncode != 0:
            raise RuntimeError(f"postqueue -f failed:\n{result.stdout}")

    def maillog(self) -> str:
        """Return the instance's log so far ("" before Postfix has written any)."""
        try:
            return self.log_file.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_for_log(self, pattern: str, timeout: float = 30.0) -> re.Match[str]:
        """Wait until the log matches regex ``pattern`` (multiline) and return the match.

        The whole log is searched each time, so make the pattern specific to the
        message at hand, e.g. by its queue ID from :meth:`send`. Raises
        AssertionError with the log's tail if there's no match within ``timeout``
        seconds.
        """
        regex = re.compile(pattern, re.MULTILINE)
        deadline = time.monotonic() + timeout
        while (match := regex.search(self.maillog())) is None:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"no match for {pattern!r} in {self.log_file} after {timeout}s"
                    f"{self._log_tail()}"
                )
            time.sleep(0.1)
        return match

    def _write_config(self, main_cf: dict[str, str], tables: dict[str, str], commands: str) -> None:
        """Create the directories, write main.cf, master.cf and the tables, run ``commands``."""
        for directory in (self.config_dir, self.queue_dir, self.data_dir):
            directory.mkdir(parents=True, exist_ok=True)
        # Postfix creates the queue's subdirectories, owned by the postfix user, at
        # start; its daemons then reach them relative to the queue directory.
        self.queue_dir.chmod(0o755)
        owner = pwd.getpwnam(MAIL_OWNER)
        os.chown(self.data_dir, owner.pw_uid, owner.pw_gid)
        self.data_dir.chmod(0o700)
        make_searchable(self.root)

        (self.config_dir / "main.cf").write_text("")
        shutil.copyfile(_master_cf_template(), self.config_dir / "master.cf")
        for name, content in tables.items():
            (self.config_dir / name).write_text(content)

        settings = {
            **_BASE_MAIN_CF,
            "queue_directory": str(self.queue_dir),
            "data_directory": str(self.data_dir),
            "maillog_file": str(self.log_file),
            "maillog_file_prefixes": str(self.root),
            "syslog_name": f"postfix-test-{uuid.uuid4().hex[:8]}",
            **{
                name: value.replace("{config_dir}", str(self.config_dir))
                for name, value in main_cf.items()
            },
        }
        self.postconf("-e", *(f"{name}={value}" for name, value in settings.items()))

        listener = f"127.0.0.1:{self.smtp_port}"
        self.postconf("-M#", "smtp/inet")
        self.postconf("-Me", f"{listener}/inet={listener} inet n - n - - smtpd")
        self.postconf("-F", "*/*/chroot=n")
        if commands:
            self._backdate_config()
            self.run_commands(commands)
        self._backdate_config()

    def _backdate_config(self) -> None:
        """Make the configuration files an hour old.

        Postfix programs (postconf and the daemons alike) reread main.cf and texthash
        tables until they are two seconds old ("let the file cool down"); backdating
        them saves those seconds at each read.
        """
        an_hour_ago = time.time() - 3600
        for path in self.config_dir.iterdir():
            os.utime(path, (an_hour_ago, an_hour_ago))

    def _run(self, tool: str, *args: str) -> subprocess.CompletedProcess[str]:
        """Run a Postfix command on this instance (``-c config_dir``); output in stdout."""
        return subprocess.run(
            [_tool(tool), "-c", str(self.config_dir), *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=_COMMAND_TIMEOUT,
            check=False,
        )

    def _log_tail(self, lines: int = 40) -> str:
        """The end of the log, formatted for an error message."""
        tail = "\n".join(self.maillog().splitlines()[-lines:])
        return f"\n--- last {lines} lines of {self.log_file} ---\n{tail}"


def _tool(name: str) -> str | None:
    """Full path of a Postfix command, looked for on PATH and in the sbin directories."""
    search_path = os.pathsep.join([os.environ.get("PATH", os.defpath), "/usr/sbin", "/sbin"])
    return shutil.which(name, path=search_path)


def _master_cf_template() -> Path | None:
    """The first stock master.cf of ``MASTER_CF_TEMPLATES`` that exists."""
    return next((path for path in MASTER_CF_TEMPLATES if path.is_file()), None)
