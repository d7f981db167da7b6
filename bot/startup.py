"""How a ``chatops`` process starts quickly: what it imports, and when it collects garbage.

The command line calls :func:`begin` first, :func:`imports_done` once the modules it needs
are loaded, and :func:`settle` when the service is up (``chatops run`` through
:func:`app.assembly.assemble`, which also hands the freed heap back: :func:`return_freed_memory`).

Imports. rich (with pygments) is installed because typer depends on it, and two libraries
take it as soon as they are imported although the bot never uses it through them: structlog
for pretty tracebacks (our log lines format exceptions with ``format_exc_info``, in plain
text) and httpx for its command-line client (``httpx._main``, which also brings click and
pygments). Importing both while those modules are hidden saves about 80 ms and 8 MiB; the
modules are visible again afterwards, so typer still finds rich for its help and errors.

Garbage collection. Start-up creates about 170k objects that live as long as the process
(modules, classes, SQLAlchemy and pydantic structures), and the cyclic collector walks them
some 250 times while they are made, to find almost nothing: a quarter of ``chatops run``'s
start-up on a slow machine. So collection is paused while the command starts, the imported
modules are frozen (``gc.freeze``: kept out of every later collection, the pattern the gc
documentation gives for long-lived start-up state), and once the service is up one
collection over what start-up made since the imports frees its garbage before collection
resumes, with a young generation larger than CPython's default
(:data:`SERVING_GC_THRESHOLD`). What the imports left as garbage (a few hundred KiB) stays
frozen. One-shot commands (``check``, ``plan``, ``db upgrade``) end before that, without
collecting at all.
"""

from __future__ import annotations

import gc
import sys

__all__ = [
    "HIDDEN_WHILE_STARTING",
    "SERVING_GC_THRESHOLD",
    "begin",
    "import_lean",
    "imports_done",
    "return_freed_memory",
    "settle",
]

HIDDEN_WHILE_STARTING = ("rich", "httpx._main")
"""Optional modules that structlog and httpx try to import and do without when absent."""

_paused = False  # whether begin() paused the collector, so that settle() resumes it

SERVING_GC_THRESHOLD = (10_000, 10, 10)
"""The collector's thresholds once the service is up (CPython's default: 700, 10, 10).

A burst of commands keeps a thousand of them queued behind the acks for a moment, and with
the default the young generations are collected so often that this short-lived work is
promoted and then walked by full collections, 10 to 20 ms pauses that every ack in flight
waits out. Most of it is freed by reference counting before a young collection at 10,000
allocations ever looks at it; what is cyclic waits a little longer to be freed."""


def begin() -> None:
    """Pause garbage collection for start-up and import structlog and httpx lean."""
    global _paused
    if gc.isenabled():
        gc.disable()
        _paused = True
    import_lean()


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


def imports_done() -> None:
    """The modules are loaded: keep them out of every later collection (after :func:`begin`).

    Without :func:`begin` (a test driving the command line in its own process) nothing
    happens: freezing would keep that process's garbage forever.
    """
    if _paused:
        gc.freeze()


def settle() -> None:
    """Start-up is over: free its garbage, keep what it built out of later full passes, and
    resume collection if :func:`begin` paused it.

    After :func:`imports_done` the one collection walks only what start-up made since the
    imports (a few ms); otherwise it walks everything, once.
    """
    global _paused
    gc.collect()
    gc.freeze()
    gc.set_threshold(*SERVING_GC_THRESHOLD)
    if _paused:
        _paused = False
        gc.enable()


def return_freed_memory() -> None:
    """Hand the heap that start-up freed (migrations, catalog parsing) back to the OS.

    glibc keeps freed memory in its arenas; ``malloc_trim`` releases it, which is most of the
    difference between the resident size at start-up and at rest. Elsewhere this is a no-op.
    """
    import ctypes  # only here: most commands never get this far

    try:
        # The process's own symbols include libc's (no ctypes.util: it runs ldconfig).
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):
        return
