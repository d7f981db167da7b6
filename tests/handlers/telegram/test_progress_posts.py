"""Progress replies paced per chat: within budget at once, beyond it held and joined per
card, in order, everything delivered; a message of its own comes after what was held."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from handlers.telegram.progress_posts import Line, ProgressPosts, next_batch
from tests.handlers.telegram.conftest import FAST, running_telegram_bot, write_playbooks
from tests.support.clock import FastClock
from tests.support.fake_telegram import ALICE, BOB, FakeTelegram


class Recorder:
    """A ``send`` that records each message, failing as told."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str]] = []  # chat, reply-to, html
        self.failures: list[BaseException] = []

    async def __call__(self, chat: str, thread: str | None, reply_to: str, html: str) -> None:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append((chat, reply_to, html))


def test_a_batch_is_the_oldest_line_and_the_later_ones_to_the_same_card_within_the_limit() -> None:
    held = [
        Line("7", "10", "a"),
        Line("7", "20", "x"),  # another card's thread
        Line("7", "10", "b"),
        Line(None, "10", "other topic"),
        Line("7", "10", "c" * 5),
        Line("7", "10", "d"),
    ]
    batch, text = next_batch(held, limit=8)
    assert [line.html for line in batch] == ["a", "b"]  # "a\nb\nccccc" would be 9
    assert text == "a\nb"
    assert next_batch([Line(None, "1", "y" * 50)], limit=8)[1] == "y" * 50  # alone, whole


async def test_lines_beyond_the_budget_go_together_in_order_once_it_refills() -> None:
    send = Recorder()
    posts = ProgressPosts(send, burst=1, per_minute=600)  # then one message per 0.1 s
    for n in range(1, 6):
        await posts.post("-100", Line("7", "10", f"step {n}"))
    await posts.post("-100", Line("7", "20", "another card"))
    assert send.sent == [("-100", "10", "step 1")]
    assert posts.waiting == 5
    await posts.idle()
    assert send.sent == [
        ("-100", "10", "step 1"),
        ("-100", "10", "step 2\nstep 3\nstep 4\nstep 5"),
        ("-100", "20", "another card"),
    ]


async def test_a_message_of_its_own_first_sends_the_lines_held_before_it() -> None:
    send = Recorder()
    posts = ProgressPosts(send, burst=1, per_minute=1)  # the budget would not refill in time
    await posts.post("-100", Line(None, "10", "step 1"))
    await posts.post("-100", Line(None, "10", "step 2"))
    await posts.post("-100", Line(None, "10", "step 3"))
    await posts.before("-100", "10")
    assert send.sent == [("-100", "10", "step 1"), ("-100", "10", "step 2\nstep 3")]
    assert posts.waiting == 0
    await posts.close()


async def test_a_held_batch_that_fails_for_a_passing_reason_is_sent_again() -> None:
    send = Recorder()
    posts = ProgressPosts(
        send,
        burst=1,
        per_minute=600,
        retry_after=0.01,
        is_transient=lambda exc: isinstance(exc, ConnectionError),
    )
    await posts.post("-100", Line(None, "10", "step 1"))
    send.failures.append(ConnectionError("down"))
    await posts.post("-100", Line(None, "10", "step 2"))
    await posts.idle()
    assert send.sent == [("-100", "10", "step 1"), ("-100", "10", "step 2")]


async def test_a_line_within_budget_fails_for_its_caller() -> None:
    send = Recorder()
    send.failures.append(ConnectionError("down"))
    posts = ProgressPosts(send)
    with pytest.raises(ConnectionError):
        await posts.post("-100", Line(None, "10", "step 1"))


async def test_closing_sends_everything_held_at_once() -> None:
    send = Recorder()
    posts = ProgressPosts(send, burst=1, per_minute=1)
    for n in range(1, 4):
        await posts.post("-100", Line(None, "10", f"step {n}"))
    await posts.close()
    assert send.sent == [("-100", "10", "step 1"), ("-100", "10", "step 2\nstep 3")]


MANY_STEPS = """
name: many-steps
title: Many quick steps
steps:
{steps}
  - id: confirm
    action: wait
    with: {{duration: 0s}}
    approval: {{required: true, approvers: [sre-lead]}}
""".format(
    steps="\n".join(
        f"  - {{id: s{n}, name: Step {n}, action: wait, with: {{duration: 0s}}}}"
        for n in range(1, 9)
    )
)


async def test_a_runs_progress_in_a_paced_group_arrives_whole_in_fewer_replies_in_order(
    fake_telegram: FakeTelegram, tmp_path: Path, target_env: dict[str, str], clock: FastClock
) -> None:
    write_playbooks(tmp_path / "playbooks", {"many-steps.yaml": MANY_STEPS})
    paced = replace(FAST, post_burst=2, posts_per_minute=120)  # then a reply every 0.5 s
    async with running_telegram_bot(
        fake_telegram, tmp_path, target_env, clock, limits=paced
    ) as bot:
        await bot.command("/playbook many-steps")
        await bot.press("Run", user=ALICE, runs=False)
        await bot.wait_until(lambda: any(m.buttons for m in bot.thread(1)))
        replies = bot.thread(1)
        [request] = [i for i, m in enumerate(replies) if m.buttons]
        assert replies[request].text.startswith("🔐 Approval needed for step confirm of run #1")
        before = "\n".join(m.text for m in replies[:request])
        # Every step's line, in order, ahead of the approval request: none lost or overtaken.
        positions = [before.find(f"s{n} succeeded") for n in range(1, 9)]
        assert -1 not in positions and positions == sorted(positions), before
        assert request < 8  # eight step lines went in fewer replies

        await bot.press("Approve", user=BOB)
        assert "Succeeded" in bot.card(1).text
        last_line = bot.thread(1)[-1].text.splitlines()[-1]
        assert last_line.startswith("✅ Run #1 succeeded")
