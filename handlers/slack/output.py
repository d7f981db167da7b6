"""The Chat port over Slack's Web API: cards as Block Kit messages, edited with chat.update."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import structlog
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.chat import Button, ButtonPress, Card, Invocation, MessageRef, Place, Report
from handlers.slack.blocks import card_blocks, card_text, fallback_text, message_blocks
from handlers.slack.identity import SURFACE
from handlers.slack.reports import permalink, report_blocks, report_text
from handlers.slack.sdklog import sdk_logger
from handlers.slack.text import mention

__all__ = ["SlackChat"]

log = structlog.get_logger(__name__)


class SlackChat:
    surface = SURFACE

    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client
        self._logger = sdk_logger()
        self._workspace_url: str | None = None  # for permalinks, once auth.test answered

    async def post_card(self, place: Place, card: Card) -> MessageRef:
        response = await self.client.chat_postMessage(
            channel=place.channel,
            thread_ts=place.thread,
            text=card_text(card),
            blocks=card_blocks(card),
            unfurl_links=False,
        )
        return MessageRef(SURFACE, str(response["channel"]), str(response["ts"]), place.thread)

    async def update_card(self, ref: MessageRef, card: Card) -> None:
        await self.client.chat_update(
            channel=ref.channel, ts=ref.message_id, text=card_text(card), blocks=card_blocks(card)
        )

    async def post_in_thread(
        self, ref: MessageRef, text: str, buttons: list[Button] | None = None
    ) -> MessageRef:
        # A card posted inside a thread replies in that same thread.
        thread = ref.thread or ref.message_id
        response = await self.client.chat_postMessage(
            channel=ref.channel,
            thread_ts=thread,
            text=fallback_text(text),
            blocks=message_blocks(text, buttons),
            unfurl_links=False,
        )
        return MessageRef(SURFACE, ref.channel, str(response["ts"]), thread)

    async def post_progress(self, ref: MessageRef, text: str) -> None:
        await self.post_in_thread(ref, text)

    async def update_message(
        self, ref: MessageRef, text: str, buttons: list[Button] | None = None
    ) -> None:
        await self.client.chat_update(
            channel=ref.channel,
            ts=ref.message_id,
            text=fallback_text(text),
            blocks=message_blocks(text, buttons),
        )

    async def post_message(self, place: Place, text: str) -> MessageRef:
        response = await self.client.chat_postMessage(
            channel=place.channel,
            text=fallback_text(text),
            blocks=message_blocks(text),
            unfurl_links=False,
        )
        return MessageRef(SURFACE, str(response["channel"]), str(response["ts"]))

    async def post_report(self, place: Place, report: Report) -> MessageRef:
        base = None
        if any(line.link for section in report.sections for line in section.lines):
            base = await self._workspace()
        response = await self.client.chat_postMessage(
            channel=place.channel,
            thread_ts=place.thread,
            text=report_text(report),
            blocks=report_blocks(report, lambda ref: permalink(base, ref)),
            unfurl_links=False,
        )
        return MessageRef(SURFACE, str(response["channel"]), str(response["ts"]), place.thread)

    async def _workspace(self) -> str | None:
        """The workspace's URL (``https://team.slack.com/``), asked once; None while Slack
        does not say (the report is posted without links)."""
        if self._workspace_url is None:
            try:
                answer = await self.client.auth_test()
            except (SlackApiError, SlackClientError, OSError, TimeoutError) as exc:
                log.warning("slack_workspace_url_unknown", error=repr(exc))
                return None
            url = answer.get("url")
            self._workspace_url = (
                url if isinstance(url, str) and url.startswith("https://") else None
            )
        return self._workspace_url

    async def reply_private(self, to: Invocation | ButtonPress, text: str) -> None:
        """Ephemeral: through the response_url when Slack gave one (works in any channel,
        for 30 minutes); else, or if Slack refuses it, with chat.postEphemeral."""
        response_url = _handle(to).get("response_url")
        if response_url:
            webhook = AsyncWebhookClient(
                response_url, session=self.client.session, logger=self._logger
            )
            sent = await webhook.send(
                text=fallback_text(text),
                blocks=message_blocks(text),
                response_type="ephemeral",
                replace_original=False,
            )
            if sent.status_code == 200:
                return
            log.warning("slack_response_url_refused", status=sent.status_code, error=sent.body)
        await self.client.chat_postEphemeral(
            channel=to.place.channel,
            user=to.actor.id,
            thread_ts=to.place.thread,
            text=fallback_text(text),
            blocks=message_blocks(text),
        )

    async def reply(self, to: Invocation | ButtonPress, text: str) -> None:
        await self.client.chat_postMessage(
            channel=to.place.channel,
            thread_ts=to.place.thread,
            text=fallback_text(text),
            blocks=message_blocks(text),
        )

    def mention(self, identity: str) -> str:
        # A token only our renderer turns into <@U…> / <!subteam^S…>: everything else is
        # escaped, so a mention typed by a user (a deny reason, a param) never notifies.
        return mention(identity)


def _handle(origin: Invocation | ButtonPress) -> Mapping[str, Any]:
    handle = origin.reply_handle
    return handle if isinstance(handle, Mapping) else {}
