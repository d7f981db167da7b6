"""Settings come from the environment by their documented names; given values win."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.settings import Settings

NAMES = (
    "CHATOPS_CONFIG",
    "DATABASE_URL",
    "CHATOPS_PLAYBOOK_DIRS",
    "CHATOPS_PORT",
    "CHATOPS_HOST",
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SLACK_APP_TOKEN",
    "SLACK_API_URL",
    "TELEGRAM_BOT_TOKEN",
    "TELEGRAM_API_URL",
    "TELEGRAM_WEBHOOK_URL",
    "TELEGRAM_WEBHOOK_SECRET",
    "CHATOPS_WEBHOOK_TOKEN",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in NAMES:
        monkeypatch.delenv(name, raising=False)


def test_defaults_without_environment() -> None:
    settings = Settings()
    assert settings.database_url == "sqlite+aiosqlite:///./chatops.db"
    assert (settings.host, settings.port) == ("0.0.0.0", 3000)
    assert settings.config_path is None
    assert settings.slack_bot_token is None
    assert settings.extra_playbook_dirs() == []


def test_every_setting_is_read_from_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "CHATOPS_CONFIG": "/etc/chatops.yaml",
        "DATABASE_URL": "postgresql://bot:pw@db/chatops",
        "CHATOPS_PLAYBOOK_DIRS": "/a:/b",
        "CHATOPS_PORT": "8080",
        "CHATOPS_HOST": "127.0.0.1",
        "SLACK_BOT_TOKEN": "xoxb-1",
        "SLACK_SIGNING_SECRET": "sig",
        "SLACK_APP_TOKEN": "xapp-1",
        "SLACK_API_URL": "http://slack.test/api/",
        "TELEGRAM_BOT_TOKEN": "123:abc",
        "TELEGRAM_API_URL": "http://telegram.test",
        "TELEGRAM_WEBHOOK_URL": "https://bot.test/telegram",
        "TELEGRAM_WEBHOOK_SECRET": "tg-secret",
        "CHATOPS_WEBHOOK_TOKEN": "hook",
    }.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.config_path == Path("/etc/chatops.yaml")
    assert settings.database_url == "postgresql+psycopg://bot:pw@db/chatops"
    assert settings.extra_playbook_dirs() == [Path("/a"), Path("/b")]
    assert (settings.host, settings.port) == ("127.0.0.1", 8080)
    secrets = [
        settings.slack_bot_token,
        settings.slack_signing_secret,
        settings.slack_app_token,
        settings.telegram_bot_token,
        settings.telegram_webhook_secret,
        settings.webhook_token,
    ]
    assert [s.get_secret_value() if s else None for s in secrets] == [
        "xoxb-1",
        "sig",
        "xapp-1",
        "123:abc",
        "tg-secret",
        "hook",
    ]
    assert "xoxb-1" not in repr(settings)
    assert settings.slack_api_url == "http://slack.test/api/"
    assert settings.telegram_api_url == "http://telegram.test"
    assert settings.telegram_webhook_url == "https://bot.test/telegram"


def test_given_values_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "from-env")
    monkeypatch.setenv("CHATOPS_PORT", "1234")
    settings = Settings(SLACK_BOT_TOKEN="given", DATABASE_URL="sqlite:///x.db", unknown=1)
    assert settings.slack_bot_token is not None
    assert settings.slack_bot_token.get_secret_value() == "given"
    assert settings.database_url == "sqlite+aiosqlite:///x.db"
    assert settings.port == 1234  # not given: still the environment's


def test_names_are_case_sensitive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("database_url", "postgresql://elsewhere/db")
    assert Settings().database_url == "sqlite+aiosqlite:///./chatops.db"


def test_a_bad_value_names_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHATOPS_PORT", "70000")
    with pytest.raises(ValidationError) as raised:
        Settings()
    [error] = raised.value.errors(include_url=False)
    assert error["loc"] == ("CHATOPS_PORT",)
    assert error["msg"] == "Input should be less than or equal to 65535"


def test_settings_are_frozen() -> None:
    settings = Settings()
    with pytest.raises(ValidationError):
        settings.port = 1
