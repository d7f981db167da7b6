"""The YAML config file: roles, channels, playbook folders, connections, engine limits, and
the metrics, alert rules and schedules of the scheduler (their shape: bot.config_schedules).

Secrets never live here: a key that looks like one is refused, and connections name the
environment variable that holds their URL.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.config_schedules import (
    AlertRule,
    MetricConfig,
    ScheduleConfig,
    playbook_references,
    reference_problems,
)
from playbooks.durations import Duration
from playbooks.errors import ChatOpsError, PlaybookFileError
from playbooks.secrets import is_secret_name
from playbooks.yamlsource import dotted_field, load_yaml, validation_problems

__all__ = [
    "ChannelIds",
    "Config",
    "ConfigError",
    "Connection",
    "RoleMembers",
    "TelegramConfig",
    "load_config",
    "unknown_playbooks",
]


class ConfigError(ChatOpsError):
    """The config file is wrong; ``reason`` names the file, line and field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RoleMembers(_Strict):
    """Who holds a role, per surface."""

    slack: list[str] = Field(
        default_factory=list, description="user IDs (U…) or user-group IDs (S…)"
    )
    telegram: list[int] = Field(default_factory=list, description="Telegram user IDs")
    shell: list[str] = Field(default_factory=list, description="console user names")


class ChannelIds(_Strict):
    """One logical channel, per surface."""

    slack: str | None = None
    telegram: int | None = None
    shell: str | None = None


class Connection(_Strict):
    """A database that ``sql`` steps may query; its URL comes from an environment variable."""

    url_env: str


class TelegramConfig(_Strict):
    """The Telegram surface: where it serves."""

    allowed_chats: list[int] = Field(
        default_factory=list,
        description=(
            "chat IDs the bot serves (groups are negative, -100… for supergroups; a private "
            "chat's ID is the user's); anywhere else a command gets one refusal and nothing runs"
        ),
    )


class EngineConfig(_Strict):
    max_output_chars: int = Field(default=4000, ge=200, le=100_000)
    heartbeat_every: Duration = 10.0
    # How soon a run executing here stops after another replica cancelled it.
    cancel_check_every: Duration = 1.0
    stale_after: Duration = 60.0
    default_step_timeout: Duration = 15 * 60.0
    # How often a step waiting at an approval gate re-reads decisions made on other replicas.
    approval_poll_every: Duration = 2.0
    # A card nobody presses Run on (and that needs no approval) expires after this long.
    run_card_expires_after: Duration = 24 * 3600.0


class Config(_Strict):
    roles: dict[str, RoleMembers] = Field(default_factory=dict)
    channels: dict[str, ChannelIds] = Field(default_factory=dict)
    playbook_dirs: list[Path] = Field(default_factory=list)
    connections: dict[str, Connection] = Field(default_factory=dict)
    telegram: TelegramConfig = Field(default_factory=TelegramConfig)
    engine: EngineConfig = Field(default_factory=EngineConfig)
    metrics: dict[str, MetricConfig] = Field(default_factory=dict)
    alerts: dict[str, AlertRule] = Field(default_factory=dict)
    schedules: dict[str, ScheduleConfig] = Field(default_factory=dict)
    source: str = Field(default="built-in defaults", exclude=True)

    def connection_url(self, name: str, environ: Mapping[str, str] | None = None) -> str:
        """The URL of connection ``name``; ConfigError naming what is missing."""
        env = os.environ if environ is None else environ
        connection = self.connections.get(name)
        if connection is None:
            known = ", ".join(self.connections) or "none configured"
            raise ConfigError(f"no connection named `{name}` in {self.source} (known: {known})")
        url = env.get(connection.url_env)
        if not url:
            raise ConfigError(
                f"connection `{name}` reads its URL from {connection.url_env}, which is not set"
            )
        return url


def load_config(path: Path | None) -> Config:
    """The config in ``path``, or the built-in defaults when ``path`` is None.

    ConfigError lists every problem at once, one ``file:line: field: problem`` line each,
    sorted by line.
    """
    if path is None:
        return Config()
    try:
        located = load_yaml(path)
    except PlaybookFileError as exc:
        raise ConfigError(exc.reason) from exc
    data: Any = located.data if located.data is not None else {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}:1: the config file is a mapping")
    secrets = _find_secret_keys(data, ())
    problems = [
        PlaybookFileError(
            str(path),
            located.line_of(loc),
            dotted_field(loc),
            "secrets are read from the environment, never from the config file",
        )
        for loc in secrets
    ]
    config: Config | None = None
    try:
        config = Config.model_validate({**data, "source": str(path)})
    except ValidationError as exc:
        # A secret key is also an unknown one: say it once, as the secret it is.
        said = {dotted_field(loc) for loc in secrets}
        problems += [p for p in validation_problems(located, exc) if p.field not in said]
    problems += [
        PlaybookFileError(str(path), located.line_of(loc), dotted_field(loc), problem)
        for loc, problem in reference_problems(data)
    ]
    if problems or config is None:
        problems.sort(key=lambda p: p.line or 0)
        raise ConfigError("\n".join(p.reason for p in problems))
    base = path.parent
    return config.model_copy(
        update={"playbook_dirs": [p if p.is_absolute() else base / p for p in config.playbook_dirs]}
    )


def unknown_playbooks(config: Config, known: Collection[str]) -> list[str]:
    """``file:line: field: problem`` for each playbook the alert rules and schedules name
    that is not in ``known`` (the catalog), in file order."""
    found = playbook_references(config.alerts, config.schedules)
    missing = [(loc, name) for loc, name in found if name not in known]
    if not missing:
        return []
    path = Path(config.source)
    try:
        located = load_yaml(path)
    except PlaybookFileError:
        located = None  # changed since it was loaded: name the fields without lines
    problems = [
        PlaybookFileError(
            str(path),
            located.line_of(loc) if located is not None else None,
            dotted_field(loc),
            f"no playbook `{name}` in the catalog",
        )
        for loc, name in missing
    ]
    problems.sort(key=lambda p: p.line or 0)
    return [p.reason for p in problems]


def _find_secret_keys(value: Any, loc: tuple[str | int, ...]) -> list[tuple[str | int, ...]]:
    """Every key under ``value`` that names a secret and holds one (not a section of them)."""
    found: list[tuple[str | int, ...]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and is_secret_name(key) and not isinstance(item, dict):
                found.append((*loc, key))
            else:
                found += _find_secret_keys(item, (*loc, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _find_secret_keys(item, (*loc, index))
    return found
