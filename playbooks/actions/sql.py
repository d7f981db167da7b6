"""The ``sql`` action: one statement with bound parameters on a named connection."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal

from pydantic import Field
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from playbooks.actions.base import Action, ActionArgs, ActionContext, ActionResult
from playbooks.errors import ActionError

__all__ = ["SqlAction", "SqlArgs", "format_table"]

_PLAN_QUERY_LIMIT = 120
_CELL_LIMIT = 40


class SqlArgs(ActionArgs):
    """``with:`` arguments of the ``sql`` action."""

    connection: str = "default"
    query: str = Field(min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)
    returns: Literal["scalar", "rows"] = "rows"
    max_rows: int = Field(default=100, ge=1)
    autocommit: bool = False
    """Run outside a transaction, as VACUUM and CREATE INDEX CONCURRENTLY must."""


def _collapse(query: str, limit: int) -> str:
    collapsed = " ".join(query.split())
    return collapsed if len(collapsed) <= limit else collapsed[: limit - 1] + "…"


def _cell(value: Any) -> str:
    shown = "NULL" if value is None else " ".join(str(value).split())
    return shown if len(shown) <= _CELL_LIMIT else shown[: _CELL_LIMIT - 1] + "…"


def format_table(columns: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> str:
    """A small fixed-width text table, as a chat code block would show it."""
    cells = [[_cell(row.get(column)) for column in columns] for row in rows]
    widths = [
        max([len(column), *(len(line[i]) for line in cells)]) for i, column in enumerate(columns)
    ]
    lines = [
        "  ".join(column.ljust(width) for column, width in zip(columns, widths, strict=True)),
        "  ".join("-" * width for width in widths),
    ]
    lines.extend(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True))
        for line in cells
    )
    return "\n".join(line.rstrip() for line in lines)


def _reason(exc: BaseException) -> str:
    """The driver's own message, first line only: SQLAlchemy appends the SQL and a link."""
    source: BaseException = exc
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        source = exc.orig
    message = str(source).strip() or type(source).__name__
    first = message.splitlines()[0].strip()
    # SQLAlchemy prefixes the errors it wraps with "(driver.ErrorClass) ".
    if isinstance(source, SQLAlchemyError) and first.startswith("(") and ") " in first:
        first = first.split(") ", 1)[1]
    return first


class SqlAction(Action[SqlArgs]):
    """Run one SQL statement and return a scalar or rows."""

    name: ClassVar[str] = "sql"
    Args = SqlArgs
    summary: ClassVar[str] = "Run a SQL statement on a configured connection (scalar or rows)."

    def plan(self, args: SqlArgs) -> str:
        outside = " (outside a transaction)" if args.autocommit else ""
        return f"query on `{args.connection}`{outside}: {_collapse(args.query, _PLAN_QUERY_LIMIT)}"

    async def execute(self, args: SqlArgs, ctx: ActionContext) -> ActionResult:
        where = f"`{args.connection}`"
        try:
            url = ctx.sql_url(args.connection)
        except KeyError as exc:
            raise ActionError(f"no SQL connection named {where} in the config") from exc

        engine: AsyncEngine | None = None
        try:
            if args.autocommit:
                engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
            else:
                engine = create_async_engine(url)
            # begin() commits on success, so UPDATE/DELETE steps take effect; in autocommit
            # mode each statement takes effect as it runs and begin() opens no transaction.
            async with engine.begin() as conn:
                result = await conn.execute(text(args.query), args.params)
                if not result.returns_rows:
                    affected = result.rowcount
                    return ActionResult(
                        summary=f"query on {where}: {affected} rows affected",
                        value=None if args.returns == "scalar" else [],
                        data={"rowcount": affected, "columns": [], "truncated": False},
                    )
                columns = [str(key) for key in result.keys()]  # noqa: SIM118 (a Result, not a dict)
                # One extra row tells whether the result was cut.
                fetched = result.fetchmany(args.max_rows + 1)
                result.close()
        except SQLAlchemyError as exc:
            # Never the URL: it may carry a password.
            raise ActionError(f"query on {where} failed: {_reason(exc)}") from exc
        except ModuleNotFoundError as exc:
            raise ActionError(
                f"query on {where} failed: database driver `{exc.name}` is not installed"
            ) from exc
        except OSError as exc:
            raise ActionError(f"query on {where} failed: {_reason(exc)}") from exc
        finally:
            if engine is not None:
                await engine.dispose()

        truncated = len(fetched) > args.max_rows
        rows = [dict(row._mapping) for row in fetched[: args.max_rows]]
        if args.returns == "scalar":
            scalar = fetched[0][0] if fetched else None
            return ActionResult(
                summary=f"query on {where} = {_cell(scalar)}",
                output=_cell(scalar),
                value=scalar,
                data={"columns": columns, "rowcount": len(rows), "truncated": truncated},
            )
        count = f"{len(rows)}{'+' if truncated else ''}"
        noun = "row" if len(rows) == 1 and not truncated else "rows"
        shown = f" (first {args.max_rows} shown)" if truncated else ""
        return ActionResult(
            summary=f"query on {where} returned {count} {noun}{shown}",
            output=format_table(columns, rows),
            value=rows,
            data={"columns": columns, "rowcount": len(rows), "truncated": truncated},
        )
