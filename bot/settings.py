"""Settings from the environment (see the README's Configuration). Secrets live only here.

A plain pydantic model that reads its variables itself: pydantic-settings would do the same
for these flat fields, and importing it (with python-dotenv and its source providers) cost
every start-up about 25 ms on a slow machine.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

__all__ = ["Settings", "normalize_database_url"]


def normalize_database_url(url: str) -> str:
    """The async-driver form of a SQLAlchemy URL (``postgresql://`` → ``postgresql+psycopg://``)."""
    for plain, driver in (
        ("postgres://", "postgresql+psycopg://"),
        ("postgresql://", "postgresql+psycopg://"),
        ("sqlite://", "sqlite+aiosqlite://"),
    ):
        if url.startswith(plain):
            return driver + url[len(plain) :]
    return url


class Settings(BaseModel):
    """Read from the process environment; the names are a contract: keep them as documented.

    ``Settings(DATABASE_URL=...)`` sets a value by its variable's name; a value not given is
    read from the environment (names are case-sensitive), else it is the default.
    """

    model_config = ConfigDict(extra="ignore", frozen=True, validate_default=True)

    config_path: Path | None = Field(default=None, validation_alias="CHATOPS_CONFIG")
    database_url: str = Field(
        default="sqlite+aiosqlite:///./chatops.db", validation_alias="DATABASE_URL"
    )
    playbook_dirs: str = Field(default="", validation_alias="CHATOPS_PLAYBOOK_DIRS")
    port: int = Field(default=3000, validation_alias="CHATOPS_PORT", ge=0, le=65535)
    host: str = Field(default="0.0.0.0", validation_alias="CHATOPS_HOST")  # noqa: S104

    slack_bot_token: SecretStr | None = Field(default=None, validation_alias="SLACK_BOT_TOKEN")
    slack_signing_secret: SecretStr | None = Field(
        default=None, validation_alias="SLACK_SIGNING_SECRET"
    )
    slack_app_token: SecretStr | None = Field(default=None, validation_alias="SLACK_APP_TOKEN")
    slack_api_url: str | None = Field(default=None, validation_alias="SLACK_API_URL")

    telegram_bot_token: SecretStr | None = Field(
        default=None, validation_alias="TELEGRAM_BOT_TOKEN"
    )
    telegram_api_url: str | None = Field(default=None, validation_alias="TELEGRAM_API_URL")
    telegram_webhook_url: str | None = Field(default=None, validation_alias="TELEGRAM_WEBHOOK_URL")
    telegram_webhook_secret: SecretStr | None = Field(
        default=None, validation_alias="TELEGRAM_WEBHOOK_SECRET"
    )
    webhook_token: SecretStr | None = Field(default=None, validation_alias="CHATOPS_WEBHOOK_TOKEN")

    @model_validator(mode="before")
    @classmethod
    def _from_environment(cls, given: Any) -> Any:
        if not isinstance(given, dict):
            return given
        names = [field.validation_alias for field in cls.model_fields.values()]
        environment = {
            name: os.environ[name] for name in names if isinstance(name, str) and name in os.environ
        }
        return {**environment, **given}

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        return normalize_database_url(value)

    def resolved_config_path(self) -> Path | None:
        """CHATOPS_CONFIG, else ./chatops.yaml if present, else None (built-in defaults)."""
        if self.config_path is not None:
            return self.config_path
        default = Path("chatops.yaml")
        return default if default.is_file() else None

    def extra_playbook_dirs(self) -> list[Path]:
        return [Path(part) for part in self.playbook_dirs.split(":") if part.strip()]
