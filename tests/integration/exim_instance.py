"""Run a real, private Exim daemon for integration tests.

Each instance lives entirely under a directory the test owns: its configuration
file, spool, logs and pid file, a daemon listening on ``127.0.0.1:<smtp_port>``
and nothing else. The caller supplies the main-section lines, the RCPT ACL
statements, routers and transports (typically the README's); after them come an
ACL statement that accepts only the ``relay_to_domains`` and a last router that
fails every other address, so mail only ever goes where the caller's routers send
it. The machine's own Exim configuration (``/etc/exim4``) is neither read nor
touched: every command gets ``-C`` and the instance's own file.

Debian's ``exim4-daemon-light`` conflicts with Postfix, so CI unpacks it into a
private directory instead of installing it and names the binary in
``VERPD_EXIM_BIN`` (see .ci/run); without it ``exim4`` or ``exim`` is looked for
on PATH and in the sbin directories. Exim has to be started as root to keep its
privilege with ``-C``, and Debian's binary needs its ``Debian-exim`` user. Keep
the instance out of pytest's ``tmp_path`` (see ``processes.instance_directory``)::

    with instance_directory("verpd-exim-") as root:
        instance = EximInstance.create(
            root,
            smtp_port=free_port(),
            main="domainlist relay_to_domains = bounces.example.org\\n",
            acl="",
            routers="verpd:\\n  driver = accept\\n  domains = bounces.example.org\\n  transport = verpd_lmtp\\n",
            transports=f"verpd_lmtp:\\n  driver = smtp\\n  protocol = lmtp\\n  hosts = 127.0.0.1\\n"
            f"  port = {lmtp_port}\\n  allow_localhost\\n",
        )
        with instance:  # start() ... stop()
            message_id = instance.send(mail_from="", rcpt_to=[verp], message=b"...")
            instance.wait_for_log(rf"{message_id} => ")

Deferred mail is retried every few seconds (see ``_CONFIG``).
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import shutil
import smtplib
import stat
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.integration.processes import end_group, make_searchable, smtp_submit

BINARY_ENV = "VERPD_EXIM_BIN"
"""Environment variable naming the Exim binary to run (an unpacked ``exim4`` in CI)."""

_CONFIG = """\
# A private Exim instance written by tests/integration/exim_instance.py.
exim_path = {binary}
spool_directory = {root}/spool
log_file_path = {root}/log/%slog
pid_file_path = {root}/exim.pid
primary_hostname = exim-test.localdomain
local_interfaces = <; 127.0.0.1
daemon_smtp_ports = {smtp_port}
keep_environment =
tls_advertise_hosts =
host_lookup =
rfc1413_hosts =
domainlist local_domains =
# A delivery process re-executes Exim with -C, which costs it root: it delivers as
# the Exim user then, which is what this does anyway.
deliver_drop_privilege = true
acl_smtp_rcpt = acl_check_rcpt

{main}
begin acl

acl_check_rcpt:
{acl}
  accept  domains = +relay_to_domains
  deny    message = relay not permitted

begin routers

{routers}
nowhere:
  driver = redirect
  allow_fail
  data = :fail: delivery disabled in this test instance

begin transports

{transports}
begin retry

*  *  F,1h,1s
"""
"""The whole configuration; ``{main}``, ``{acl}``, ``{routers}`` and ``{transports}`` come from the caller."""

_START_TIMEOUT = 20.0
_STOP_TIMEOUT = 10.0
_COMMAND_TIMEOUT = 60.0
_QUEUE_INTERVAL = "2s"


class EximUnavailable(Exception):
    """Exim can't be used on this machine; the message says why."""


def exim_binary() -> str | None:
    """The Exim binary to run: ``$VERPD_EXIM_BIN``, else ``exim4`` or ``exim`` found on PATH or in sbin."""
    if configured := os.environ.get(BINARY_ENV):
        return configured
    search_path = os.pathsep.join([os.environ.get("PATH", os.defpath), "/usr/sbin", "/sbin"])
    return shutil.which("exim4", path=search_path) or shutil.which("exim", path=search_path)


def exim_available() -> str | None:
    """Return None if a private Exim instance can run here, else the reason it can't."""
    if os.geteuid() != 0:
        return "a private Exim instance must be started as root"
    binary = exim_binary()
    if binary is None:
        return (
            f"Exim is not installed (no exim4 or exim on PATH or in /usr/sbin); set {BINARY_ENV} "
            "to an exim4 binary unpacked from Debian's exim4-daemon-light, as .ci/run does"
        )
    if not os.access(binary, os.X_OK):
        return f"{BINARY_ENV}={binary} is not an executable file"
    if closed := [path for path in Path(binary).resolve().parents if not path.stat().st_mode & stat.S_IXOTH]:
        return (
            f"Exim re-executes {binary} as its own user, who cannot reach it: {closed[-1]} is not "
            "searchable by others (unpack Exim somewhere else, as .ci/run does under /var/cache)"
        )
    # Exim moves into its spool directory at start, creating it if need be: without a
    # configuration naming one, it would create the system's /var/spool/exim4.
    with tempfile.TemporaryDirectory(prefix="verpd-exim-check-") as scratch:
        config = Path(scratch) / "exim.conf"
        config.write_text(f"spool_directory = {scratch}/spool\nlog_file_path = {scratch}/%slog\nkeep_environment =\n")
        result = _execute([binary, "-C", str(config), "-bV"])
    if result.returncode != 0:
        return f"{binary} cannot run here: {result.stdout.strip()}"
    return None


@dataclass
class EximInstance:
    """A private Exim daemon under ``root``, listening on ``127.0.0.1:smtp_port``.

    Build one with :meth:`create`, then :meth:`start` and :meth:`stop` it (or use it
    as a context manager, which does both).
    """

    root: Path
    smtp_port: int
    binary: str
    _daemon: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def config_file(self) -> Path:
        """The instance's configuration file (given to every command with ``-C``)."""
        return self.root / "exim.conf"

    @property
    def log_file(self) -> Path:
        """The instance's main log."""
        return self.root / "log" / "mainlog"

    @classmethod
    def create(cls, root: Path, *, smtp_port: int, main: str, acl: str, routers: str, transports: str) -> EximInstance:
        """Write the configuration of a new, stopped instance under ``root``.

        ``main`` goes at the end of the main section, ``acl`` at the start of the RCPT
        ACL, ``routers`` before the router that fails everything else, and
        ``transports`` is the transport section. The configuration is checked with
        ``exim -bV``, whose complaints are raised as RuntimeError.

        Raises EximUnavailable if :func:`exim_available` finds a reason.
        """
        if reason := exim_available():
            raise EximUnavailable(reason)
        instance = cls(root=root, smtp_port=smtp_port, binary=exim_binary())
        instance._write_config(main=main, acl=acl, routers=routers, transports=transports)
        return instance

    def start(self) -> None:
        """Start the daemon (with a queue runner every few seconds) and wait until it greets an SMTP client."""
        output = (self.root / "daemon.out").open("wb")
        # -bdf: the daemon stays in the foreground, our child, leading a process group of its own.
        self._daemon = subprocess.Popen(
            [self.binary, "-C", str(self.config_file), "-bdf", f"-q{_QUEUE_INTERVAL}"],
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        output.close()
        deadline = time.monotonic() + _START_TIMEOUT
        while True:
            try:
                with smtplib.SMTP("127.0.0.1", self.smtp_port, "localhost", timeout=5):
                    return
            except OSError as error:  # includes smtplib.SMTPException
                if self._daemon.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(
                        f"Exim daemon on 127.0.0.1:{self.smtp_port} not ready ({error}; is the port free?)"
                        f"{self._output_tail()}{self._log_tail()}"
                    ) from error
            time.sleep(0.1)

    def stop(self) -> None:
        """Stop the daemon and make sure none of its processes is left. Idempotent.

        SIGTERM ends the daemon; the processes it forked (receiving or delivering a
        message) share its process group, which is killed if anything of it is
        left after ``_STOP_TIMEOUT`` seconds.
        """
        if self._daemon is None:
            return
        daemon = self._daemon
        end_group(daemon.pid, _STOP_TIMEOUT, "Exim", reap=lambda: daemon.wait(_STOP_TIMEOUT))
        daemon.wait()
        self._daemon = None

    def __enter__(self) -> EximInstance:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def send(self, *, mail_from: str, rcpt_to: list[str], message: bytes) -> str:
        """Submit ``message`` over SMTP to this instance and return its Exim message ID.

        ``mail_from=""`` sends the null sender ``MAIL FROM:<>``. Raises the matching
        ``smtplib`` exception, carrying the server's reply, if the sender, any
        recipient or the message is refused.
        """
        reply = smtp_submit(self.smtp_port, mail_from=mail_from, rcpt_to=rcpt_to, message=message, timeout=60)
        return re.search(rb"id=([\w-]+)", reply)[1].decode()

    def queue_size(self) -> int:
        """How many messages are on the instance's queue (``exim -bpc``)."""
        result = self._run("-bpc")
        if result.returncode != 0:
            raise RuntimeError(f"exim -bpc failed:\n{result.stdout}")
        return int(result.stdout.strip())

    def mainlog(self) -> str:
        """Return the instance's main log so far ("" before Exim has written any)."""
        try:
            return self.log_file.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def paniclog(self) -> str:
        """Return the instance's panic log ("" while Exim has had nothing to panic about)."""
        try:
            return (self.root / "log" / "paniclog").read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_for_log(self, pattern: str, timeout: float = 30.0) -> re.Match[str]:
        """Wait until the main log matches regex ``pattern`` (multiline) and return the match.

        The whole log is searched each time, so make the pattern specific to the
        message at hand, e.g. by its ID from :meth:`send`. Raises AssertionError
        with the log's tail if there's no match within ``timeout`` seconds.
        """
        regex = re.compile(pattern, re.MULTILINE)
        deadline = time.monotonic() + timeout
        while (match := regex.search(self.mainlog())) is None:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"no match for {pattern!r} in {self.log_file} after {timeout}s{self._log_tail()}"
                )
            time.sleep(0.1)
        return match

    def _write_config(self, *, main: str, acl: str, routers: str, transports: str) -> None:
        """Create the spool and log directories (the Exim user's) and write the configuration."""
        self.root.mkdir(parents=True, exist_ok=True)
        make_searchable(self.root)
        self.config_file.write_text(
            _CONFIG.format(
                binary=self.binary,
                root=self.root,
                smtp_port=self.smtp_port,
                main=_block(main),
                acl=_block(acl),
                routers=_block(routers),
                transports=_block(transports),
            )
        )
        self.config_file.chmod(0o644)  # Exim refuses a configuration others may write
        user, group = self._exim_ids()
        for directory in (self.root / "spool", self.root / "log"):
            directory.mkdir(exist_ok=True)
            os.chown(directory, user, group)
            directory.chmod(0o750)
        result = self._run("-bV")
        if result.returncode != 0:
            raise RuntimeError(f"Exim rejects the configuration {self.config_file}:\n{result.stdout}")

    def _exim_ids(self) -> tuple[int, int]:
        """The uid and gid Exim drops to (``exim_user`` and ``exim_group``, as this Exim resolves them)."""
        result = self._run("-bP", "exim_user", "exim_group")
        values = dict(re.findall(r"^(exim_user|exim_group) = (\S+)", result.stdout, re.MULTILINE))
        if result.returncode != 0 or len(values) != 2:
            raise RuntimeError(f"exim -bP exim_user exim_group failed:\n{result.stdout}")
        return pwd.getpwnam(values["exim_user"]).pw_uid, grp.getgrnam(values["exim_group"]).gr_gid

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run Exim on this instance's configuration (``-C config_file``); output in stdout."""
        return _execute([self.binary, "-C", str(self.config_file), *args])

    def _output_tail(self, lines: int = 20) -> str:
        """The end of what the daemon wrote to stdout and stderr, for an error message."""
        try:
            text = (self.root / "daemon.out").read_text(errors="replace")
        except FileNotFoundError:
            text = ""
        tail = "\n".join(text.splitlines()[-lines:])
        return f"\n--- the daemon's output ---\n{tail}"

    def _log_tail(self, lines: int = 40) -> str:
        """The end of the main and panic logs, formatted for an error message."""
        tail = "\n".join(self.mainlog().splitlines()[-lines:])
        panics = self.paniclog()
        return f"\n--- last {lines} lines of {self.log_file} ---\n{tail}" + (
            f"\n--- the panic log ---\n{panics}" if panics else ""
        )


def _block(text: str) -> str:
    """``text`` ending with exactly one blank line, to keep sections apart."""
    return text.rstrip("\n") + "\n\n" if text.strip() else ""


def _execute(command: list[str]) -> subprocess.CompletedProcess[str]:
    """Run ``command`` with its output (stdout and stderr) captured as text."""
    return subprocess.run(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=_COMMAND_TIMEOUT,
        check=False,
    )
