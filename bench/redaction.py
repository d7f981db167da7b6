"""Redaction time against text length: the redactor as it was beside the redactor as it is.

Every log field, step output, run error and audited parameter goes through the
:class:`~playbooks.secrets.Redactor`. Its URL-password pattern used to be tried from every
letter of a word and to rescan the rest of the word each time: quadratic in the length of a
word (0.27 s for 8,000 ``x``, 4.9 s for a 32,000-character parameter, minutes for a 1 MB
request body). This benchmark times, in one process and on the same inputs:

- **before**: that redactor, rebuilt here from its pattern text (its secret values as one
  alternation of the exact values, then the old URL-password pattern);
- **after**: today's :class:`~playbooks.secrets.Redactor`, which also recognises each secret's
  URL, hex and base64 forms.

Both know the same five secrets (a Slack token, a database password, three API keys). The
inputs are the texts that made the old pattern quadratic (one long word; ``a://`` before a
long user name) and the ones that would hurt a careless rewrite (``a:`` repeated,
``a://b:`` repeated, ``@`` everywhere), plus prose with every secret and its encodings in it.
Each is timed at 4k, 8k, 16k, 32k and 64k characters and 1 MB (best of ``--repeat`` runs).
The old redactor is not run on inputs longer than ``--old-up-to`` (65,536): at 1 MB it would
take most of an hour.

    python -m bench.redaction [--repeat 3] [--old-up-to 65536]

The aims: every 1 MB input redacted within 250 ms, and 16 times the text costing at most 32
times the time (64k → 1 MB; linear is 16). Exits 1 if one is missed, or if the new
redactor's output differs from the old one's on an input both handle the same way.
"""

from __future__ import annotations

import argparse
import base64
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import quote

from bench.results import Row, markdown_table, missed, verdict
from playbooks.secrets import REDACTED, Redactor

__all__ = ["Timing", "main", "measure", "old_redactor", "report_rows", "timing_table"]

SIZES = (4_096, 8_192, 16_384, 32_768, 65_536, 1_048_576)
MAX_MS_PER_MB = 250.0
MAX_GROWTH = 32.0  # time(1 MB) / time(64k); linear is 16
SECRETS = (
    "xoxb-1234567890-abcdefghijklmnop",
    "hunter2-correct-horse",
    "sk-live-0a1b2c3d4e5f6a7b8c9d",
    "AKIAIOSFODNN7EXAMPLE/wJalrXUtnFEMI",
    "canary-7f3e9d1c5b",
)
# The pattern as it stood before redaction was made linear, verbatim.
OLD_URL_PASSWORD = r"(?P<scheme>[a-z][a-z0-9+.-]*://[^:/@\s]+:)(?P<pw>[^@/\s]+)(?=@)"


def old_redactor(secrets: Sequence[str]) -> Callable[[str], str]:
    """The redactor as it was: exact values longest first, then the old URL pattern."""
    ordered = sorted(secrets, key=len, reverse=True)
    values = re.compile("|".join(re.escape(v) for v in ordered))
    url = re.compile(OLD_URL_PASSWORD, re.I)

    def redact(text: str) -> str:
        text = values.sub(REDACTED, text)
        return url.sub(lambda m: m.group("scheme") + REDACTED, text)

    return redact


def _prose(size: int) -> str:
    """Log-like lines with every secret in them, as itself and in its encodings."""
    forms: list[str] = []
    for secret in SECRETS:
        data = secret.encode()
        forms += [
            secret,
            base64.b64encode(data).decode(),
            base64.urlsafe_b64encode(data).decode().rstrip("="),
            data.hex(),
            quote(secret, safe=""),
        ]
    line = (
        "2026-12-06T10:00:00Z [info] step_finished run=42 url=postgresql://app:pw@db:5432/app "
        "output=GET http://es.internal:9200/_search?q=owner@example.com returned 200 "
    )
    parts: list[str] = []
    total = 0
    index = 0
    while total < size:
        piece = f"{line}{forms[index % len(forms)]}\n"
        parts.append(piece)
        total += len(piece)
        index += 1
    return "".join(parts)[:size]


INPUTS: dict[str, Callable[[int], str]] = {
    "one long word (`xxx…`)": lambda n: "x" * n,
    "`a://` before a long user (`a://bbb…`)": lambda n: "a://" + "b" * (n - 4),
    "`a:` repeated": lambda n: ("a:" * (n // 2 + 1))[:n],
    "`a://b:` repeated": lambda n: ("a://b:" * (n // 6 + 1))[:n],
    "`@` everywhere (`a://b:c@` repeated)": lambda n: ("a://b:c@" * (n // 8 + 1))[:n],
    "log lines with secrets and their encodings": _prose,
}


@dataclass(frozen=True)
class Timing:
    """Best-of-N seconds to redact one input at one size; ``old`` is None when not run."""

    kind: str
    size: int
    old: float | None
    new: float
    same_output: bool | None  # whether both redactors agree (None when not comparable)


def _best(redact: Callable[[str], str], text: str, repeat: int) -> tuple[float, str]:
    best = float("inf")
    out = ""
    for _ in range(repeat):
        start = time.perf_counter()
        out = redact(text)
        best = min(best, time.perf_counter() - start)
    return best, out


def measure(repeat: int, old_up_to: int) -> list[Timing]:
    new = Redactor(SECRETS)
    old = old_redactor(SECRETS)
    timings: list[Timing] = []
    for kind, make in INPUTS.items():
        for size in SIZES:
            text = make(size)
            new_s, new_out = _best(new, text, repeat)
            old_s: float | None = None
            same: bool | None = None
            if size <= old_up_to:
                # The old redactor once: at these sizes one run is seconds, not noise.
                old_s, old_out = _best(old, text, 1 if size > 16_384 else repeat)
                # Log lines hold encodings the old redactor never knew.
                same = None if kind.startswith("log lines") else old_out == new_out
            print(
                f"{kind} {_size(size)}: old {_ms(old_s)}, new {_ms(new_s)}",
                file=sys.stderr,
                flush=True,
            )
            timings.append(Timing(kind, size, old_s, new_s, same))
    return timings


def timing_table(timings: Sequence[Timing]) -> str:
    """One line per input, one column per size: ``before → after``."""
    sizes = sorted({t.size for t in timings})
    lines = [
        "### Redaction time, before → after (best of runs)",
        "",
        "| input | " + " | ".join(_size(size) for size in sizes) + " |",
        "|---|" + "---|" * len(sizes),
    ]
    for kind, by_size in _by_kind(timings).items():
        cells = [
            f"{_ms(by_size[size].old)} → **{_ms(by_size[size].new)}**" if size in by_size else ""
            for size in sizes
        ]
        lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def report_rows(timings: Sequence[Timing]) -> list[Row]:
    rows: list[Row] = []
    for kind, by_size in _by_kind(timings).items():
        if 1_048_576 in by_size:
            took = by_size[1_048_576].new
            rows.append(
                Row(
                    f"{kind}: 1 MB, after",
                    _ms(took),
                    f"≤ {MAX_MS_PER_MB:.0f} ms",
                    verdict(took * 1000 <= MAX_MS_PER_MB),
                )
            )
        if 65_536 in by_size and 1_048_576 in by_size:
            growth = by_size[1_048_576].new / max(by_size[65_536].new, 1e-9)
            rows.append(
                Row(
                    f"{kind}: time(1 MB) / time(64k), after",
                    f"{growth:.1f}x (the text: 16x)",
                    f"≤ {MAX_GROWTH:.0f}x",
                    verdict(growth <= MAX_GROWTH),
                )
            )
        differing = [_size(t.size) for t in by_size.values() if t.same_output is False]
        if differing:
            rows.append(
                Row(
                    f"{kind}: same output as before",
                    f"differs at {', '.join(differing)}",
                    "the same",
                    verdict(False),
                )
            )
    return rows


def _by_kind(timings: Sequence[Timing]) -> dict[str, dict[int, Timing]]:
    by_kind: dict[str, dict[int, Timing]] = {}
    for timing in timings:
        by_kind.setdefault(timing.kind, {})[timing.size] = timing
    return by_kind


def _ms(seconds: float | None) -> str:
    if seconds is None:
        return "not run"
    ms = seconds * 1000
    return f"{ms:,.0f} ms" if ms >= 10 else f"{ms:.2f} ms"


def _size(size: int) -> str:
    return "1 MB" if size == 1_048_576 else f"{size // 1024}k"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=3, help="runs per input, best kept (3)")
    parser.add_argument(
        "--old-up-to",
        type=int,
        default=65_536,
        help="longest input the old redactor is run on (65536)",
    )
    args = parser.parse_args(argv)
    timings = measure(args.repeat, args.old_up_to)
    rows = report_rows(timings)
    print(timing_table(timings) + "\n")
    print(markdown_table("Redaction: linear in the text it scans", rows))
    return 1 if missed(rows) else 0


if __name__ == "__main__":
    sys.exit(main())
