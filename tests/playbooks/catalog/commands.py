"""Stub executables on PATH that record how shell steps call them.

    commands = StubCommands(tmp_path / "bin")
    commands.add("dbt", "kubectl")
    commands.fail("dbt", ["run"], exit_code=2, output="Compilation Error")
    ...  # PATH starts with commands.folder while the test runs
    assert commands.calls() == [Call("dbt", ["deps"], "/srv/dbt"), ...]

Each stub is a small Python script (run by this interpreter) that appends its argv, working
directory and environment to a JSON-lines file, prints a canned answer and exits with the
code its first matching rule gives (0 and ``ok`` by default).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Call", "StubCommands"]

_SCRIPT = """#!{python} -S
import json, os, sys
folder = {folder!r}
name = os.path.basename(sys.argv[0])
args = sys.argv[1:]
with open(os.path.join(folder, "calls.jsonl"), "a") as log:
    log.write(json.dumps({{"name": name, "args": args, "cwd": os.getcwd(),
                          "env": dict(os.environ)}}) + "\\n")
with open(os.path.join(folder, "rules.json")) as rules:
    for rule in json.load(rules).get(name, []):
        if args[: len(rule["prefix"])] == rule["prefix"]:
            print(rule["output"])
            sys.exit(rule["exit_code"])
print("ok")
"""


@dataclass(frozen=True)
class Call:
    """One call of a stub: its name, its arguments and the folder it ran in."""

    name: str
    args: list[str]
    cwd: str
    env: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    @property
    def argv(self) -> list[str]:
        return [self.name, *self.args]


class StubCommands:
    """A folder of stub commands; put :attr:`folder` first on PATH to use them."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self._rules: dict[str, list[dict[str, object]]] = {}
        self._save_rules()

    def add(self, *names: str) -> None:
        """Stub commands found on PATH (``dbt``, ``kubectl`` …)."""
        for name in names:
            self.add_script(self.folder / name)

    def add_script(self, path: Path) -> None:
        """A stub at ``path``, for a step that runs a script by its path (``./check.sh``);
        its calls are recorded with the others, under the script's file name."""
        path.write_text(_SCRIPT.format(python=sys.executable, folder=str(self.folder)))
        path.chmod(0o755)

    def answer(self, name: str, prefix: list[str], *, output: str, exit_code: int = 0) -> None:
        """Calls of ``name`` whose arguments start with ``prefix`` print ``output`` and exit
        with ``exit_code`` (the first rule added that matches wins)."""
        self._rules.setdefault(name, []).append(
            {"prefix": prefix, "output": output, "exit_code": exit_code}
        )
        self._save_rules()

    def fail(self, name: str, prefix: list[str], *, exit_code: int = 1, output: str = "") -> None:
        self.answer(name, prefix, output=output or f"{name} failed", exit_code=exit_code)

    def calls(self) -> list[Call]:
        log = self.folder / "calls.jsonl"
        if not log.exists():
            return []
        return [
            Call(entry["name"], entry["args"], entry["cwd"], entry["env"])
            for entry in map(json.loads, log.read_text().splitlines())
        ]

    def argvs(self) -> list[list[str]]:
        """Every call as the command line it was: ``[["dbt", "deps"], ...]``."""
        return [call.argv for call in self.calls()]

    def _save_rules(self) -> None:
        (self.folder / "rules.json").write_text(json.dumps(self._rules))
