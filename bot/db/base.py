"""What every part of the store shares: the engine, its sessions, the group commit, the
clock, the redactor, and the audit event written beside each change."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.db.batching import Statement, WriteBatcher
from bot.db.connect import session_factory
from bot.db.statements import AUDIT_INSERT
from bot.db.tables import utcnow

__all__ = ["StoreBase", "no_redaction", "redact_tree"]


def no_redaction(text: str) -> str:
    """A store that redacts nothing (tests, tools): the text as it is."""
    return text


class StoreBase:
    """The state every aggregate's rows are written through."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        clock: Callable[[], datetime] = utcnow,
        redact: Callable[[str], str] = no_redaction,
    ) -> None:
        self.engine = engine
        self._sessions = session_factory(engine)
        self._writes = WriteBatcher(engine)
        self._now = clock
        self._redact = redact

    def _audit_insert(
        self,
        *,
        run_id: int | None,
        actor: str,
        surface: str,
        kind: str,
        detail: Mapping[str, Any],
    ) -> Statement:
        """The INSERT of one audit event (Core: far cheaper than the ORM on hot paths)."""
        return AUDIT_INSERT, {
            "at": self._now(),
            "run_id": run_id,
            "actor": actor,
            "surface": surface,
            "kind": kind,
            "detail": redact_tree(dict(detail), self._redact),
        }


def redact_tree(value: Any, redact: Callable[[str], str]) -> Any:
    """``value`` with ``redact`` applied to every string inside it (lists, mappings)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redact_tree(v, redact) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_tree(v, redact) for v in value]
    return value
