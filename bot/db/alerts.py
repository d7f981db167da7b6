"""Alert rules' state in the database: where each stands and when it last posted.

One row per rule, made on first use; every change is a compare-and-set on ``version``, so
when two evaluations of a rule race (a scheduled fire and a ``/schedule run``, on two
replicas) only one of them posts. A row's ``id`` is the short reference the button of a
rule's suggested playbook carries.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.db.records import as_utc
from bot.db.tables import AlertStateRow, metadata, utcnow

__all__ = ["AlertStateRecord", "AlertStore"]

STATES = metadata.tables[AlertStateRow.__tablename__]


@dataclass(frozen=True)
class AlertStateRecord:
    id: int
    rule_id: str
    level: str
    bad: bool
    bad_since: datetime | None
    last_posted_at: datetime | None
    watermark: datetime | None
    version: int

    @classmethod
    def from_row(cls, row: Any) -> AlertStateRecord:
        return cls(
            id=row.id,
            rule_id=row.rule_id,
            level=row.level,
            bad=row.bad,
            bad_since=as_utc(row.bad_since),
            last_posted_at=as_utc(row.last_posted_at),
            watermark=as_utc(row.watermark),
            version=row.version,
        )


class AlertStore:
    """Alert rule states over the store's engine (``Store.engine``)."""

    def __init__(self, engine: AsyncEngine, clock: Callable[[], datetime] = utcnow) -> None:
        self.engine = engine
        self._now = clock

    async def states(self, rule_ids: Collection[str]) -> dict[str, AlertStateRecord]:
        """The state of each rule, made (unknown, not bad) for a rule seen the first time."""
        if not rule_ids:
            return {}
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        make = dialect.insert(STATES).on_conflict_do_nothing()
        now = self._now()
        fresh: list[dict[str, Any]] = [
            {"rule_id": rule, "level": "unknown", "bad": False, "version": 0, "updated_at": now}
            for rule in rule_ids
        ]
        query = select(STATES).where(STATES.c.rule_id.in_(list(rule_ids)))
        async with self.engine.begin() as connection:
            await connection.execute(make, fresh)
            rows = await connection.execute(query)
            return {row.rule_id: AlertStateRecord.from_row(row) for row in rows}

    async def save(
        self,
        state: AlertStateRecord,
        *,
        level: str,
        bad: bool,
        bad_since: datetime | None,
        last_posted_at: datetime | None,
        watermark: datetime | None,
    ) -> AlertStateRecord | None:
        """Move the rule from ``state`` to these values; None if another evaluation moved
        it first (it then posts, this one does not)."""
        statement = (
            update(STATES)
            .where(STATES.c.id == state.id, STATES.c.version == state.version)
            .values(
                level=level,
                bad=bad,
                bad_since=bad_since,
                last_posted_at=last_posted_at,
                watermark=watermark,
                version=STATES.c.version + 1,
                updated_at=self._now(),
            )
            .returning(*STATES.c)
        )
        async with self.engine.begin() as connection:
            row = (await connection.execute(statement)).one_or_none()
        return AlertStateRecord.from_row(row) if row is not None else None

    async def forget_post(self, state: AlertStateRecord) -> None:
        """The post ``state`` claimed reached no surface: the next evaluation posts again."""
        statement = (
            update(STATES)
            .where(STATES.c.id == state.id, STATES.c.version == state.version)
            .values(last_posted_at=None, version=STATES.c.version + 1, updated_at=self._now())
        )
        async with self.engine.begin() as connection:
            await connection.execute(statement)

    async def rule_of(self, ref: int) -> str | None:
        """The rule whose row has id ``ref`` (a suggestion button's reference)."""
        query = select(STATES.c.rule_id).where(STATES.c.id == ref)
        async with self.engine.connect() as connection:
            rule: str | None = (await connection.execute(query)).scalar_one_or_none()
        return rule
