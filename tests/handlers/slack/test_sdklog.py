"""slack_sdk formats its per-request debug lines only when debug logging is on."""

from __future__ import annotations

import logging

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from handlers.slack.sdklog import LOGGER_NAME, sdk_logger
from tests.support.fake_slack import FakeSlack


@pytest.mark.parametrize("level", [logging.DEBUG, logging.INFO, logging.WARNING])
def test_the_sdk_logger_has_its_own_level_set_to_the_configured_one(
    level: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(level)  # what configure_logging does at start-up, on the root logger
    logger = sdk_logger()
    assert logger.name == LOGGER_NAME
    # slack_sdk reads `logger.level` itself (not the effective level) to decide whether to
    # format a line for every request.
    assert logger.level == level


async def test_with_debug_on_every_request_is_still_logged(
    fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = AsyncWebClient(token="xoxb-test", base_url=fake_slack.api_url, logger=sdk_logger())
    await client.chat_postMessage(channel="C1", text="hi")
    lines = [r.getMessage() for r in caplog.records if r.name == LOGGER_NAME]
    sent = [line for line in lines if line.startswith("Sending a request")]
    assert len(sent) == 1
    assert "chat.postMessage" in sent[0]
