"""A clock for tests: sleeping advances virtual time at once, so 5-minute polls take no time."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

__all__ = ["FastClock"]


class FastClock:
    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
        self.slept: list[float] = []

    def now(self) -> datetime:
        return self.current

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.current += timedelta(seconds=seconds)
        await asyncio.sleep(0)  # still let other tasks run, as a real sleep would

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)
