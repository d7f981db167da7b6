"""structlog set-up: JSON lines for services, short lines for the console; secrets redacted.

Every log line costs a bounded amount whatever it carries: each string field is cut to its
first 4,000 characters (a traceback to its first 32,000) before it is redacted, and the line
says how much was cut. A request body a library logs, or a huge parameter, cannot hold the
process for longer than redacting those few thousand characters takes.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from playbooks.secrets import Redactor

__all__ = ["FIELD_LIMIT", "TRACEBACK_LIMIT", "configure_logging"]

FIELD_LIMIT = 4000
"""Characters of a log field kept; the rest is cut before redaction, and the cut is said."""
TRACEBACK_LIMIT = 32_000
"""Characters of a formatted traceback kept: enough for a deep chain of frames."""
# Containers nested deeper than this are logged as their repr (also cut and redacted).
_MAX_DEPTH = 4


def configure_logging(*, level: str, json: bool, redact: Redactor) -> None:
    """Send every log line (ours and libraries') to stderr, with secrets replaced by ``***``
    and every field cut to a bounded length."""

    def redact_secrets(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> Any:
        for key, value in event.items():
            limit = TRACEBACK_LIMIT if key == "exception" else FIELD_LIMIT
            event[key] = _bounded(value, redact, limit, 0)
        return event

    renderer: Any = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.processors.format_exc_info,
            # Before redaction: the formatter's own fields (the log record) are not logged.
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            redact_secrets,
            renderer,
        ],
    )
    handler = _StderrHandler()
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def _bounded(value: Any, redact: Redactor, limit: int, depth: int) -> Any:
    """``value`` as it may be logged: strings cut to ``limit`` and redacted, inside lists and
    mappings too; numbers and the like as they are; any other object as its cut, redacted repr
    (a renderer would print that repr unredacted)."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        head, cut = redact.head(value, limit)
        return f"{head}… [{cut} more characters cut]" if cut else head
    if depth < _MAX_DEPTH:
        if isinstance(value, dict):
            return {
                _bounded(k, redact, limit, depth + 1) if isinstance(k, str) else k: _bounded(
                    v, redact, limit, depth + 1
                )
                for k, v in value.items()
            }
        if isinstance(value, list | tuple):
            return [_bounded(item, redact, limit, depth + 1) for item in value]
    return _bounded(repr(value), redact, limit, depth)


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a line is logged, not when it was set up:
    a caller that swaps stderr for a while (a test runner, an embedding CLI) and closes its
    stand-in must not leave logging writing to a closed file."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        return  # always the current sys.stderr
