"""The fuzz targets of ``tests/fuzz.py`` under a large budget: 10^5 inputs by default.

    python -m tests.bench fuzz [--inputs N] [--targets parse,verp,...] [--atheris]

The inputs are shared among the targets by :data:`SHARES` (an LMTP input is a whole
session; a linearity input parses one random shape at two sizes, several times). Each
target runs in a child process of its own, so its peak resident memory (VmHWM, as
``bench_parse`` measures it) is its own; the child runs hypothesis in batches of
:data:`BATCH` examples (a fresh engine each, so hypothesis's own memory stays flat) and
reports, per target: inputs run, failures, the longest one input took, and the target's
figures (LMTP deliveries, the memory and linearity bounds reached). Exits non-zero on
any failure.

``--atheris`` lets libFuzzer (atheris, when installed: ``pip install '.[fuzz]'``) choose
the bytes hypothesis turns into inputs (``fuzz_one_input``), with verpd's code
instrumented for coverage, from a corpus of random seeds; each target then runs
``-runs=N`` inputs (libFuzzer's count), and libFuzzer ends the process, so the LMTP
target's closing legitimate delivery is not made in this mode.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

from tests.bench.bench_parse import _high_water_kib

# Share of the inputs each target gets; the expensive ones (a session, a traced parse, a timed pair) get fewer.
SHARES = {"parse": 0.52, "verp": 0.36, "lmtp": 0.10, "memory": 0.018, "linear": 0.002}
BATCH = 2000  # examples per hypothesis run
PROGRESS_EVERY = 200  # inputs between two writes of the child's figures (atheris ends the process without warning)


def budget(inputs: int, targets: list[str]) -> dict[str, int]:
    """How many inputs each of ``targets`` gets out of ``inputs`` (at least one each)."""
    total = sum(SHARES[t] for t in targets)
    return {t: max(1, math.ceil(inputs * SHARES[t] / total)) for t in targets}


def run(inputs: int, targets: list[str] | None = None, use_atheris: bool = False) -> bool:
    """Run every target in a child process; print one line each and a total. True if nothing failed."""
    targets = targets or list(SHARES)
    plan = budget(inputs, targets)
    print(f"fuzz: {sum(plan.values())} inputs ({', '.join(f'{t} {n}' for t, n in plan.items())}), "
          f"{'atheris (libFuzzer) choosing the bytes' if use_atheris else 'hypothesis'}")
    started = time.perf_counter()
    ok = True
    for target, n in plan.items():
        result = _run_child(target, n, use_atheris)
        ok &= result["failures"] == 0 and result["exit"] == 0
        figures = ", ".join(f"{k} {v:g}" for k, v in result.get("figures", {}).items())
        print(f"fuzz: {target:7s} {result['inputs']:7d} inputs, {result['failures']} failures, max {result['max_seconds'] * 1000:7.1f} ms/input, "
              f"peak RSS {result['peak_rss_kib'] / 1024:6.1f} MiB, {result['seconds']:6.1f} s" + (f" ({figures})" if figures else ""))
        for failure in result.get("messages", []):
            print(f"fuzz: {target} FAILED: {failure}")
        if result["exit"] != 0 and not result.get("messages"):
            print(f"fuzz: {target} child exited with status {result['exit']}: {result.get('stderr', '')[-2000:]}")
    print(f"fuzz: {'no failures' if ok else 'FAILURES'} in {time.perf_counter() - started:.0f} s")
    return ok


def _run_child(target: str, inputs: int, use_atheris: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"verpd-fuzz-{target}-") as directory:
        out = Path(directory) / "result.json"
        command = [sys.executable, "-m", "tests.bench.bench_fuzz", target, str(inputs), directory] + (["--atheris"] if use_atheris else [])
        started = time.perf_counter()
        with open(Path(directory) / "stderr", "w+") as stderr:
            proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr)
            peak = 0
            while proc.poll() is None:
                peak = max(peak, _high_water_kib(proc.pid))
                time.sleep(0.05)
            stderr.seek(0)
            errors = stderr.read()
        result: dict[str, Any] = json.loads(out.read_text()) if out.exists() else {"inputs": 0, "failures": 1, "max_seconds": 0, "messages": []}
        if use_atheris and "Done " in errors:  # libFuzzer's own count: "Done 1000 runs in 12 second(s)"
            result["inputs"] = max(result["inputs"], int(errors.rsplit("Done ", 1)[1].split()[0]))
        if use_atheris and proc.returncode != 0 and not result["failures"]:
            result["failures"] = 1
            result.setdefault("messages", []).append(errors[-3000:])
        result.update(exit=proc.returncode, peak_rss_kib=peak, seconds=time.perf_counter() - started, stderr=errors)
        return result


# --- the child ------------------------------------------------------------------------


class _Tally:
    """The child's figures, written to ``out`` now and then and at the end."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.inputs = 0
        self.failures = 0
        self.max_seconds = 0.0
        self.messages: list[str] = []
        self.figures: dict[str, float] = {}
        self.every = PROGRESS_EVERY

    def write(self) -> None:
        data = {"inputs": self.inputs, "failures": self.failures, "max_seconds": self.max_seconds, "messages": self.messages, "figures": self.figures}
        self.out.write_text(json.dumps(data))

    def timed(self, check: Any) -> Any:
        def call(value: Any) -> None:
            self.inputs += 1
            started = time.perf_counter()
            try:
                check(value)
            finally:
                self.max_seconds = max(self.max_seconds, time.perf_counter() - started)
                if self.inputs % self.every == 0:
                    self.write()

        return call


def child(target_name: str, inputs: int, directory: Path, use_atheris: bool) -> None:
    tally = _Tally(directory / "result.json")
    tally.every = max(1, min(PROGRESS_EVERY, inputs // 20))
    if use_atheris:
        import atheris

        with atheris.instrument_imports(include=["verpd"]):
            import verpd.classify, verpd.daemon, verpd.lmtp, verpd.parse, verpd.pipeline, verpd.verp  # noqa: F401, E401
    from hypothesis import given, settings

    from tests.fuzz import FUZZ, open_target

    try:
        with open_target(target_name, directory) as target:
            tally.figures = target.figures
            check = tally.timed(target.check)
            if use_atheris:
                test = settings(FUZZ)(given(target.strategy)(check))
                tally.write()
                corpus = directory / "corpus"  # random seeds: hypothesis needs some bytes to draw an input from, libFuzzer starts from none
                corpus.mkdir()
                for i in range(16):
                    (corpus / f"seed{i}").write_bytes(os.urandom(4096))
                atheris.Setup([sys.argv[0], str(corpus), f"-runs={inputs}", "-max_len=16384", "-len_control=0", f"-artifact_prefix={directory}/",
                               "-print_final_stats=1"], test.hypothesis.fuzz_one_input)
                atheris.Fuzz()  # libFuzzer exits the process when done: the figures come from the last write
                return
            while tally.inputs < inputs:
                test = settings(FUZZ, max_examples=min(BATCH, inputs - tally.inputs))(given(target.strategy)(check))
                test()
            target.finish()
    except Exception as e:  # hypothesis has shrunk the failing input and raised its error
        for error in e.exceptions if isinstance(e, BaseExceptionGroup) else (e,):  # hypothesis reports distinct bugs as a group
            tally.failures += 1
            tally.messages.append("".join(traceback.format_exception_only(error)).strip()[:1500])
    tally.write()


if __name__ == "__main__":
    name, count, where = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
    child(name, count, where, "--atheris" in sys.argv[4:])
    sys.stdout.flush()
    os._exit(0)  # the LMTP daemon's thread is stopped; skip interpreter teardown
