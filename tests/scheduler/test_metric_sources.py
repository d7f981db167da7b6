"""Metric sources against local stubs: an HTTP JSON field, a Prometheus instant query, a SQL
scalar on a named connection. A source that fails is unknown with its reason (never ok, no
secret in it), and many metrics are read at once, each within its own timeout."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from bot.config import Config
from bot.outbound_http import step_http_client
from playbooks.secrets import Redactor
from scheduler.metrics import METRIC_CONNECTIONS, MetricReader, SourceError, prometheus_value
from scheduler.thresholds import Level, Reading
from tests.support.stub_server import StubServer

SECRET = "s3cr3t-kpi-token-value"

Read = Callable[..., Any]


@pytest_asyncio.fixture
async def read(stub_server: StubServer, tmp_path: Path) -> AsyncIterator[Read]:
    """``await read({metric config}, env=...)``: the reading of one metric ``m``."""
    readers: list[MetricReader] = []
    client = step_http_client(per_origin=METRIC_CONNECTIONS)

    async def reading(metric: dict[str, Any], *, env: dict[str, str] | None = None) -> Reading:
        environ = {"API_URL": stub_server.url, "PROMETHEUS_URL": stub_server.url,
                   "KPI_TOKEN": SECRET, **(env or {})}  # fmt: skip
        config = Config.model_validate(
            {"metrics": {"m": metric}, "connections": {"warehouse": {"url_env": "WAREHOUSE_URL"}}}
        )
        redactor = Redactor.from_environ(environ)
        reader = MetricReader(
            config, http=client, environ=environ, redact=redactor, remember_secret=redactor.add
        )
        readers.append(reader)
        return await reader.read("m")

    yield reading
    for reader in readers:
        await reader.close()
    await client.aclose()


def http(field: str, path: str = "/kpis", **extra: Any) -> dict[str, Any]:
    source = {"url": "{{ env.API_URL }}" + path, "field": field, **extra}
    return {"source": {"http": source}, "warning": "> 3", "critical": "> 5"}


async def test_an_http_json_field_is_read_by_its_path(read: Read, stub_server: StubServer) -> None:
    stub_server.route("GET", "/kpis", json={"kpis": {"par_90": "4.2", "list": [{"v": 9}]}})
    assert await read(http("kpis.par_90")) == Reading("m", Level.WARNING, 4.2)
    assert (await read(http("kpis.list.0.v"))).value == 9


async def test_secrets_reach_the_source_but_never_the_reason(
    read: Read, stub_server: StubServer
) -> None:
    stub_server.route("GET", "/kpis", status=401, json={"error": f"bad token {SECRET}"})
    metric = http("par_90", headers={"Authorization": "Bearer {{ secrets.KPI_TOKEN }}"})
    reading = await read(metric)
    assert stub_server.requests[0].headers["authorization"] == f"Bearer {SECRET}"
    assert reading == Reading("m", Level.UNKNOWN, reason=f"{stub_server.url} answered HTTP 401")


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ({"json": {"kpis": {}}}, "the answer has no `kpis.par_90`"),
        ({"json": {"kpis": {"par_90": None}}}, "`kpis.par_90` is None, not a number"),
        ({"json": {"kpis": {"par_90": "n/a"}}}, "`kpis.par_90` is 'n/a', not a number"),
        ({"body": "<html>oops</html>"}, "{url} answered '<html>oops</html>', not JSON"),
        ({"status": 503, "json": {}}, "{url} answered HTTP 503"),
    ],
)
async def test_an_http_source_that_fails_is_unknown_with_the_reason(
    read: Read, stub_server: StubServer, answer: dict[str, Any], reason: str
) -> None:
    stub_server.route("GET", "/kpis", **answer)
    reading = await read(http("kpis.par_90"))
    assert reading == Reading("m", Level.UNKNOWN, reason=reason.format(url=stub_server.url))


async def test_an_unreachable_source_is_unknown(read: Read) -> None:
    reading = await read(http("v"), env={"API_URL": "http://127.0.0.1:9"})
    assert reading.level is Level.UNKNOWN
    assert reading.reason == "cannot reach http://127.0.0.1:9: ConnectError"


async def test_a_slow_source_is_unknown_after_its_timeout(
    read: Read, stub_server: StubServer
) -> None:
    stub_server.route("GET", "/kpis", json={"v": 1}, delay=2)
    reading = await read({**http("v"), "timeout": "100ms"})
    assert reading == Reading("m", Level.UNKNOWN, reason="no answer within 100ms")


def prometheus(query: str = "pipeline_latency_minutes") -> dict[str, Any]:
    return {"unit": "min", "source": {"prometheus": {"query": query}}, "critical": "> 15min"}


async def test_a_prometheus_instant_query_gives_its_first_sample(
    read: Read, stub_server: StubServer
) -> None:
    stub_server.route(
        "GET",
        "/api/v1/query",
        json={"status": "success", "data": {"resultType": "vector", "result": [
            {"metric": {"job": "etl"}, "value": [1732270000, "16.5"]},
            {"metric": {"job": "other"}, "value": [1732270000, "1"]},
        ]}},
    )  # fmt: skip
    assert await read(prometheus()) == Reading("m", Level.CRITICAL, 16.5)
    assert stub_server.requests[0].query == {"query": ["pipeline_latency_minutes"]}


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ({"status": "success", "data": {"resultType": "vector", "result": []}},
         "query `q` returned no data"),
        ({"status": "error", "errorType": "bad_data", "error": "parse error"},
         "Prometheus query `q` failed: parse error"),
        ({"status": "success", "data": {"resultType": "matrix", "result": []}},
         "query `q` returned a 'matrix', not one number"),
    ],
)  # fmt: skip
async def test_a_prometheus_query_without_one_number_is_unknown(
    read: Read, stub_server: StubServer, answer: dict[str, Any], reason: str
) -> None:
    stub_server.route("GET", "/api/v1/query", status=200, json=answer)
    assert await read(prometheus("q")) == Reading("m", Level.UNKNOWN, reason=reason)


async def test_a_sql_scalar_is_read_on_a_named_connection(read: Read, tmp_path: Path) -> None:
    database = tmp_path / "warehouse.db"
    with sqlite3.connect(database) as connection:
        connection.execute("CREATE TABLE runs (hours REAL)")
        connection.execute("INSERT INTO runs VALUES (7.5), (3.0)")
    metric = {
        "unit": "hrs",
        "source": {"sql": {"connection": "warehouse", "query": "SELECT max(hours) FROM runs"}},
        "warning": "> 8hrs",
        "critical": "> 12hrs",
    }
    env = {"WAREHOUSE_URL": f"sqlite+aiosqlite:///{database}"}
    assert await read(metric, env=env) == Reading("m", Level.OK, 7.5)
    broken = {**metric, "source": {"sql": {"connection": "warehouse", "query": "SELECT x FROM y"}}}
    assert await read(broken, env=env) == Reading(
        "m", Level.UNKNOWN, reason="query on `warehouse` failed: no such table: y"
    )
    assert await read(metric) == Reading(
        "m",
        Level.UNKNOWN,
        reason="connection `warehouse` reads its URL from WAREHOUSE_URL, which is not set",
    )


async def test_many_metrics_are_read_at_once(stub_server: StubServer) -> None:
    stub_server.route("GET", "/kpis", json={"v": 1}, delay=0.2)
    metrics = {f"m{i}": http("v", path=f"/kpis?n={i}") for i in range(20)}
    environ = {"API_URL": stub_server.url}
    client = step_http_client(per_origin=METRIC_CONNECTIONS)
    reader = MetricReader(
        Config.model_validate({"metrics": metrics}),
        http=client,
        environ=environ,
        redact=str,
        remember_secret=lambda _value: None,
    )
    try:
        readings = await reader.read_all(list(metrics))
    finally:
        await client.aclose()
    assert {r.level for r in readings.values()} == {Level.OK}
    assert stub_server.most_at_once == 20


async def test_metrics_reading_one_answer_share_one_request(stub_server: StubServer) -> None:
    stub_server.route("GET", "/kpis", json={"par_90": 2.0, "rdr_90": 60, "health": 6.1})
    metrics = {key: http(key) for key in ("par_90", "rdr_90", "health")}
    client = step_http_client(per_origin=METRIC_CONNECTIONS)
    reader = MetricReader(
        Config.model_validate({"metrics": metrics}),
        http=client,
        environ={"API_URL": stub_server.url},
        redact=str,
        remember_secret=lambda _value: None,
    )
    try:
        readings = await reader.read_all(list(metrics))
    finally:
        await client.aclose()
    assert {key: r.value for key, r in readings.items()} == {
        "par_90": 2.0,
        "rdr_90": 60,
        "health": 6.1,
    }
    assert len(stub_server.calls("GET", "/kpis")) == 1


def test_an_instant_querys_answer_gives_its_one_number_or_says_why_not() -> None:
    def answer(kind: str, result: object) -> dict[str, object]:
        return {"status": "success", "data": {"resultType": kind, "result": result}}

    assert prometheus_value(answer("vector", [{"value": [1, "0.42"]}]), "q") == 0.42
    assert prometheus_value(answer("scalar", [1, "7"]), "q") == 7.0
    refusals = {
        "query `q` returned no data": answer("vector", []),
        "query `q` returned a 'matrix', not one number": answer("matrix", []),
        "query `q` returned None": answer("vector", [{"metric": {}}]),
        "query `q` is nan, not a number to judge": answer("scalar", [1, "NaN"]),
        "Prometheus query `q` failed: bad_data": {"status": "error", "error": "bad_data"},
    }
    for said, payload in refusals.items():
        with pytest.raises(SourceError) as refused:
            prometheus_value(payload, "q")
        assert str(refused.value) == said
