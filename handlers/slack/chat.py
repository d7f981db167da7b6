"""The Chat port over Slack's Web API: cards as Block Kit messages, edited with chat.update."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.chat import Button, ButtonPress, Card, Invocation, MessageRef, Place
from handlers.slack.blocks import card_blocks, card_text, message_blocks, truncate
from handlers.slack.identity import SURFACE

__all__ = ["SlackChat"]

# chat.postMessage's `text` is the notification fallback; Slack truncates it at 40,000.
_FALLBACK_LIMIT = 3000


class SlackChat:
    surface = SURFACE

    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client

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
            text=truncate(text, _FALLBACK_LIMIT),
            blocks=message_blocks(text, buttons),
            unfurl_links=False,
        )
        return MessageRef(SURFACE, ref.channel, str(response["ts"]), thread)

    async def post_message(self, place: Place, text: str) -> MessageRef:
        response = await self.client.chat_postMessage(
            channel=place.channel,
            text=truncate(text, _FALLBACK_LIMIT),
            blocks=message_blocks(text),
            unfurl_links=False,
        )
        return MessageRef(SURFACE, str(response["channel"]), str(response["ts"]))

    async def reply_private(self, to: Invocation | ButtonPress, text: str) -> None:
        """Ephemeral: through the response_url when Slack gave one (works in any channel)."""
        response_url = _handle(to).get("response_url")
        if response_url:
            await AsyncWebhookClient(response_url).send(
                text=truncate(text, _FALLBACK_LIMIT),
                blocks=message_blocks(text),
                response_type="ephemeral",
                replace_original=False,
            )
            return
        await self.client.chat_postEphemeral(
            channel=to.place.channel,
            user=to.actor.id,
            thread_ts=to.place.thread,
            text=truncate(text, _FALLBACK_LIMIT),
            blocks=message_blocks(text),
        )

    async def reply(self, to: Invocation | ButtonPress, text: str) -> None:
        await self.client.chat_postMessage(
            channel=to.place.channel,
            thread_ts=to.place.thread,
            text=truncate(text, _FALLBACK_LIMIT),
            blocks=message_blocks(text),
        )

    def mention(self, identity: str) -> str:
        # User-group IDs start with S; everything else is a user.
        return f"<!subteam^{identity}>" if identity.startswith("S") else f"<@{identity}>"


def _handle(origin: Invocation | ButtonPress) -> Mapping[str, Any]:
    handle = origin.reply_handle
    return handle if isinstance(handle, Mapping) else {}
