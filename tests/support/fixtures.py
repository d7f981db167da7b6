"""Pytest fixtures shared by test packages (load with ``pytest_plugins``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.stub_server import StubServer

__all__ = ["stub_server"]


@pytest.fixture
def stub_server() -> Iterator[StubServer]:
    """A started recording stub HTTP server, stopped after the test."""
    server = StubServer().start()
    try:
        yield server
    finally:
        server.stop()
