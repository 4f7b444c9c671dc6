"""Parser throughput: verpd's parser and, when installed, Sisimai 4.25 on the same files.

Each parser runs as its own process reading the list of paths on stdin (the list
repeated ``repeat`` times), exactly as the corpus scorer drives it; the figures are
messages per wall second and the process's peak resident memory (``wait4``).
Sisimai comes from Debian's ``libsisimai-perl``; without it only verpd is measured.

:func:`run_large_dsn` times one hostile message instead: a DSN naming 100,000
recipients in delivery-status blocks without Diagnostic-Code (anyone who holds one
VERP address can send it; finding each one's SMTP command in the text once cost time
quadratic in their number, over two minutes for this message).
"""

from __future__ import annotations

import compileall
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SISIMAI_SCRIPT = r"""
use strict; use warnings; use Sisimai;
while (my $path = <STDIN>) {
    chomp $path;
    my $found = Sisimai->make($path, 'delivered' => 1) || [];
    print scalar(@$found), "\n";
}
"""


def sisimai_available() -> bool:
    return shutil.which("perl") is not None and subprocess.run(["perl", "-MSisimai", "-e", "1"], capture_output=True).returncode == 0


def measure(command: list[str], paths: list[str], repeat: int) -> tuple[float, float, int]:
    """(messages per second, peak RSS in MiB, exit status) of ``command`` parsing ``paths`` ``repeat`` times."""
    with tempfile.TemporaryFile() as stdin:
        stdin.write(("\n".join(paths) + "\n").encode() * repeat)
        stdin.seek(0)
        started = time.perf_counter()
        proc = subprocess.Popen(command, stdin=stdin, stdout=subprocess.DEVNULL)
        peak_kib = 0
        while proc.poll() is None:
            peak_kib = max(peak_kib, _high_water_kib(proc.pid))
            time.sleep(0.01)
        elapsed = time.perf_counter() - started
    return len(paths) * repeat / elapsed, peak_kib / 1024, proc.returncode


def _high_water_kib(pid: int) -> int:
    """The process's own peak RSS (VmHWM). Unlike ru_maxrss it is not inflated by the
    parent's memory at fork/exec time, and it only grows, so polling it till exit finds the peak."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def run(corpus: Path, repeat: int, rounds: int = 3) -> None:
    """Measure both parsers ``rounds`` times, alternating, and report the medians.

    One run is noisy on a shared machine (±10 % here); alternating the parsers and
    taking medians keeps a slow moment from deciding the comparison.
    """
    paths = sorted(str(p) for p in corpus.iterdir() if p.is_file() and not p.name.endswith((".json", ".jsonl", ".txt", ".md")))
    if not paths:
        print(f"parse: no messages under {corpus}")
        return
    verpd_command = [sys.executable, "-m", "verpd", "parse", "--jsonl"]
    # Measure verpd as installed: pip byte-compiles a package it installs, an editable
    # checkout under PYTHONDONTWRITEBYTECODE would recompile every module at each start.
    import verpd

    compileall.compile_dir(str(Path(verpd.__file__).parent), quiet=1)
    sisimai = sisimai_available()
    script = None
    if sisimai:
        with tempfile.NamedTemporaryFile("w", suffix=".pl", delete=False) as handle:
            handle.write(SISIMAI_SCRIPT)
            script = handle.name
    results: dict[str, list[tuple[float, float, int]]] = {"verpd": [], "Sisimai": []}
    try:
        for _ in range(rounds):
            results["verpd"].append(measure(verpd_command, paths, repeat))
            if script:
                results["Sisimai"].append(measure(["perl", script], paths, repeat))
    finally:
        if script:
            os.unlink(script)
    rates = {name: statistics.median(r[0] for r in runs) for name, runs in results.items() if runs}
    for name, runs in results.items():
        if runs:
            rss = max(r[1] for r in runs)
            status = max(r[2] for r in runs)
            spread = ", ".join(f"{r[0]:.0f}" for r in runs)
            print(f"parse: {name:8s} {rates[name]:6.0f} msg/s median of {rounds} ({spread}), peak RSS {rss:5.1f} MiB, "
                  f"{len(paths)} messages x {repeat}, exit {status}")
    if not sisimai:
        print("parse: Sisimai 4.25 not installed (apt-get install libsisimai-perl) - no comparison")
        return
    print(f"parse: verpd / Sisimai = {rates['verpd'] / rates['Sisimai']:.2f}x (median rates, start-up included)")


def large_dsn(recipients: int) -> bytes:
    """A multipart/report naming ``recipients`` recipients, each in a delivery-status block without Diagnostic-Code."""
    blocks = "".join(f"Final-Recipient: rfc822; user{i}@example.org\nAction: failed\nStatus: 5.1.1\n\n" for i in range(recipients))
    return (
        "From: MAILER-DAEMON@mx.example.com (Mail Delivery System)\nTo: wiki-enwiki-42-b7q2xk@bounces.example.org\n"
        "Subject: Undelivered Mail Returned to Sender\nMIME-Version: 1.0\n"
        "Content-Type: multipart/report; report-type=delivery-status; boundary=B\n\n"
        "--B\nContent-Type: text/plain\n\nThis is the mail system at host mx.example.com.\n\n"
        f"--B\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.com\n\n{blocks}"
        "--B\nContent-Type: text/rfc822-headers\n\nFrom: wiki@example.org\nTo: user0@example.org\n\n--B--\n"
    ).encode()


def run_large_dsn(recipients: int = 100_000) -> None:
    """Parse :func:`large_dsn` once, in this process, and print the time with the message's size."""
    from verpd.parse import parse

    raw = large_dsn(recipients)
    started = time.perf_counter()
    report = parse(raw)
    elapsed = time.perf_counter() - started
    print(f"parse: DSN of {recipients:,} recipient blocks without Diagnostic-Code, {len(raw) / 1e6:.1f} MB: "
          f"{elapsed:.2f} s ({len(report.recipients)} records: parse.max_recipients and one for the rest)")


def run_hostile_classify() -> None:
    """Classify the diagnostics an attacker would write, at the length parse caps them to, and print the worst.

    Each keyword of every phrase table (the words that make a row's pattern run) is repeated
    with each of a few separators up to ``MAX_DIAGNOSTIC`` characters: the texts on which a
    pattern with ``.{1,n}`` or ``\\s*`` between words does the most work. Each text is
    classified twice and the faster time kept (the first run also compiles the rows).
    """
    from verpd.classify import classify
    from verpd.classify.matching import required_words
    from verpd.classify.tables import TABLES
    from verpd.model import RecipientFacts
    from verpd.parse.message.text import MAX_DIAGNOSTIC

    words = sorted({w for table in TABLES.values() for row in table.rows for w in (required_words(row.pattern) or ())})
    separators = (" ", "  ", "\t", ". ", "@", "<", "a@")

    def seconds(diagnostic: str) -> float:
        facts = RecipientFacts(address="user@example.org", action="failed", status="5.0.0", reply_code=550, diagnostic=diagnostic)
        best = float("inf")
        for _ in range(2):
            started = time.perf_counter()
            classify(facts)
            best = min(best, time.perf_counter() - started)
        return best

    typical = seconds("550 5.1.1 <user@example.org>: Recipient address rejected: User unknown in virtual mailbox table")
    worst, word, sep = max((seconds(((w + s) * MAX_DIAGNOSTIC)[:MAX_DIAGNOSTIC]), w, s) for w in words for s in separators)
    print(f"classify: {len(words) * len(separators):,} hostile diagnostics of {MAX_DIAGNOSTIC} chars ({len(words)} table keywords x "
          f"{len(separators)} separators): worst {worst * 1e3:.2f} ms ({word!r} + {sep!r} repeated); a typical one {typical * 1e6:.0f} us")
