"""The ``prometheus`` action: one instant query, reduced to a number."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import httpx
from pydantic import Field

from playbooks.actions.base import (
    Action,
    ActionArgs,
    ActionContext,
    ActionResult,
    MisconfiguredError,
)
from playbooks.actions.http import describe_transport_error, display_url
from playbooks.errors import ActionError

__all__ = ["PrometheusAction", "PrometheusArgs", "format_number"]

_ERROR_BODY_LIMIT = 200


class PrometheusArgs(ActionArgs):
    """``with:`` arguments of the ``prometheus`` action."""

    query: str = Field(min_length=1)
    url: str | None = None


def format_number(value: float) -> str:
    """``0.42``, ``1234567``, ``NaN``: short, without float noise."""
    if math.isnan(value) or math.isinf(value):
        return str(value)
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.6g}"


def _sample_value(pair: Any, query: str) -> float:
    """The number in a ``[timestamp, "value"]`` pair."""
    try:
        return float(pair[1])
    except (TypeError, ValueError, IndexError, KeyError) as exc:
        raise ActionError(
            f"query `{query}` returned a value that is not a number: {pair!r}"
        ) from exc


class PrometheusAction(Action[PrometheusArgs]):
    """Run a PromQL instant query and return its (first) value."""

    name: ClassVar[str] = "prometheus"
    Args = PrometheusArgs
    summary: ClassVar[str] = "Run a PromQL instant query; its value is the first sample."

    def plan(self, args: PrometheusArgs) -> str:
        where = f" at {display_url(args.url)}" if args.url else ""
        return f"query Prometheus{where}: `{args.query}`"

    def environment(self, args: PrometheusArgs) -> tuple[str, ...]:
        return () if args.url else ("PROMETHEUS_URL",)

    async def execute(self, args: PrometheusArgs, ctx: ActionContext) -> ActionResult:
        base = args.url or ctx.environ.get("PROMETHEUS_URL")
        if not base:
            raise MisconfiguredError("no Prometheus URL: set PROMETHEUS_URL or give `url`")
        base = base.rstrip("/")
        shown = display_url(base)
        try:
            response = await ctx.http.get(f"{base}/api/v1/query", params={"query": args.query})
        except httpx.ConnectTimeout as exc:
            raise ActionError(f"cannot reach Prometheus at {shown}: connection timed out") from exc
        except httpx.TimeoutException as exc:
            raise ActionError(f"Prometheus at {shown} timed out on `{args.query}`") from exc
        except httpx.ConnectError as exc:
            raise ActionError(
                f"cannot reach Prometheus at {shown}: {describe_transport_error(exc)}"
            ) from exc
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise ActionError(
                f"query to Prometheus at {shown} failed: {describe_transport_error(exc)}"
            ) from exc

        # Prometheus answers bad queries with 400/422 and a JSON error, so read the body
        # before judging the status.
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            snippet = " ".join(response.text.split())[:_ERROR_BODY_LIMIT] or "(empty body)"
            raise ActionError(
                f"Prometheus at {shown} returned {response.status_code} "
                f"without a Prometheus answer: {snippet}"
            )
        if payload.get("status") != "success":
            error = payload.get("error") or f"status {payload.get('status')!r}"
            kind = payload.get("errorType")
            detail = f"{kind}: {error}" if kind else str(error)
            # bad_data: the query itself is malformed; asking again gets the same answer.
            failure = MisconfiguredError if kind == "bad_data" else ActionError
            raise failure(f"Prometheus query `{args.query}` failed: {detail}")

        data = payload.get("data")
        if not isinstance(data, dict):
            data = {}
        result_type = data.get("resultType")
        result = data.get("result")
        samples: list[dict[str, Any]]
        if result_type == "vector":
            if not result:
                raise ActionError(f"query `{args.query}` returned no data")
            samples = [
                {
                    "labels": dict(item.get("metric") or {}),
                    "value": _sample_value(item.get("value"), args.query),
                }
                for item in result
            ]
        elif result_type in ("scalar", "string"):
            samples = [{"labels": {}, "value": _sample_value(result, args.query)}]
        elif result_type == "matrix":
            raise MisconfiguredError(
                f"query `{args.query}` returned a range vector; use an instant query "
                "(drop the `[…]` range or wrap it in a function such as rate())"
            )
        else:
            raise ActionError(
                f"query `{args.query}` returned an unknown result type {result_type!r}"
            )

        value: float = samples[0]["value"]
        more = f" (first of {len(samples)} series)" if len(samples) > 1 else ""
        lines = [
            f"{_labels(sample['labels'])} {format_number(sample['value'])}" for sample in samples
        ]
        return ActionResult(
            summary=f"`{args.query}` = {format_number(value)}{more}",
            output="\n".join(lines),
            value=value,
            data={"samples": samples, "result_type": result_type},
        )


def _labels(labels: dict[str, Any]) -> str:
    inner = ", ".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    return "{" + inner + "}"
