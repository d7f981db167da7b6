"""The ``http`` action: one HTTP request through the engine's shared client."""

from __future__ import annotations

import contextlib
import json as jsonlib
import os
import re
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import urlencode

import httpx
from pydantic import Field, field_validator, model_validator

from playbooks.actions.base import Action, ActionArgs, ActionContext, ActionResult
from playbooks.errors import ActionError, MisconfiguredError

__all__ = ["HttpAction", "HttpArgs", "describe_transport_error", "display_url"]

# How much of a response is kept as text: enough for an error page, not a whole dump.
_TEXT_LIMIT = 4000
_ERROR_BODY_LIMIT = 200
_PLAN_BODY_LIMIT = 80
_USERINFO_PASSWORD = re.compile(r"^(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]+:)[^@/\s]+@", re.I)

Scalar = str | int | float | bool


class HttpArgs(ActionArgs):
    """``with:`` arguments of the ``http`` action."""

    method: str = "GET"
    url: str
    headers: dict[str, str] = Field(default_factory=dict)
    query: dict[str, Scalar] = Field(default_factory=dict)
    # ``json`` would shadow BaseModel.json, so the field has another name and the alias.
    json_body: Any = Field(default=None, alias="json")
    body: str | None = None
    expect_status: int | list[int] | None = None

    @field_validator("method")
    @classmethod
    def _upper(cls, value: str) -> str:
        method = value.strip().upper()
        if not method.isalpha():
            raise ValueError(f"not an HTTP method: {value!r}")
        return method

    @model_validator(mode="after")
    def _one_body(self) -> HttpArgs:
        if self.has_json and self.body is not None:
            raise ValueError("give either `json` or `body`, not both")
        return self

    @property
    def has_json(self) -> bool:
        """Whether a JSON body was given (``json: null`` counts: it sends ``null``)."""
        return "json_body" in self.model_fields_set


def _require_absolute(method: str, url: str, target: str) -> None:
    """A URL with no scheme or host (say, its variable was set empty) can never be called:
    fail the step at once rather than retry it."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise MisconfiguredError(f"{method} {target}: bad URL ({exc})") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise MisconfiguredError(
            f"{method} {target}: not a full URL (it needs http:// or https:// and a host)"
        )


def display_url(url: str) -> str:
    """``url`` with any password in its user-info replaced by ``***``."""
    return _USERINFO_PASSWORD.sub(r"\g<head>***@", url)


def describe_transport_error(exc: BaseException) -> str:
    """The most precise short reason in an httpx exception chain (``connection refused``)."""
    for cause in _chain(exc):
        if isinstance(cause, OSError) and isinstance(cause.errno, int) and cause.errno != 0:
            # Positive errnos have a standard text; getaddrinfo errors are negative and
            # carry their own text in ``strerror``.
            text = os.strerror(cause.errno) if cause.errno > 0 else str(cause.strerror)
            return _lower_first(text)
    text = str(exc).strip()
    return _lower_first(text) if text else type(exc).__name__


def _chain(exc: BaseException) -> list[BaseException]:
    seen: set[int] = set()
    found: list[BaseException] = []
    stack: list[BaseException | None] = [exc]
    while stack:
        current = stack.pop(0)
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        found.append(current)
        stack.extend([current.__cause__, current.__context__])
        if isinstance(current, BaseExceptionGroup):
            stack.extend(current.exceptions)
    return found


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def _one_line(text: str, limit: int) -> str:
    collapsed = " ".join(text.split())
    return collapsed if len(collapsed) <= limit else collapsed[: limit - 1] + "…"


def _expected(expect: int | list[int] | None) -> str:
    if expect is None:
        return "2xx"
    if isinstance(expect, int):
        return str(expect)
    return " or ".join(str(code) for code in expect)


def _status_ok(status: int, expect: int | list[int] | None) -> bool:
    if expect is None:
        return 200 <= status < 300
    if isinstance(expect, int):
        return status == expect
    return status in expect


def _is_json(response: httpx.Response) -> bool:
    content_type = str(response.headers.get("content-type", "")).split(";")[0].strip().lower()
    return content_type == "application/json" or content_type.endswith("+json")


class HttpAction(Action[HttpArgs]):
    """Send one HTTP request and check its status."""

    name: ClassVar[str] = "http"
    Args = HttpArgs
    summary: ClassVar[str] = "Send an HTTP request (JSON or text body) and check the status code."

    def plan(self, args: HttpArgs) -> str:
        target = display_url(args.url)
        if args.query:
            # Booleans as httpx sends them (``true``), not as Python prints them.
            shown = {k: str(v).lower() if isinstance(v, bool) else v for k, v in args.query.items()}
            target += ("&" if "?" in target else "?") + urlencode(shown)
        details: list[str] = []
        if args.has_json:
            # ``default=str`` because a dry run may hold placeholders for later values.
            body = jsonlib.dumps(args.json_body, default=str, ensure_ascii=False)
            details.append(f"JSON body {_one_line(body, _PLAN_BODY_LIMIT)}")
        elif args.body is not None:
            details.append(f"body {_one_line(args.body, _PLAN_BODY_LIMIT)!r}")
        if args.headers:
            # Header names only: values are often credentials.
            details.append("headers " + ", ".join(sorted(args.headers)))
        if args.expect_status is not None:
            details.append(f"expecting {_expected(args.expect_status)}")
        suffix = f" ({'; '.join(details)})" if details else ""
        return f"{args.method} {target}{suffix}"

    async def execute(self, args: HttpArgs, ctx: ActionContext) -> ActionResult:
        target = display_url(args.url)
        _require_absolute(args.method, args.url, target)
        # Merged into the URL's own query string: httpx's `params` would replace it, and a
        # token placed in the URL (`?token={{ secrets.X }}`) would silently not be sent.
        url = httpx.URL(args.url).copy_merge_params(args.query) if args.query else args.url
        request_kwargs: dict[str, Any] = {"headers": args.headers}
        if args.has_json:
            request_kwargs["json"] = args.json_body
        elif args.body is not None:
            request_kwargs["content"] = args.body.encode()
        try:
            response = await ctx.http.request(args.method, url, **request_kwargs)
        except httpx.ConnectTimeout as exc:
            raise ActionError(f"cannot reach {target}: connection timed out") from exc
        except httpx.TimeoutException as exc:
            raise ActionError(
                f"{args.method} {target} timed out waiting for the server ({type(exc).__name__})"
            ) from exc
        except httpx.ConnectError as exc:
            raise ActionError(f"cannot reach {target}: {describe_transport_error(exc)}") from exc
        except httpx.InvalidURL as exc:
            raise MisconfiguredError(f"{args.method} {target}: bad URL ({exc})") from exc
        except httpx.HTTPError as exc:
            raise ActionError(
                f"{args.method} {target} failed: {describe_transport_error(exc)}"
            ) from exc

        text = response.text
        if not _status_ok(response.status_code, args.expect_status):
            snippet = _one_line(text, _ERROR_BODY_LIMIT) or "(empty body)"
            raise ActionError(
                f"{args.method} {target} returned {response.status_code}, "
                f"expected {_expected(args.expect_status)}: {snippet}"
            )

        parsed: Any = None
        is_json = False
        if _is_json(response) and response.content:
            # A server that labels text as JSON: keep the text rather than fail the step.
            with contextlib.suppress(ValueError):
                parsed, is_json = response.json(), True
        kept_text = text[:_TEXT_LIMIT]
        data: Mapping[str, Any] = {
            "status_code": response.status_code,
            "json": parsed,
            "text": kept_text,
            "headers": dict(response.headers.items()),
        }
        return ActionResult(
            summary=f"{args.method} {target} → {response.status_code}",
            output=kept_text,
            value=parsed if is_json else text,
            data=data,
        )
