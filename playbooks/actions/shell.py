"""The ``shell`` action: run one command (never through a shell) and keep its output's tail."""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import os
import shlex
import signal
from collections import deque
from typing import Any, ClassVar

from pydantic import Field, field_validator

from playbooks.actions.base import Action, ActionArgs, ActionContext, ActionResult
from playbooks.errors import ActionError

__all__ = ["INHERITED_ENV", "ShellAction", "ShellArgs"]

INHERITED_ENV = ("PATH", "LANG", "LC_ALL", "HOME", "TZ")
"""The only variables a command inherits from the bot's environment; secrets stay behind."""

_CHUNK = 64 * 1024
# A single endless line (a progress bar, a minified blob) is cut to its last this-many chars.
_MAX_LINE_CHARS = 4000
_COMMAND_DISPLAY_LIMIT = 120
_REAP_SECONDS = 5.0


class ShellArgs(ActionArgs):
    """``with:`` arguments of the ``shell`` action."""

    argv: list[str] = Field(min_length=1)
    env: dict[str, str] = Field(default_factory=dict)
    cwd: str | None = None
    expect_exit: list[int] = Field(default_factory=lambda: [0], min_length=1)
    tail_lines: int = Field(default=40, ge=1, le=10_000)

    @field_validator("argv", mode="before")
    @classmethod
    def _splice_lists(cls, value: Any) -> Any:
        """An item that rendered to a list adds one argument per element, so
        ``{{ params.models }}`` passes each model and ``{{ [] }}`` passes nothing; a number
        (``{{ params.threads }}``) is passed as its text."""
        if not isinstance(value, list):
            return value
        spliced: list[Any] = []
        for item in value:
            spliced += [_as_argument(part) for part in (item if isinstance(item, list) else [item])]
        return spliced


def _as_argument(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value  # anything else must already be text (a bool or a mapping is refused)


class _Tail:
    """The last ``limit`` lines of a byte stream, decoded as UTF-8 as they arrive."""

    def __init__(self, limit: int) -> None:
        self._lines: deque[str] = deque(maxlen=limit)
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._partial = ""
        self._partial_cut = False

    def feed(self, chunk: bytes, *, final: bool = False) -> None:
        text = self._partial + self._decoder.decode(chunk, final=final)
        *complete, self._partial = text.split("\n")
        for line in complete:
            self._push(line)
        if len(self._partial) > _MAX_LINE_CHARS:
            self._partial = self._partial[-_MAX_LINE_CHARS:]
            self._partial_cut = True
        if final and self._partial:
            self._push(self._partial)
            self._partial = ""

    def _push(self, line: str) -> None:
        line = line.rstrip("\r")
        if self._partial_cut:
            line = "…" + line[-_MAX_LINE_CHARS:]
            self._partial_cut = False
        elif len(line) > _MAX_LINE_CHARS:
            line = "…" + line[-_MAX_LINE_CHARS:]
        self._lines.append(line)

    @property
    def text(self) -> str:
        return "\n".join(self._lines)

    @property
    def last_line(self) -> str:
        for line in reversed(self._lines):
            if line.strip():
                return line.strip()
        return ""


def _display(argv: list[str]) -> str:
    command = shlex.join(argv)
    if len(command) > _COMMAND_DISPLAY_LIMIT:
        command = command[: _COMMAND_DISPLAY_LIMIT - 1] + "…"
    return f"`{command}`"


def _child_env(extra: dict[str, str]) -> dict[str, str]:
    env = {name: os.environ[name] for name in INHERITED_ENV if name in os.environ}
    env.update(extra)
    return env


def _kill_group(process: asyncio.subprocess.Process) -> None:
    # start_new_session made the child a group leader, so its pid is the group id; killing
    # the group also stops whatever it spawned (``dbt`` workers, ``sh -c`` children).
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


class ShellAction(Action[ShellArgs]):
    """Run a command without a shell, with an explicit environment."""

    name: ClassVar[str] = "shell"
    Args = ShellArgs
    summary: ClassVar[str] = "Run a command (no shell) and keep the tail of its output."

    def plan(self, args: ShellArgs) -> str:
        where = f" in {args.cwd}" if args.cwd else ""
        env = f" with {', '.join(sorted(args.env))} set" if args.env else ""
        return f"run {_display(args.argv)}{where}{env}"

    async def execute(self, args: ShellArgs, ctx: ActionContext) -> ActionResult:
        command = _display(args.argv)
        try:
            process = await asyncio.create_subprocess_exec(
                *args.argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                env=_child_env(args.env),
                cwd=args.cwd,
                start_new_session=True,
            )
        except FileNotFoundError as exc:
            # subprocess names the missing directory when the cwd is the culprit.
            if args.cwd is not None and exc.filename == args.cwd:
                raise ActionError(f"working directory not found: {args.cwd}") from exc
            raise ActionError(f"command not found: {args.argv[0]}") from exc
        except PermissionError as exc:
            raise ActionError(f"cannot execute {args.argv[0]}: permission denied") from exc
        except OSError as exc:
            raise ActionError(f"cannot start {command}: {exc.strerror or exc}") from exc

        tail = _Tail(args.tail_lines)
        try:
            stdout = process.stdout
            assert stdout is not None  # stdout=PIPE above
            while chunk := await stdout.read(_CHUNK):
                tail.feed(chunk)
            tail.feed(b"", final=True)
            exit_code = await process.wait()
        except BaseException:
            # Cancellation is how step timeouts and cancelled runs arrive: leave nothing
            # running behind, reap the child so no zombie is left, then let it propagate.
            _kill_group(process)
            # Bounded: wait() also waits for the output pipe to close, which a descendant
            # that left the group (setsid) may hold open; the child itself is reaped anyway.
            with contextlib.suppress(TimeoutError, ProcessLookupError):
                await asyncio.wait_for(asyncio.shield(process.wait()), _REAP_SECONDS)
            raise

        if exit_code not in args.expect_exit:
            if exit_code < 0:
                try:
                    how = f"was killed by {signal.Signals(-exit_code).name}"
                except ValueError:
                    how = f"was killed by signal {-exit_code}"
            else:
                how = f"exited with {exit_code}"
            last = tail.last_line
            raise ActionError(
                f"{command} {how}: {last}" if last else f"{command} {how} (no output)"
            )

        output = tail.text
        return ActionResult(
            summary=f"{command} exited {exit_code}",
            output=output,
            value=output,
            data={"exit_code": exit_code},
        )
