"""The playbook language: what a playbook file may say, as pydantic models."""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from playbooks.durations import Duration

__all__ = [
    "ApprovalPolicy",
    "Estimate",
    "Origin",
    "ParamSpec",
    "ParamType",
    "Playbook",
    "Risk",
    "Step",
    "estimate_per_problem",
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
    """Expected duration and cost; either may be a template over ``params``.

    With ``per`` (the name of a list parameter) both are per item of that list:
    ``{duration: 5m, cost_usd: 0.05, per: models}`` is 10 minutes and $0.10 for two models.
    ``unit`` is what one item is called on cards ("5m per model"); by default the
    parameter's name without its plural "s".
    """

    duration: Duration | str = 0.0
    cost_usd: float | str = 0.0
    per: ParamName | None = None
    unit: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _unit_needs_per(self) -> Estimate:
        if self.unit is not None and self.per is None:
            raise ValueError("`unit` names the items of `per`: give `per` too")
        return self

    @property
    def unit_name(self) -> str:
        """What one item of ``per`` is called: ``unit``, else ``models`` → ``model``."""
        if self.unit is not None:
            return self.unit
        name = (self.per or "item").replace("_", " ")
        return name[:-1] if name.endswith("s") and not name.endswith("ss") else name


class Origin(_Strict):
    """Where a playbook comes from, for the catalog's documentation (never shown in chat)."""

    runbook: str = ""
    """The runbook and section it implements, e.g. ``Playbooks guide: Rerun DBT Models``."""
    departures: list[str] = Field(default_factory=list)
    """Where it does something other than the runbook says, and why."""


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
    changes: list[str] = Field(default_factory=list)
    """What a run changes, in plain words; templates over ``params``, rendered in the plan."""
    use_when: list[str] = Field(default_factory=list)
    """The situations it is meant for (shown in ``/playbook help`` and the catalog docs)."""
    origin: Origin = Field(default_factory=Origin)
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
    def _estimate_per_names_a_list(self) -> Playbook:
        problem = estimate_per_problem(self.estimate.per, self.params)
        if problem is not None:
            raise ValueError(f"estimate.per: {problem}")
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


def estimate_per_problem(per: object, params: Mapping[str, ParamSpec]) -> str | None:
    """Why ``estimate.per`` cannot count items of ``params`` (None when it can, or is unset)."""
    if per is None:
        return None
    spec = params.get(str(per))
    if spec is None:
        declared = ", ".join(f"`{name}`" for name in params) or "none"
        return f"`{per}` is not a parameter of this playbook (parameters: {declared})"
    if spec.type is not ParamType.LIST:
        article = "an" if spec.type is ParamType.INTEGER else "a"
        return (
            f"`{per}` is {article} {spec.type.value}: an estimate is per item of a list parameter"
        )
    return None
