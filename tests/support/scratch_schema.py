"""A scratch PostgreSQL schema for one test or one benchmark, dropped afterwards."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from bot.settings import normalize_database_url

__all__ = ["scratch_schema"]


@contextmanager
def scratch_schema(base: str, *, prefix: str = "chatops_test") -> Iterator[str]:
    """A URL whose connections use a fresh schema (via search_path), dropped CASCADE after."""
    base = normalize_database_url(base)
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, poolclass=NullPool)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        try:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        finally:
            admin.dispose()
