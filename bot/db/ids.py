"""The ids the schema can hold: a run number outside them names no run.

Every id column (``runs.id``, ``runs.parent_run_id``, ``step_results.run_id`` …) is an
INTEGER (``0001_initial_schema``), four bytes on PostgreSQL. A larger number in a query is
refused by the database rather than matched against nothing (PostgreSQL: a DataError that
looks like an outage; SQLite, past 2**63: an OverflowError), so every path that reads a run
number a person typed or a button carried checks it against :data:`MAX_ID` first.
"""

from __future__ import annotations

__all__ = ["MAX_ID", "MAX_ID_DIGITS", "in_id_range"]

MAX_ID = 2**31 - 1  # PostgreSQL's INTEGER; SQLite's holds more, so this is the bound for both
MAX_ID_DIGITS = len(str(MAX_ID))


def in_id_range(value: int) -> bool:
    """Whether ``value`` can be an id: ids start at 1 and stop at :data:`MAX_ID`."""
    return 1 <= value <= MAX_ID
