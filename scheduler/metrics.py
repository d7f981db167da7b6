"""Reading metrics from their sources, all at once, each within its own timeout.

A source that fails (unreachable, an error status, an answer without the number, too
slow) gives an ``unknown`` reading whose reason says why (secrets redacted); it is never
taken for ok. Sources are read concurrently, so a hundred metrics behind a slow server
take about as long as the slowest one; metrics that read fields of one HTTP answer (a KPI
endpoint) share one request per evaluation.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Collection, Mapping
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bot.config import Config
from bot.config_schedules import HttpSource, MetricConfig, PrometheusSource, SqlSource
from playbooks.durations import format_duration
from playbooks.errors import ChatOpsError
from playbooks.templating import EnvView, SecretsView, render_value
from scheduler.thresholds import Reading, judge, unknown

__all__ = ["METRIC_CONNECTIONS", "MetricReader", "SourceError", "field_value", "prometheus_value"]

_SHOWN_BODY = 120
METRIC_CONNECTIONS = 128
"""Connections per origin for metric sources (a digest may read a hundred at once)."""

_Fetches = dict[tuple[str, tuple[tuple[str, str], ...]], "asyncio.Task[httpx.Response]"]


class SourceError(ChatOpsError):
    """A metric source could not give a number; ``reason`` says why."""


def field_value(document: Any, path: str) -> float:
    """The number at dotted ``path`` (``kpis.par_90``, ``items.0.value``) of a JSON document."""
    value = document
    walked: list[str] = []
    for part in path.split("."):
        walked.append(part)
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            raise SourceError(f"the answer has no `{'.'.join(walked)}`")
    return _number(value, f"`{path}`")


def prometheus_value(payload: dict[str, Any], query: str) -> float:
    """The one number an instant query's JSON answer (``/api/v1/query``) holds: a vector's
    first sample or a scalar; :class:`SourceError` saying why when there is none."""
    if payload.get("status") != "success":
        error = payload.get("error") or f"status {payload.get('status')!r}"
        raise SourceError(f"Prometheus query `{query}` failed: {error}")
    data = payload.get("data")
    if not isinstance(data, dict):
        data = {}
    result = data.get("result")
    sample: Any
    if data.get("resultType") == "vector":
        if not result:
            raise SourceError(f"query `{query}` returned no data")
        sample = result[0].get("value") if isinstance(result[0], dict) else None
    elif data.get("resultType") == "scalar":
        sample = result
    else:
        raise SourceError(f"query `{query}` returned a {data.get('resultType')!r}, not one number")
    if not isinstance(sample, list | tuple) or len(sample) < 2:
        raise SourceError(f"query `{query}` returned {sample!r}")
    return _number(sample[1], f"query `{query}`")


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or value is None:
        raise SourceError(f"{what} is {value!r}, not a number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        shown = repr(value)[:_SHOWN_BODY]
        raise SourceError(f"{what} is {shown}, not a number") from None
    if math.isnan(number) or math.isinf(number):
        raise SourceError(f"{what} is {number}, not a number to judge")
    return number


class MetricReader:
    """Reads the configured metrics through the bot's HTTP client and named connections."""

    def __init__(
        self,
        config: Config,
        *,
        http: httpx.AsyncClient,
        environ: Mapping[str, str],
        redact: Callable[[str], str],
        remember_secret: Callable[[str], None],
    ) -> None:
        self.config = config
        self.http = http
        self.environ = environ
        self.redact = redact
        self.remember_secret = remember_secret
        self._engines: dict[str, AsyncEngine] = {}

    async def close(self) -> None:
        for engine in self._engines.values():
            await engine.dispose()
        self._engines.clear()

    async def read_all(self, keys: Collection[str]) -> dict[str, Reading]:
        """Every metric in ``keys``, read concurrently."""
        ordered = list(dict.fromkeys(keys))
        fetches: _Fetches = {}
        try:
            readings = await asyncio.gather(*(self.read(key, fetches) for key in ordered))
        finally:
            for task in fetches.values():
                task.cancel()  # one every metric reading it gave up on
        return dict(zip(ordered, readings, strict=True))

    async def read(self, key: str, fetches: _Fetches | None = None) -> Reading:
        """Metric ``key`` now: judged against its thresholds, or unknown with the reason."""
        metric = self.config.metrics[key]
        try:
            async with asyncio.timeout(metric.timeout):
                value = await self._value(metric, {} if fetches is None else fetches)
        except TimeoutError:
            return unknown(key, f"no answer within {format_duration(metric.timeout)}")
        except ChatOpsError as exc:
            return unknown(key, self.redact(exc.reason))
        return judge(key, metric, value)

    async def _value(self, metric: MetricConfig, fetches: _Fetches) -> float:
        source = metric.source
        if source.http is not None:
            return await self._http(source.http, fetches)
        if source.prometheus is not None:
            return await self._prometheus(source.prometheus)
        assert source.sql is not None
        return await self._sql(source.sql)

    def _render(self, value: Any) -> Any:
        variables = {
            "env": EnvView(self.environ),
            "secrets": SecretsView(self.environ, self.remember_secret),
        }
        return render_value(value, variables)

    async def _get(self, url: str, **kwargs: Any) -> httpx.Response:
        try:
            return await self.http.get(url, **kwargs)
        except httpx.TimeoutException as exc:
            raise SourceError(f"{_host(url)} timed out") from exc
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise SourceError(f"cannot reach {_host(url)}: {type(exc).__name__}") from exc

    async def _http(self, source: HttpSource, fetches: _Fetches) -> float:
        url = str(self._render(source.url))
        headers = {k: str(v) for k, v in self._render(dict(source.headers)).items()}
        key = (url, tuple(sorted(headers.items())))
        fetch = fetches.get(key)
        if fetch is None:
            fetch = fetches[key] = asyncio.create_task(self._get(url, headers=headers))
        # Shielded: a metric that stops waiting (its own timeout) leaves the answer to the
        # others that read the same one.
        response = await asyncio.shield(fetch)
        if not response.is_success:
            raise SourceError(f"{_host(url)} answered HTTP {response.status_code}")
        try:
            document = response.json()
        except ValueError:
            raise SourceError(f"{_host(url)} answered {_snippet(response)}, not JSON") from None
        return field_value(document, source.field)

    async def _prometheus(self, source: PrometheusSource) -> float:
        base = self._render(source.url) if source.url else self.environ.get("PROMETHEUS_URL")
        if not base:
            raise SourceError("no Prometheus URL: set PROMETHEUS_URL or give `url`")
        base = str(base).rstrip("/")
        response = await self._get(f"{base}/api/v1/query", params={"query": source.query})
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            raise SourceError(
                f"Prometheus at {_host(base)} answered HTTP {response.status_code}: "
                f"{_snippet(response)}"
            )
        return prometheus_value(payload, source.query)

    async def _sql(self, source: SqlSource) -> float:
        engine = self._engines.get(source.connection)
        if engine is None:
            url = self.config.connection_url(source.connection, self.environ)
            engine = create_async_engine(url, pool_pre_ping=True)
            self._engines[source.connection] = engine
        try:
            async with engine.connect() as connection:
                value = (await connection.execute(text(source.query))).scalar()
        except SQLAlchemyError as exc:
            origin = exc.orig if isinstance(exc, DBAPIError) and exc.orig else exc
            first = (str(origin).strip().splitlines() or [type(origin).__name__])[0]
            raise SourceError(f"query on `{source.connection}` failed: {first}") from exc
        except (OSError, ModuleNotFoundError) as exc:
            raise SourceError(f"query on `{source.connection}` failed: {exc}") from exc
        return _number(value, f"query on `{source.connection}`")


def _host(url: str) -> str:
    """Where a request went, without a path, a query or credentials that may be secret."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        return "the source"
    return f"{parsed.scheme}://{parsed.host}{f':{parsed.port}' if parsed.port else ''}"


def _snippet(response: httpx.Response) -> str:
    body = " ".join(response.text.split())
    return repr(body[:_SHOWN_BODY]) if body else "an empty body"
