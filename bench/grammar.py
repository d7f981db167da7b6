"""Command parsing: the old ``shlex``-based parse beside the new one, on long command lines.

Two shapes of ``/playbook`` arguments, each cut to 10k, 100k and 1 MB characters:

- **one long value**: ``clear-cache index_name=xxx…``, a single word as long as the line.
  ``shlex`` builds each word one character at a time on an attribute (``self.token +=``),
  so it is quadratic in the length of a word;
- **many params**: ``retrain p0="a b" p1='c d' p2=e\\ f …``, short words, every quoting.

For each: the old parse (kept below as it was: ``shlex.split``, then the same grammar), the
new tokenizer alone on the whole line (:func:`handlers.words.split_words`, no length limit:
to show it is linear), and :func:`handlers.grammar.parse_command` as the bot runs it, which
refuses a line past :data:`~handlers.grammar.MAX_COMMAND_LENGTH` before reading it. The
longest command the bot reads (4,000 characters with ``/playbook``) is timed too. Each
figure is the best of ``--repeat`` runs (one run for a figure over 1 s).

Targets: the bot's parse takes at most 1 ms at every size, and the tokenizer is linear: from
the smallest to the largest of ``--sizes`` its time grows at most twice as fast as the line
(1 MB against 10k: at most 200x the time).

    python -m bench.grammar [--sizes 10000,100000,1000000] [--repeat 5] [--no-old]

Exits 1 if a target is missed. Pure CPU, one process; ~15 s with the old parse at 1 MB.
"""

from __future__ import annotations

import argparse
import contextlib
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bench.results import Row, markdown_table, missed, verdict
from bot.commands import Command
from bot.replies import usage
from handlers.grammar import (
    MAX_COMMAND_LENGTH,
    GrammarError,
    _playbook,
    _schedule,
    parse_command,
)
from handlers.words import split_words

__all__ = ["Timing", "long_value", "main", "many_params", "old_parse_command"]

BOT_PARSE_TARGET_S = 0.001
LINEAR_SLACK = 2.0  # the tokenizer's time may grow up to twice as fast as the line
ONE_RUN_ABOVE_S = 1.0
COMMAND = "/playbook"
SHAPES: dict[str, Callable[[int], str]] = {}


def old_parse_command(command: str, text: str) -> Command:
    """``parse_command`` as it was before the length limit and the linear tokenizer."""
    name = command.lstrip("/").lower()
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise GrammarError(f"Couldn't read that: {exc} (check your quotes).") from None
    if name == "playbook":
        return _playbook(words)
    if name == "schedule":
        return _schedule(words)
    raise GrammarError(f"Unknown command `/{name}`.\n{usage()}")


def long_value(size: int) -> str:
    """``clear-cache index_name=xxx…``, ``size`` characters."""
    head = "clear-cache index_name="
    return head + "x" * (size - len(head))


def many_params(size: int) -> str:
    """``retrain p0="a b" p1='c d' p2=e\\ f …``, ``size`` characters, every key new."""
    words = ["retrain"]
    length = len(words[0])
    index = 0
    while True:
        word = (f'p{index}="a b"', f"p{index}='c d'", f"p{index}=e\\ f")[index % 3]
        if length + 1 + len(word) > size:
            break
        words.append(word)
        length += len(word) + 1
        index += 1
    return " ".join(words).ljust(size)


SHAPES["one long value"] = long_value
SHAPES["many params"] = many_params


@dataclass(frozen=True)
class Timing:
    shape: str
    size: int
    old_s: float | None  # None: not measured (--no-old)
    words_s: float
    bot_s: float


def best_of(call: Callable[[], object], repeat: int) -> float:
    """The fastest of ``repeat`` calls (one, when a call takes over a second), in seconds."""
    times: list[float] = []
    for _ in range(repeat):
        start = time.perf_counter()
        # A refusal is an answer too: its time is what is measured.
        with contextlib.suppress(GrammarError):
            call()
        times.append(time.perf_counter() - start)
        if times[-1] > ONE_RUN_ABOVE_S:
            break
    return min(times)


def measure(shape: str, size: int, repeat: int, old: bool) -> Timing:
    text = SHAPES[shape](size)
    old_s = best_of(lambda: old_parse_command(COMMAND, text), repeat) if old else None
    words_s = best_of(lambda: split_words(text), repeat)
    bot_s = best_of(lambda: parse_command(COMMAND, text), repeat)
    print(f"{shape}, {size:,}: done", file=sys.stderr)
    return Timing(shape, len(text), old_s, words_s, bot_s)


def _time(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 0.001:
        return f"{seconds * 1000:.1f} ms"
    return f"{seconds * 1_000_000:.0f} µs"


def figures_table(timings: Sequence[Timing]) -> str:
    lines = [
        "### Command parsing, old (shlex) and new, side by side",
        "",
        "| arguments | characters | old parse (shlex) | new tokenizer, no limit "
        "| new parse_command (as the bot runs it) |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {t.shape} | {t.size:,} | {_time(t.old_s)} | {_time(t.words_s)} | {_time(t.bot_s)} |"
        for t in timings
    ]
    return "\n".join(lines)


def report_rows(timings: Sequence[Timing], *, longest: int) -> list[Row]:
    """The targets: the bot's parse at every size; the tokenizer's growth past ``longest``."""
    slowest = max(timings, key=lambda t: t.bot_s)
    rows = [
        Row(
            "parse_command as the bot runs it, slowest line",
            f"{_time(slowest.bot_s)} ({slowest.shape}, {slowest.size:,} characters)",
            f"≤ {_time(BOT_PARSE_TARGET_S)}",
            verdict(slowest.bot_s <= BOT_PARSE_TARGET_S),
        )
    ]
    for shape in SHAPES:
        sized = sorted(
            (t for t in timings if t.shape == shape and t.size > longest), key=lambda t: t.size
        )
        if len(sized) < 2:
            continue
        small, large = sized[0], sized[-1]
        ratio = large.words_s / small.words_s
        linear = large.size / small.size
        rows.append(
            Row(
                f"new tokenizer, {shape}: {large.size:,} vs {small.size:,} characters",
                f"{ratio:.0f}x the time (linear: {linear:.0f}x)",
                f"≤ {LINEAR_SLACK * linear:.0f}x",
                verdict(ratio <= LINEAR_SLACK * linear),
            )
        )
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--sizes", default="10000,100000,1000000", help="characters, comma-separated"
    )
    parser.add_argument("--repeat", type=int, default=5, help="runs per figure; the best counts")
    parser.add_argument("--no-old", action="store_true", help="skip the old parse (12 s at 1 MB)")
    args = parser.parse_args(argv)
    sizes = [int(size) for size in args.sizes.split(",")]
    # The longest command the bot reads: the limit counts the command word too.
    sizes.insert(0, MAX_COMMAND_LENGTH - len(COMMAND))
    timings = [
        measure(shape, size, args.repeat, not args.no_old) for shape in SHAPES for size in sizes
    ]
    print(figures_table(timings))
    print()
    rows = report_rows(timings, longest=sizes[0])
    print(markdown_table("Command parsing: targets", rows))
    return 1 if missed(rows) else 0


if __name__ == "__main__":
    sys.exit(main())
