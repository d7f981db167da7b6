"""The ``chatops`` entry point: set start-up up, then run the command line.

The commands live in :mod:`app.commands`. Importing them imports typer (and with it
pydantic), so it waits until :func:`bot.startup.begin` has paused garbage collection and
hidden rich; ``app`` is still importable from here, loaded on first use.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import typer

    app: typer.Typer

__all__ = ["app", "main"]


def main() -> None:
    from bot.startup import begin

    begin()  # before anything heavy is imported
    from app.commands import app

    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


def __getattr__(name: str) -> object:
    # `from app.cli import app` (tests, tools) without importing typer for the entry point.
    if name == "app":
        from app.commands import app

        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if __name__ == "__main__":
    main()
