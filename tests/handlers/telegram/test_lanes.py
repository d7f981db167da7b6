"""Bot API calls spread over lanes: calls at once go out at once, each over a connection of
its own, also once those connections are open and idle, and a call finding every lane busy
waits for one instead of failing."""

from __future__ import annotations

import asyncio

from telegram.ext import ExtBot

from handlers.telegram.lanes import Lanes
from tests.handlers.telegram.conftest import wait_until
from tests.support.fake_telegram import FakeTelegram

CHAT = -1001


async def test_calls_at_once_go_out_at_once_and_the_rest_wait_for_a_free_lane(
    fake_telegram: FakeTelegram,
) -> None:
    fake_telegram.add_chat(CHAT)
    bot: ExtBot[None] = ExtBot(
        fake_telegram.token,
        base_url=fake_telegram.api_url,
        request=Lanes(3, connection_wait=10.0),
    )
    await bot.initialize()
    try:
        for burst in ("first", "second"):  # the second over connections already open
            before = len(fake_telegram.of("sendMessage"))
            fake_telegram.hold("sendMessage")
            sends = [asyncio.create_task(bot.send_message(CHAT, f"{burst} {n}")) for n in range(5)]
            on_lanes = before + 3  # one on each lane, Telegram silent

            def arrived(count: int = on_lanes) -> bool:
                return len(fake_telegram.of("sendMessage")) >= count

            await wait_until(arrived)
            await asyncio.sleep(1.2)  # longer than PTB's default wait for a connection
            assert len(fake_telegram.of("sendMessage")) == on_lanes
            fake_telegram.release("sendMessage")
            sent = await asyncio.gather(*sends)
            assert [message.text for message in sent] == [f"{burst} {n}" for n in range(5)]
        assert not [call for call in fake_telegram.calls if call.failed]
    finally:
        await bot.shutdown()
