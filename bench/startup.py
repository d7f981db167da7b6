"""Start-up benchmark: fresh processes, each on a fresh SQLite file, measured from outside.

(a) ``chatops shell``: time from spawning the process until the console has read and
    answered a first command (``/playbook list`` piped on stdin; its answer line starts
    with ``🔒 (to``), and its RSS at that moment; then ``:quit`` must exit 0.
(b) ``chatops run``: time from spawning the process until ``GET /readyz`` answers 200
    (polled every 10 ms), its RSS after 1 s idle, then SIGTERM must exit 0 within 5 s.

    python -m bench.startup [--runs 10] [--no-warmup]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import selectors
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.results import (
    Row,
    chatops_command,
    clean_environ,
    free_port,
    markdown_table,
    missed,
    rss_kib,
    verdict,
)

__all__ = ["RunSample", "ShellSample", "main", "measure_run", "measure_shell", "report_rows"]

READY_TARGET_S = 1.0
RSS_TARGET_MIB = 80.0
EXIT_GRACE_S = 5.0
POLL_EVERY_S = 0.010
IDLE_BEFORE_RSS_S = 1.0
PROCESS_DEADLINE_S = 15.0  # one process that is not ready by then counts as failed
TOTAL_DEADLINE_S = 170.0  # the whole benchmark stops measuring after this
ANSWER_MARK = "🔒 (to".encode()


@dataclass(frozen=True)
class ShellSample:
    answered_s: float
    rss_kib: int
    exit_code: int | None
    exit_s: float


@dataclass(frozen=True)
class RunSample:
    ready_s: float
    idle_rss_kib: int
    peak_rss_kib: int
    exit_code: int | None
    exit_s: float


def _environ(workdir: Path, **extra: str) -> dict[str, str]:
    return clean_environ(
        DATABASE_URL=f"sqlite+aiosqlite:///{workdir}/chatops.db",
        PYTHONIOENCODING="utf-8",
        **extra,
    )


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Make sure a process this benchmark started is gone (by its own pid only)."""
    if process.poll() is None:
        process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5)


def measure_shell(workdir: Path) -> ShellSample:
    """Spawn ``chatops shell``, pipe ``/playbook list``, time its answer, then ``:quit``."""
    log = workdir / "shell.stderr"
    with log.open("wb") as stderr:
        started = time.perf_counter()
        process = subprocess.Popen(
            [*chatops_command(), "shell", "--user", "bench"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            cwd=workdir,
            env=_environ(workdir),
        )
        try:
            assert process.stdin is not None and process.stdout is not None
            process.stdin.write(b"/playbook list\n")
            process.stdin.flush()
            answered = _wait_for_answer(process, started)
            if answered is None:
                raise RuntimeError(
                    f"chatops shell did not answer within {PROCESS_DEADLINE_S}s:\n{_tail(log)}"
                )
            rss = rss_kib(process.pid)
            quit_at = time.perf_counter()
            process.stdin.write(b":quit\n")
            process.stdin.close()
            try:
                process.stdout.read()  # drain so the process never blocks on a full pipe
                code: int | None = process.wait(timeout=EXIT_GRACE_S)
            except subprocess.TimeoutExpired:
                code = None
            return ShellSample(answered, rss, code, time.perf_counter() - quit_at)
        finally:
            _stop(process)


def _wait_for_answer(process: subprocess.Popen[bytes], started: float) -> float | None:
    assert process.stdout is not None
    fd = process.stdout.fileno()
    seen = b""
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while (remaining := started + PROCESS_DEADLINE_S - time.perf_counter()) > 0:
            if not selector.select(timeout=remaining):
                continue
            chunk = os.read(fd, 65536)
            now = time.perf_counter()
            if not chunk:
                return None  # the process closed stdout (exited) without answering
            seen += chunk
            if ANSWER_MARK in seen:
                return now - started
    return None


def measure_run(workdir: Path) -> RunSample:
    """Spawn ``chatops run``, poll ``/readyz`` until 200, read RSS after 1 s, SIGTERM it."""
    port = free_port()
    log = workdir / "run.log"
    url = f"http://127.0.0.1:{port}/readyz"
    with log.open("wb") as output, httpx.Client(timeout=0.5) as client:
        started = time.perf_counter()
        process = subprocess.Popen(
            [*chatops_command(), "run"],
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            cwd=workdir,
            env=_environ(workdir, CHATOPS_PORT=str(port), CHATOPS_HOST="127.0.0.1"),
        )
        try:
            ready = _poll_ready(client, url, process, started)
            if ready is None:
                raise RuntimeError(
                    f"chatops run was not ready within {PROCESS_DEADLINE_S}s:\n{_tail(log)}"
                )
            time.sleep(IDLE_BEFORE_RSS_S)
            idle_rss = rss_kib(process.pid)
            peak_rss = rss_kib(process.pid, "VmHWM")
            term_at = time.perf_counter()
            process.send_signal(signal.SIGTERM)
            try:
                code: int | None = process.wait(timeout=EXIT_GRACE_S)
            except subprocess.TimeoutExpired:
                code = None
            return RunSample(ready, idle_rss, peak_rss, code, time.perf_counter() - term_at)
        finally:
            _stop(process)


def _poll_ready(
    client: httpx.Client, url: str, process: subprocess.Popen[bytes], started: float
) -> float | None:
    while time.perf_counter() - started < PROCESS_DEADLINE_S:
        if process.poll() is not None:
            return None
        try:
            response = client.get(url)
        except httpx.TransportError:
            pass
        else:
            if response.status_code == 200:
                return time.perf_counter() - started
        time.sleep(POLL_EVERY_S)
    return None


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def _mib(kib: float) -> str:
    return f"{kib / 1024:.1f} MiB"


def _median_max(values: Sequence[float]) -> tuple[float, float]:
    return statistics.median(values), max(values)


def report_rows(
    shells: Sequence[ShellSample], runs: Sequence[RunSample], restarts: Sequence[RunSample]
) -> list[Row]:
    rows: list[Row] = []
    if shells:
        med, top = _median_max([s.answered_s for s in shells])
        rows.append(
            Row(
                "`chatops shell`: spawn → first command answered (median / max)",
                f"{_ms(med)} / {_ms(top)}",
                f"≤ {_ms(READY_TARGET_S)}",
                verdict(top <= READY_TARGET_S),
            )
        )
        med, top = _median_max([s.rss_kib for s in shells])
        rows.append(
            Row(
                "`chatops shell`: RSS when answering (median / max)",
                f"{_mib(med)} / {_mib(top)}",
                f"(info; idle target ≤ {RSS_TARGET_MIB:.0f} MiB)",
                "—",
            )
        )
        clean = sum(1 for s in shells if s.exit_code == 0)
        slowest = max(s.exit_s for s in shells)
        codes = Counter("timeout" if s.exit_code is None else str(s.exit_code) for s in shells)
        seen = ", ".join(f"{code} x{count}" for code, count in sorted(codes.items()))
        rows.append(
            Row(
                "`chatops shell`: `:quit` exits 0",
                f"{clean}/{len(shells)} (exit codes: {seen}; slowest {_ms(slowest)})",
                f"all, within {EXIT_GRACE_S:.0f} s",
                verdict(clean == len(shells)),
            )
        )
    if runs:
        med, top = _median_max([r.ready_s for r in runs])
        rows.append(
            Row(
                "`chatops run`: spawn → `GET /readyz` 200 (median / max)",
                f"{_ms(med)} / {_ms(top)}",
                f"≤ {_ms(READY_TARGET_S)}",
                verdict(top <= READY_TARGET_S),
            )
        )
        med, top = _median_max([r.idle_rss_kib for r in runs])
        rows.append(
            Row(
                f"`chatops run`, first start (migrations run): idle RSS {IDLE_BEFORE_RSS_S:.0f} s"
                " after ready (median / max)",
                f"{_mib(med)} / {_mib(top)}",
                "(info)",
                "—",
            )
        )
    if restarts:
        med, top = _median_max([r.idle_rss_kib for r in restarts])
        rows.append(
            Row(
                f"`chatops run`, restarted on its database: idle RSS {IDLE_BEFORE_RSS_S:.0f} s"
                " after ready (median / max)",
                f"{_mib(med)} / {_mib(top)}",
                f"≤ {RSS_TARGET_MIB:.0f} MiB",
                verdict(top <= RSS_TARGET_MIB * 1024),
            )
        )
        med, top = _median_max([r.ready_s for r in restarts])
        rows.append(
            Row(
                "`chatops run`, restarted: spawn → `GET /readyz` 200 (median / max)",
                f"{_ms(med)} / {_ms(top)}",
                f"≤ {_ms(READY_TARGET_S)}",
                verdict(top <= READY_TARGET_S),
            )
        )
        med, top = _median_max([r.peak_rss_kib for r in runs])
        rows.append(
            Row(
                "`chatops run`: peak RSS so far, VmHWM (median / max)",
                f"{_mib(med)} / {_mib(top)}",
                "(info)",
                "—",
            )
        )
        clean = sum(1 for r in runs if r.exit_code == 0)
        slowest = max(r.exit_s for r in runs)
        codes = Counter("timeout" if r.exit_code is None else str(r.exit_code) for r in runs)
        seen = ", ".join(f"{code} x{count}" for code, count in sorted(codes.items()))
        rows.append(
            Row(
                "`chatops run`: SIGTERM → exit 0",
                f"{clean}/{len(runs)} (exit codes: {seen}; slowest {_ms(slowest)})",
                f"all, within {EXIT_GRACE_S:.0f} s",
                verdict(clean == len(runs) and slowest <= EXIT_GRACE_S),
            )
        )
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=10, help="processes of each kind (10)")
    parser.add_argument(
        "--no-warmup",
        action="store_true",
        help="do not discard a first process of each kind (bytecode and page cache warm-up)",
    )
    args = parser.parse_args(argv)
    deadline = time.monotonic() + TOTAL_DEADLINE_S
    shells: list[ShellSample] = []
    runs: list[RunSample] = []
    restarts: list[RunSample] = []
    failures: list[str] = []
    print(f"using {' '.join(chatops_command())}", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="chatops-bench-startup-") as tmp:
        root = Path(tmp)
        if not args.no_warmup:
            for name, measure in (("shell", measure_shell), ("run", measure_run)):
                workdir = root / f"warmup-{name}"
                workdir.mkdir()
                measure(workdir)
        for index in range(args.runs):
            if time.monotonic() > deadline:
                failures.append(f"stopped after {index} rounds: {TOTAL_DEADLINE_S:.0f} s budget")
                break
            for name in ("shell", "run"):
                workdir = root / f"{name}-{index}"
                workdir.mkdir()
                try:
                    if name == "shell":
                        shells.append(measure_shell(workdir))
                    else:
                        runs.append(measure_run(workdir))
                        # The same database again: a deployed bot's every restart after its first.
                        restarts.append(measure_run(workdir))
                except RuntimeError as exc:
                    failures.append(f"{name} #{index}: {exc}")
            last_shell = f"{shells[-1].answered_s * 1000:.0f} ms" if shells else "-"
            last_run = f"{runs[-1].ready_s * 1000:.0f} ms" if runs else "-"
            print(f"round {index + 1}: shell {last_shell}, run {last_run}", file=sys.stderr)
    rows = report_rows(shells, runs, restarts)
    title = f"Start-up (fresh process and SQLite file each; {len(shells)} shell, {len(runs)} run)"
    print(markdown_table(title, rows))
    for failure in failures:
        print(f"\nfailure: {failure}")
    return 1 if failures or missed(rows) else 0


if __name__ == "__main__":
    sys.exit(main())
