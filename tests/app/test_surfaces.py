"""``chatops run`` refuses to start with a surface's settings half there, saying which."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.assembly import assemble
from app.surfaces import configured_surfaces
from bot.dependencies import open_dependencies
from bot.service import ChatOpsService
from bot.settings import Settings
from playbooks.errors import ChatOpsError


@pytest.mark.parametrize(
    ("given", "errors"),
    [
        (
            {"SLACK_APP_TOKEN": "xapp-1-A1"},
            [
                "SLACK_APP_TOKEN is set but SLACK_BOT_TOKEN is not:"
                " Slack needs SLACK_BOT_TOKEN with it (or unset SLACK_APP_TOKEN)"
            ],
        ),
        (
            {"SLACK_SIGNING_SECRET": "abc123", "TELEGRAM_WEBHOOK_URL": "https://bot.example.com"},
            [
                "SLACK_SIGNING_SECRET is set but SLACK_BOT_TOKEN is not:"
                " Slack needs SLACK_BOT_TOKEN with it (or unset SLACK_SIGNING_SECRET)",
                "TELEGRAM_WEBHOOK_URL is set but TELEGRAM_BOT_TOKEN is not:"
                " Telegram needs TELEGRAM_BOT_TOKEN with it (or unset TELEGRAM_WEBHOOK_URL)",
            ],
        ),
        (
            {"TELEGRAM_BOT_TOKEN": "123:abc", "TELEGRAM_WEBHOOK_SECRET": "s3cret"},
            [
                "TELEGRAM_WEBHOOK_SECRET is set but TELEGRAM_WEBHOOK_URL is not:"
                " Telegram needs TELEGRAM_WEBHOOK_URL with it (or unset TELEGRAM_WEBHOOK_SECRET)"
            ],
        ),
    ],
)
async def test_run_refuses_a_surface_whose_settings_are_half_set_naming_each_one(
    tmp_path: Path, given: dict[str, str], errors: list[str]
) -> None:
    settings = Settings(DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/chatops.db", **given)
    deps = await open_dependencies(settings, environ={})
    try:
        with pytest.raises(ChatOpsError) as refused:
            await assemble(settings, deps)
    finally:
        await deps.close()
    # `chatops run` prints each line as `error: …` and exits 1.
    assert refused.value.reason.splitlines() == errors


async def test_the_console_does_not_judge_the_settings_of_surfaces_it_does_not_serve(
    tmp_path: Path,
) -> None:
    settings = Settings(
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/chatops.db", SLACK_APP_TOKEN="xapp-1-A1"
    )
    deps = await open_dependencies(settings, environ={})
    try:
        assert configured_surfaces(ChatOpsService(deps), settings, console=True) == []
    finally:
        await deps.close()
