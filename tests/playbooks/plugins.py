"""Install a third-party action plug-in for real: a module and its dist-info on sys.path."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from playbooks.actions.registry import ENTRY_POINT_GROUP

ECHO_PLUGIN = """
from typing import ClassVar

from playbooks.actions.base import Action, ActionArgs, ActionContext, ActionResult


class EchoArgs(ActionArgs):
    text: str


class EchoAction(Action[EchoArgs]):
    name: ClassVar[str] = "echo"
    Args = EchoArgs

    def plan(self, args: EchoArgs) -> str:
        return f"say {args.text!r}"

    async def execute(self, args: EchoArgs, ctx: ActionContext) -> ActionResult:
        return ActionResult(summary=f"said {args.text!r}", value=args.text)
"""


def install_plugin(
    folder: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    module: str,
    source: str,
    entry_points: dict[str, str],
) -> None:
    """Make ``module`` (with ``source``) importable and advertise ``entry_points`` for it.

    The distribution is found by importlib.metadata exactly as an installed wheel would be.
    """
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    info = folder / f"{module}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {module.replace('_', '-')}\nVersion: 1.0\n",
        encoding="utf-8",
    )
    lines = "".join(f"{name} = {target}\n" for name, target in entry_points.items())
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{lines}", encoding="utf-8")
    monkeypatch.syspath_prepend(str(folder))
    # A module imported by an earlier test under the same name must not be reused.
    monkeypatch.delitem(sys.modules, module, raising=False)
