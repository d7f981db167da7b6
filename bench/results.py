"""Small helpers the benchmarks share: percentiles, RSS readings and Markdown tables."""

from __future__ import annotations

import math
import os
import shutil
import socket
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "Row",
    "chatops_command",
    "clean_environ",
    "free_port",
    "markdown_table",
    "missed",
    "percentile",
    "rss_kib",
    "scrub_environ",
    "verdict",
]

# Environment variables that would point a benchmarked process at a real deployment
# (a database, a config, chat credentials): the benchmarks set their own or none.
_FOREIGN_PREFIXES = ("CHATOPS_", "SLACK_", "TELEGRAM_")
_FOREIGN_NAMES = frozenset({"DATABASE_URL"})
# Interpreter switches that make every benchmarked process slower than an installed bot:
# without a bytecode cache each start compiles the whole tree from source again.
_DISTORTING_NAMES = frozenset({"PYTHONDONTWRITEBYTECODE"})


@dataclass(frozen=True)
class Row:
    """One line of a result table."""

    metric: str
    measured: str
    target: str
    verdict: str


def percentile(samples: Sequence[float], pct: float) -> float:
    """The ``pct``-th percentile (nearest rank) of ``samples``; NaN when there are none."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def verdict(ok: bool) -> str:
    return "pass" if ok else "**MISS**"


def missed(rows: Sequence[Row]) -> bool:
    """Whether any row with a target missed it."""
    return any(row.verdict == verdict(False) for row in rows)


def markdown_table(title: str, rows: Sequence[Row]) -> str:
    lines = [
        f"### {title}",
        "",
        "| metric | measured | target | verdict |",
        "|---|---|---|---|",
    ]
    lines += [f"| {r.metric} | {r.measured} | {r.target} | {r.verdict} |" for r in rows]
    return "\n".join(lines)


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    """``field`` (VmRSS, VmHWM, …) of process ``pid`` from /proc, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/{pid}/status")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def chatops_command() -> list[str]:
    """The ``chatops`` console script next to this interpreter, else ``python -m app.cli``."""
    script = Path(sys.executable).parent / "chatops"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    found = shutil.which("chatops", path=str(Path(sys.executable).parent))
    if found:
        return [found]
    return [sys.executable, "-m", "app.cli"]


def clean_environ(**overrides: str) -> dict[str, str]:
    """This process's environment without the bot's own settings, plus ``overrides``."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(_FOREIGN_PREFIXES)
        and name not in _FOREIGN_NAMES
        and name not in _DISTORTING_NAMES
    }
    env.update(overrides)
    return env


def scrub_environ() -> None:
    """Drop the bot's own settings from this process's environment (an app benchmarked in a
    child process), keeping the rest."""
    kept = clean_environ()  # read before clearing, or nothing is kept
    os.environ.clear()
    os.environ.update(kept)
