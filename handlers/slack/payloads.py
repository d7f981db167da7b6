"""Slack payloads read into typed values, or refused with what was wrong. Pure.

A payload that passed :mod:`handlers.slack.admission` was signed by Slack and routed by
bolt; the fields the work reads are checked here. When one is missing or of a type Slack
never sends, :class:`Unreadable` says which field, and who (if anyone) can be told: the
problem names fields and types only, never their values, so it is safe to log and show.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Click",
    "FormSubmission",
    "Mention",
    "ReplyRoute",
    "SlashCommand",
    "Unreadable",
    "read_click",
    "read_command",
    "read_mention",
    "read_submission",
]


@dataclass(frozen=True)
class ReplyRoute:
    """Where the author of a payload can be answered privately, as far as it says."""

    user: str | None = None
    channel: str | None = None
    thread: str | None = None
    response_url: str | None = None

    @property
    def reachable(self) -> bool:
        return self.user is not None and (self.response_url is not None or bool(self.channel))


class Unreadable(Exception):
    """A payload whose ``problem`` (a field and what is wrong with it) stops the work."""

    def __init__(self, kind: str, problem: str, route: ReplyRoute) -> None:
        super().__init__(f"{kind}: {problem}")
        self.kind = kind
        self.problem = problem
        self.route = route


@dataclass(frozen=True)
class SlashCommand:
    command: str
    text: str
    user_id: str
    user_name: str
    channel_id: str
    channel_name: str
    response_url: str | None
    trigger_id: str | None


@dataclass(frozen=True)
class Click:
    """A button click (block_actions): the first action, where it happened, who clicked."""

    action_id: str
    value: str
    user_id: str
    user_name: str
    channel: str
    message_ts: str
    thread: str | None
    response_url: str | None
    trigger_id: str | None


@dataclass(frozen=True)
class Mention:
    event_id: str | None
    user_id: str
    channel: str
    thread: str | None
    text: str


@dataclass(frozen=True)
class FormSubmission:
    """A modal sent (view_submission): the view's id and metadata, and its field values."""

    view_id: str
    callback_id: str
    metadata: str
    values: Mapping[str, Mapping[str, Any]]
    user_id: str
    user_name: str
    trigger_id: str | None


def read_command(body: Mapping[str, Any]) -> SlashCommand:
    route = ReplyRoute(
        user=_maybe_str(body.get("user_id")),
        channel=_maybe_str(body.get("channel_id")),
        response_url=_maybe_str(body.get("response_url")),
    )
    read = _Reader("slash command", body, route)
    return SlashCommand(
        command=read.text("command"),
        text=read.text("text", default=""),
        user_id=read.text("user_id"),
        user_name=read.text("user_name", default=""),
        channel_id=read.text("channel_id"),
        channel_name=read.text("channel_name", default=""),
        response_url=read.optional("response_url"),
        trigger_id=read.optional("trigger_id"),
    )


def read_click(body: Mapping[str, Any]) -> Click:
    user = body.get("user")
    container = _object(body.get("container"))
    channel = _object(body.get("channel"))
    message = _object(body.get("message"))
    channel_id = _maybe_str(channel.get("id")) or _maybe_str(container.get("channel_id"))
    thread = _maybe_str(container.get("thread_ts")) or _maybe_str(message.get("thread_ts"))
    route = ReplyRoute(
        user=_maybe_str(user.get("id")) if isinstance(user, dict) else None,
        channel=channel_id,
        thread=thread,
        response_url=_maybe_str(body.get("response_url")),
    )
    read = _Reader("button click", body, route)
    who = read.object("user")
    actions = body.get("actions")
    first = actions[0] if isinstance(actions, list) and actions else None
    if not isinstance(first, dict):
        raise Unreadable("button click", "`actions[0]` is not an object", route)
    action = _Reader("button click", first, route, prefix="actions[0].")
    if channel_id is None:
        raise Unreadable("button click", "neither `channel.id` nor `container.channel_id`", route)
    return Click(
        action_id=action.text("action_id"),
        value=action.text("value"),
        user_id=who.text("id"),
        user_name=who.text("username", default="") or who.text("name", default=""),
        channel=channel_id,
        message_ts=_maybe_str(container.get("message_ts")) or "",
        thread=thread,
        response_url=read.optional("response_url"),
        trigger_id=read.optional("trigger_id"),
    )


def read_mention(body: Mapping[str, Any]) -> Mention:
    event = _object(body.get("event"))
    route = ReplyRoute(
        user=_maybe_str(event.get("user")),
        channel=_maybe_str(event.get("channel")),
        thread=_maybe_str(event.get("thread_ts")),
    )
    read = _Reader("app_mention", event, route, prefix="event.")
    event_id = (
        _maybe_str(body.get("event_id")) or read.optional("client_msg_id") or read.optional("ts")
    )
    return Mention(
        event_id=event_id,
        user_id=read.text("user"),
        channel=read.text("channel"),
        thread=read.optional("thread_ts"),
        text=read.text("text"),
    )


def read_submission(body: Mapping[str, Any]) -> FormSubmission:
    user = body.get("user")
    route = ReplyRoute(user=_maybe_str(user.get("id")) if isinstance(user, dict) else None)
    read = _Reader("view_submission", body, route)
    who = read.object("user")
    view = read.object("view")
    state = view.object("state", default={})
    values = state.object("values", default={})
    for block_id, actions in values.data.items():
        if not isinstance(actions, dict) or not all(isinstance(a, dict) for a in actions.values()):
            raise Unreadable(
                "view_submission", f"`view.state.values.{block_id[:40]}` is not an object", route
            )
    return FormSubmission(
        view_id=view.text("id"),
        callback_id=view.text("callback_id"),
        metadata=view.text("private_metadata", default=""),
        values=values.data,
        user_id=who.text("id"),
        user_name=who.text("username", default="") or who.text("name", default=""),
        trigger_id=read.optional("trigger_id"),
    )


class _Reader:
    """Reads typed fields of one object of a payload, refusing with the field's path."""

    def __init__(
        self, kind: str, data: Mapping[str, Any], route: ReplyRoute, prefix: str = ""
    ) -> None:
        self.kind = kind
        self.data = data
        self.route = route
        self.prefix = prefix

    def text(self, name: str, *, default: str | None = None) -> str:
        value = self.data.get(name)
        if value is None and default is not None:
            return default
        if not isinstance(value, str):
            raise self._problem(name, value)
        return value

    def optional(self, name: str) -> str | None:
        value = self.data.get(name)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self._problem(name, value)
        return value or None

    def object(self, name: str, *, default: dict[str, Any] | None = None) -> _Reader:
        value = self.data.get(name)
        if value is None and default is not None:
            value = default
        if not isinstance(value, dict):
            raise self._problem(name, value, "an object")
        return _Reader(self.kind, value, self.route, f"{self.prefix}{name}.")

    def _problem(self, name: str, value: Any, wanted: str = "a string") -> Unreadable:
        field = f"`{self.prefix}{name}`"
        found = "missing" if value is None else f"{_type_name(value)}, not {wanted}"
        return Unreadable(self.kind, f"{field} is {found}", self.route)


def _object(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _maybe_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _type_name(value: Any) -> str:
    names = {bool: "a boolean", int: "a number", float: "a number", list: "a list"}
    names |= {dict: "an object", str: "a string"}
    return names.get(type(value), type(value).__name__)
