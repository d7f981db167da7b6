"""Log lines: secrets redacted in every field, and every field cut to a bounded length first."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import structlog

from bot.logs import FIELD_LIMIT, TRACEBACK_LIMIT, configure_logging
from playbooks.secrets import Redactor

SECRET = "hunter2-correct-horse"
MEGABYTE = 1_000_000

Logged = Callable[[], list[dict[str, Any]]]


@pytest.fixture
def logged(capsys: pytest.CaptureFixture[str]) -> Iterator[Logged]:
    """Logging as the bot sets it up (JSON lines, a redactor knowing SECRET); the lines so far."""
    configure_logging(level="INFO", json=True, redact=Redactor([SECRET]))

    def lines() -> list[dict[str, Any]]:
        return [json.loads(line) for line in capsys.readouterr().err.splitlines()]

    try:
        yield lines
    finally:
        configure_logging(level="INFO", json=False, redact=Redactor())  # as tests/conftest.py


def test_a_huge_field_is_cut_to_its_head_and_says_how_much_was_cut(logged: Logged) -> None:
    value = f"token {SECRET} " + "x" * MEGABYTE

    structlog.get_logger("test").info("param_received", value=value)

    [line] = logged()
    kept = FIELD_LIMIT - len(f"token {SECRET} ")
    assert line["value"] == (
        f"token *** {'x' * kept}… [{len(value) - FIELD_LIMIT} more characters cut]"
    )


def test_a_secret_the_cut_falls_inside_is_left_out_whole(logged: Logged) -> None:
    value = "x" * (FIELD_LIMIT - 5) + SECRET + "y" * MEGABYTE

    structlog.get_logger("test").info("param_received", value=value)

    [line] = logged()
    assert line["value"] == ("x" * (FIELD_LIMIT - 5) + f"***… [{MEGABYTE} more characters cut]")
    assert SECRET[:5] not in line["value"]


def test_a_library_logging_a_huge_request_body_logs_only_its_head(logged: Logged) -> None:
    body = "a=" + "x" * MEGABYTE  # what slack-bolt logs of a request that fails verification

    logging.getLogger("slack_bolt.App").info("Invalid request signature detected (body: %s)", body)

    [line] = logged()
    assert len(line["event"]) < FIELD_LIMIT + 50
    assert line["event"].startswith("Invalid request signature detected (body: a=xxx")
    assert line["event"].endswith(" more characters cut]")


def test_a_traceback_is_kept_whole_up_to_its_own_longer_limit(logged: Logged) -> None:
    detail = "y" * (FIELD_LIMIT * 2)
    try:
        raise RuntimeError(f"{SECRET} {detail}")
    except RuntimeError:
        structlog.get_logger("test").exception("step_crashed")

    [line] = logged()
    assert FIELD_LIMIT * 2 < len(line["exception"]) < TRACEBACK_LIMIT
    assert line["exception"].endswith(f"RuntimeError: *** {detail}")


def test_secrets_inside_lists_and_mappings_are_redacted_and_cut(logged: Logged) -> None:
    params = {"index_name": "x" * MEGABYTE, "auth": [SECRET, 3, None]}

    structlog.get_logger("test").info("run_requested", params=params)

    [line] = logged()
    assert line["params"]["auth"] == ["***", 3, None]
    assert len(line["params"]["index_name"]) < FIELD_LIMIT + 50
    assert SECRET not in json.dumps(line)


async def test_a_secret_a_step_reads_later_is_redacted_from_log_lines_too(
    capsys: pytest.CaptureFixture[str], tmp_path: Any
) -> None:
    from bot.dependencies import open_dependencies
    from bot.settings import Settings
    from playbooks.templating import SecretsView

    shared = Redactor()
    configure_logging(level="INFO", json=True, redact=shared)
    try:
        settings = Settings(DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/chatops.db")
        deps = await open_dependencies(settings, environ={"PLAIN": SECRET}, redactor=shared)
        try:
            # A step places `secrets.PLAIN`: the process's one redactor learns it.
            SecretsView(deps.environ, deps.redactor.add)["PLAIN"]
            structlog.get_logger("test").info("step_said", text=f"it was {SECRET}")
        finally:
            await deps.close()
        assert SECRET not in capsys.readouterr().err
    finally:
        configure_logging(level="INFO", json=False, redact=Redactor())
