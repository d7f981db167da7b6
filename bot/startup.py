"""How a ``chatops`` process starts quickly; the command line calls this before anything else.

rich (with pygments) is installed because typer depends on it, and two libraries take it
as soon as they are imported although the bot never uses it through them: structlog for
pretty tracebacks (our log lines format exceptions with ``format_exc_info``, in plain text)
and httpx for its command-line client (``httpx._main``, which also brings click and
pygments). Importing both while those modules are hidden saves about 80 ms and 8 MiB; the
modules are visible again afterwards, so typer still finds rich for its help and errors.
"""

from __future__ import annotations

import sys

__all__ = ["HIDDEN_WHILE_STARTING", "import_lean"]

HIDDEN_WHILE_STARTING = ("rich", "httpx._main")
"""Optional modules that structlog and httpx try to import and do without when absent."""


def import_lean() -> None:
    """Import structlog and httpx without their optional extras (a no-op once imported)."""
    hidden = [name for name in HIDDEN_WHILE_STARTING if name not in sys.modules]
    for name in hidden:
        # None in sys.modules makes `import name` raise ImportError (the import system's
        # documented way to block a module), which both libraries catch.
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        import httpx  # noqa: F401
        import structlog  # noqa: F401
    finally:
        for name in hidden:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]
