"""A modal that asks for a playbook's params when the command left required ones out."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from slack_sdk.models.blocks import (
    Block,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    SectionBlock,
    StaticMultiSelectElement,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot.cards import command_params
from playbooks.model import ParamSpec, ParamType, Playbook
from playbooks.params import as_typed, coerce_param

__all__ = [
    "CALLBACK_ID",
    "DENY_CALLBACK_ID",
    "DENY_FORM",
    "PARAMS_FORM",
    "DenyContext",
    "ModalContext",
    "denial_reason",
    "deny_modal",
    "field_errors",
    "params_hint",
    "params_modal",
    "submitted_params",
    "unreadable_form",
]

CALLBACK_ID = "chatops.params"
DENY_CALLBACK_ID = "chatops.deny"
# What an opened form asks, as recorded (Store.record_form) until it is sent.
PARAMS_FORM = "params"
DENY_FORM = "deny"
_REASON_BLOCK = "reason"
_BLOCK_PREFIX = "param."
_ACTION = "value"
_MAX_OPTIONS = 100  # Block Kit's limit for a static select
_MAX_OPTION_TEXT = Option.label_max_length  # 75
_MAX_OPTION_VALUE = Option.value_max_length  # 150


@dataclass(frozen=True)
class ModalContext:
    """What the submission needs to start the run where the command was typed, and the
    command's response_url (a submission has none) to answer its author privately."""

    playbook: str
    channel: str
    channel_name: str
    thread: str | None
    dry_run: bool
    response_url: str | None = None

    def encode(self) -> str:
        return json.dumps(self.__dict__)

    @classmethod
    def decode(cls, text: str) -> ModalContext:
        """The context a params form was opened with; ValueError if it is not one."""
        data = _metadata(text)
        return cls(
            playbook=_field(data, "playbook"),
            channel=_field(data, "channel"),
            channel_name=_field(data, "channel_name", optional=True) or "",
            thread=_field(data, "thread", optional=True),
            dry_run=data.get("dry_run", False) is True,
            response_url=_field(data, "response_url", optional=True),
        )


def params_modal(playbook: Playbook, given: Mapping[str, str], context: ModalContext) -> View:
    """The form: one input per param, pre-filled with what was typed or the default."""
    blocks: list[Block] = [
        _input(name, spec, given.get(name)) for name, spec in list(playbook.params.items())[:50]
    ]
    return View(
        type="modal",
        callback_id=CALLBACK_ID,
        title=_clip(playbook.display_title, 24),
        submit="Dry run" if context.dry_run else "Post run card",
        close="Cancel",
        private_metadata=context.encode(),
        blocks=blocks,
    )


def params_hint(playbook: Playbook, given: Mapping[str, str], missing: list[str]) -> str:
    """How to pass the params the form would have asked for, on the command line."""
    needed = []
    for name in missing:
        spec = playbook.params[name]
        choices = f" (one of: {', '.join(map(str, spec.choices))})" if spec.choices else ""
        needed.append(f"`{name}`{choices}")
    example = " ".join(
        filter(None, [command_params(dict(given)), *(f"{name}=…" for name in missing)])
    )
    return (
        f"`{playbook.name}` needs {', '.join(needed)}. Pass "
        f"{'it' if len(missing) == 1 else 'them'} on the command: "
        f"`/playbook {playbook.name} {example}`"
    )


def submitted_params(values: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """``view.state.values`` of a submission as ``key=value`` strings, as if typed (a
    value of a type Slack never sends counts as not given: the form says it is required)."""
    params: dict[str, str] = {}
    for block_id, actions in values.items():
        if not block_id.startswith(_BLOCK_PREFIX):
            continue
        name = block_id.removeprefix(_BLOCK_PREFIX)
        state = actions.get(_ACTION)
        if not isinstance(state, Mapping):
            continue
        if state.get("type") == "multi_static_select":
            options = state.get("selected_options")
            chosen = [_option_value(o) for o in options] if isinstance(options, list) else []
            if chosen and all(chosen):
                params[name] = ",".join(str(c) for c in chosen)
        elif state.get("type") == "static_select":
            value = _option_value(state.get("selected_option"))
            if value:
                params[name] = value
        elif isinstance(state.get("value"), str) and state["value"] != "":
            params[name] = state["value"]
    return params


def _option_value(option: Any) -> str | None:
    value = option.get("value") if isinstance(option, Mapping) else None
    return value if isinstance(value, str) and value else None


def field_errors(playbook: Playbook, params: Mapping[str, str]) -> dict[str, str]:
    """Per-input errors Slack shows under each field (empty when all are fine)."""
    errors: dict[str, str] = {}
    for name, spec in playbook.params.items():
        if name not in params:
            if spec.required and spec.default is None:
                errors[_BLOCK_PREFIX + name] = "Required."
            continue
        try:
            coerce_param(spec, params[name])
        except ValueError as exc:
            errors[_BLOCK_PREFIX + name] = _clip(str(exc), 150)
    return errors


def _input(name: str, spec: ParamSpec, typed: str | None) -> InputBlock:
    initial = typed if typed is not None else _text(spec.default)
    element: Any
    # A select only when Slack can offer every choice; else the value is typed.
    choices = spec.choices or []
    selectable = 0 < len(choices) <= _MAX_OPTIONS and all(
        0 < len(str(c)) <= _MAX_OPTION_VALUE for c in choices
    )
    if selectable and spec.type is ParamType.LIST:
        options = [_option(c) for c in choices]
        chosen = set((initial or "").split(",")) if initial else set()
        element = StaticMultiSelectElement(
            action_id=_ACTION,
            options=options,
            initial_options=[o for o in options if o.value in chosen] or None,
        )
    elif selectable or spec.type is ParamType.BOOLEAN:
        options = [_option(c) for c in (choices if selectable else ["true", "false"])]
        element = StaticSelectElement(
            action_id=_ACTION,
            options=options,
            initial_option=next((o for o in options if o.value == initial), None),
        )
    else:
        element = PlainTextInputElement(action_id=_ACTION, initial_value=initial or None)
    label = f"{name} ({spec.type.value})"
    return InputBlock(
        block_id=_BLOCK_PREFIX + name,
        label=_clip(label, 2000),
        element=element,
        optional=not (spec.required and spec.default is None),
        hint=_clip(spec.description, 2000) if spec.description else None,
    )


def _option(choice: Any) -> Option:
    """A choice as a select option: its text cut to Slack's 75 characters, its value whole."""
    return Option(text=_clip(str(choice), _MAX_OPTION_TEXT), value=str(choice))


def _text(value: Any) -> str | None:
    return None if value is None else as_typed(value)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class DenyContext:
    """The Deny button that opened the reason form, and where its answer goes."""

    action_id: str
    value: str
    channel: str
    message_ts: str
    thread: str | None
    response_url: str | None

    def encode(self) -> str:
        return json.dumps(self.__dict__)

    @classmethod
    def decode(cls, text: str) -> DenyContext:
        """The Deny a reason form was opened for; ValueError if it is not one."""
        data = _metadata(text)
        return cls(
            action_id=_field(data, "action_id"),
            value=_field(data, "value"),
            channel=_field(data, "channel"),
            message_ts=_field(data, "message_ts", optional=True) or "",
            thread=_field(data, "thread", optional=True),
            response_url=_field(data, "response_url", optional=True),
        )


def deny_modal(run_label: str, context: DenyContext) -> View:
    """Deny asks why (optionally); the reason goes on the card, the thread and the audit log."""
    return View(
        type="modal",
        callback_id=DENY_CALLBACK_ID,
        title=_clip(f"Deny {run_label}", 24),
        submit="Deny",
        close="Back",
        private_metadata=context.encode(),
        blocks=[
            InputBlock(
                block_id=_REASON_BLOCK,
                label="Why? (optional, shown to the requester)",
                element=PlainTextInputElement(action_id=_ACTION, multiline=True, max_length=500),
                optional=True,
            )
        ],
    )


def _metadata(text: str) -> dict[str, Any]:
    """A form's private_metadata as the object the bot wrote there."""
    if not text:
        raise ValueError("it carries no metadata")
    try:
        data = json.loads(text)
    except ValueError:
        raise ValueError("its metadata is not JSON") from None
    if not isinstance(data, dict):
        raise ValueError(f"its metadata is a JSON {type(data).__name__}, not an object")
    return data


def _field(data: Mapping[str, Any], name: str, *, optional: bool = False) -> Any:
    value = data.get(name)
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise ValueError(f"its metadata has no text `{name}`")
    return value


def unreadable_form(problem: str) -> View:
    """What replaces a form the bot cannot read once it is sent: why, and what to do."""
    return View(
        type="modal",
        title="Nothing was changed",
        close="Close",
        blocks=[
            SectionBlock(
                text=MarkdownTextObject(
                    text=_clip(
                        f"I couldn't read that form ({problem}), so nothing was changed. "
                        "Close it and start again from the command or the button.",
                        3000,
                    )
                )
            )
        ],
    )


def denial_reason(values: Mapping[str, Mapping[str, Any]]) -> str:
    state = (values.get(_REASON_BLOCK) or {}).get(_ACTION)
    value = state.get("value") if isinstance(state, Mapping) else None
    return value.strip() if isinstance(value, str) else ""
