"""The playbook language: what a playbook file may say, as pydantic models."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from playbooks.durations import Duration

__all__ = [
    "ApprovalPolicy",
    "Estimate",
    "ParamSpec",
    "ParamType",
    "Playbook",
    "Risk",
    "Step",
]

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
# Words of the chat grammar that cannot name a playbook (`/playbook list` is the catalog).
RESERVED_NAMES = frozenset({"list", "help", "status", "history", "cancel"})
_MAPPING_METHODS = frozenset(name for name in dir(dict) if not name.startswith("_"))
STEP_ID = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def _param_name(value: str) -> str:
    if not STEP_ID.match(value):
        raise ValueError(
            f"`{value}`: a parameter name is lower-case letters, digits and underscores"
        )
    if value in _MAPPING_METHODS:
        # `params.items` in a template would be the method, never the value.
        raise ValueError(f"`{value}` cannot name a parameter: templates read it as a method")
    return value


ParamName = Annotated[str, AfterValidator(_param_name)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Risk(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class ParamType(StrEnum):
    STRING = "string"
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    LIST = "list"


class ParamSpec(_Strict):
    """One parameter a user passes as ``key=value``."""

    type: ParamType = ParamType.STRING
    description: str = ""
    default: Any = None
    required: bool = False
    choices: list[Any] | None = None
    min: float | None = None
    max: float | None = None
    pattern: str | None = None

    @field_validator("pattern")
    @classmethod
    def _pattern_compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from exc
        return value


class Estimate(_Strict):
    """Expected duration and cost; either may be a template over ``params``."""

    duration: Duration | str = 0.0
    cost_usd: float | str = 0.0


class ApprovalPolicy(_Strict):
    """Who must approve before a run (or a step) goes ahead."""

    required: bool | str = True
    approvers: list[str] = Field(default_factory=list)
    min_approvals: int = Field(default=1, ge=1)
    allow_self_approval: bool = False
    expires_after: Duration = 30 * 60.0


class Step(_Strict):
    """One step: an action with its arguments, and how to run it."""

    id: str
    name: str = ""
    action: str
    with_: dict[str, Any] = Field(default_factory=dict, alias="with")
    when: str | None = None
    timeout: Duration | None = None
    retries: int = Field(default=0, ge=0, le=20)
    retry_backoff: Duration = 1.0
    continue_on_failure: bool = False
    approval: ApprovalPolicy | None = None

    @field_validator("id")
    @classmethod
    def _id_is_identifier(cls, value: str) -> str:
        if not STEP_ID.match(value):
            raise ValueError(
                "a step id is lower-case letters, digits and underscores, starting with a letter"
            )
        return value


class Playbook(_Strict):
    """A whole playbook file."""

    name: str
    title: str = ""
    description: str = ""
    risk: Risk = Risk.LOW
    estimate: Estimate = Field(default_factory=Estimate)
    params: dict[ParamName, ParamSpec] = Field(default_factory=dict)
    allowed: list[str] = Field(default_factory=list)
    channels: list[str] = Field(default_factory=list)
    approval: ApprovalPolicy | None = None
    steps: list[Step] = Field(min_length=1)
    rollback: list[Step] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    source: str = Field(default="", exclude=True)

    @field_validator("name")
    @classmethod
    def _name_is_slug(cls, value: str) -> str:
        if not SLUG.match(value):
            raise ValueError("a name is a slug: lower-case letters, digits and dashes")
        if value in RESERVED_NAMES:
            raise ValueError(f"`{value}` is a command word and cannot name a playbook")
        return value

    @model_validator(mode="after")
    def _step_ids_unique(self) -> Playbook:
        seen: set[str] = set()
        for step in [*self.steps, *self.rollback]:
            if step.id in seen:
                raise ValueError(f"step id `{step.id}` is used twice")
            seen.add(step.id)
        return self

    @model_validator(mode="after")
    def _approvers_default_to_allowed(self) -> Playbook:
        """A policy naming no approvers is decided by whoever may start the playbook, so a
        playbook limited to some roles is never approved by someone outside them."""
        if not self.allowed:
            return self

        def filled(policy: ApprovalPolicy | None) -> ApprovalPolicy | None:
            if policy is None or policy.approvers:
                return policy
            return policy.model_copy(update={"approvers": list(self.allowed)})

        return self.model_copy(
            update={
                "approval": filled(self.approval),
                "steps": [
                    s.model_copy(update={"approval": filled(s.approval)}) for s in self.steps
                ],
            }
        )

    @property
    def display_title(self) -> str:
        return self.title or self.name
