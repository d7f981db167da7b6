"""Alembic environment: runs on the connection the application hands it (see bot.db.migrate)."""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from sqlalchemy.engine import Connection
from sqlmodel.sql.sqltypes import AutoString

from bot.db.tables import metadata


def _render_item(kind: str, item: Any, _autogen: Any) -> str | Literal[False]:
    # sqlmodel's AutoString is a plain VARCHAR: write it as one, so migrations need no sqlmodel.
    if kind == "type" and isinstance(item, AutoString):
        return f"sa.String(length={item.length})" if item.length else "sa.String()"
    return False


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_item=_render_item,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `chatops db upgrade`, which supplies a connection")
_run(connection)
