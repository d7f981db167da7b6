"""``chatops check`` over the whole built-in catalog: wall time of fresh processes.

Each run is a new ``chatops check`` process with the built-in defaults (no config, no extra
playbook folders), timed from spawn to exit; with ``--tree PATH`` an older checkout (with
its own ``.venv``) is timed the same way, alternating, so both see the same machine.

    python -m bench.check [--runs 10] [--tree PATH]

Target: the median ≤ 1 s. Exits 1 if it is missed (or a run does not exit 0).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench.results import Row, chatops_command, clean_environ, markdown_table, missed, verdict

__all__ = ["main"]

TARGET_S = 1.0


def _time_once(command: list[str], workdir: str) -> tuple[float, int]:
    started = time.perf_counter()
    done = subprocess.run(
        [*command, "check"],
        cwd=workdir,
        env=clean_environ(DATABASE_URL=f"sqlite+aiosqlite:///{workdir}/chatops.db"),
        capture_output=True,
        check=False,
    )
    return time.perf_counter() - started, done.returncode


def _count(command: list[str], workdir: str) -> str:
    done = subprocess.run(
        [*command, "check"],
        cwd=workdir,
        env=clean_environ(),
        capture_output=True,
        text=True,
        check=False,
    )
    # "ok: config (built-in defaults), 31 playbooks, 33 warnings"
    return done.stdout.strip().split(", ", 1)[-1] if done.stdout else done.stderr[-200:]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--tree", type=Path, help="also time this checkout's own install")
    args = parser.parse_args(argv)
    trees: list[tuple[str, list[str]]] = [("this tree", chatops_command())]
    if args.tree is not None:
        trees.append((f"tree {args.tree.name}", [str(args.tree / ".venv" / "bin" / "chatops")]))
    samples: dict[str, list[float]] = {label: [] for label, _ in trees}
    failures: dict[str, int] = {label: 0 for label, _ in trees}
    with tempfile.TemporaryDirectory(prefix="chatops-bench-check-") as workdir:
        for _ in range(args.runs):
            for label, command in trees:
                took, code = _time_once(command, workdir)
                samples[label].append(took)
                failures[label] += code != 0
        counts = {label: _count(command, workdir) for label, command in trees}
    rows = []
    for label, _ in trees:
        median = statistics.median(samples[label])
        mine = label == "this tree"
        rows.append(
            Row(
                f"{label}: `chatops check` ({counts[label]}), median / max of {args.runs}",
                f"{median * 1000:.0f} ms / {max(samples[label]) * 1000:.0f} ms"
                + (f" ({failures[label]} failed)" if failures[label] else ""),
                f"≤ {TARGET_S * 1000:.0f} ms" if mine else "reference",
                verdict(median <= TARGET_S and not failures[label]) if mine else "",
            )
        )
    print(markdown_table("chatops check over the built-in catalog", rows))
    return 1 if missed(rows[:1]) else 0


if __name__ == "__main__":
    sys.exit(main())
