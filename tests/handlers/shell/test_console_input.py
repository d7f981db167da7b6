"""What the console does with lines no command could be: too long, or naming no possible run."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import app
from handlers.shell.console import run_console
from handlers.shell.testing import ConsoleBot
from tests.support.console import BotFactory

TOO_LONG = "That command is longer than 4,000 characters, the most a command may be."
PAST_THE_LAST = "There is no run #{}: run numbers go up to 2147483647."


async def test_a_run_number_past_the_largest_id_names_no_run(bot: ConsoleBot) -> None:
    await bot.send("/playbook status 2147483648")
    await bot.send("/playbook cancel #9223372036854775808")
    await bot.send(":press Run 99999999999999999999999")
    await bot.send(f"/playbook status {'9' * 3_900}")

    assert bot.private("alice") == [
        PAST_THE_LAST.format("2147483648"),
        PAST_THE_LAST.format("9223372036854775808"),
        PAST_THE_LAST.format("99999999999999999999999"),
        PAST_THE_LAST.format("999999999999999999999999…"),
    ]


@pytest.mark.parametrize("line", ["/playbook status 9", ":press Run 9", "/playbook x note=9"])
async def test_a_line_past_the_limit_is_refused_whatever_it_holds(
    bot: ConsoleBot, line: str
) -> None:
    await bot.send(line + "9" * 4_301)

    assert bot.private("alice") == [TOO_LONG]


async def test_a_pressed_button_of_a_run_past_the_largest_id_names_no_run(
    make_bot: BotFactory, database_url: str
) -> None:
    # Not "I can't reach my database" (PostgreSQL refuses the number) nor "Something went
    # wrong" (SQLite past 2**63): the store answers that there is no such run.
    bot = await make_bot(database_url=database_url)

    await bot.press("Run", 2**31)
    await bot.press("Approve", 2**63)

    assert bot.private("alice") == [
        "There is no run #2147483648. See `/playbook history`.",
        "There is no run #9223372036854775808. See `/playbook history`.",
    ]


async def test_a_script_line_past_the_limit_is_refused_and_the_next_one_read(
    bot: ConsoleBot,
) -> None:
    script = f"/playbook status {'9' * 1_000_000}\n/playbook list\n"

    await run_console(bot.session, io.StringIO(script))

    [refusal, catalog] = [m.text for m in bot.chat.messages]
    assert refusal == TOO_LONG
    assert "`clear-cache`" in catalog


def test_chatops_shell_answers_a_run_number_python_cannot_read(tmp_path: Path) -> None:
    script = f"/playbook status {'9' * 4_301}\n:press Run {'9' * 3_000}\n/playbook list\n"

    result = CliRunner().invoke(
        app,
        ["shell", "--user", "alice"],
        env={"DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/chatops.db"},
        input=script,
    )

    assert result.exit_code == 0, result.output
    assert f"🔒 (to alice) {TOO_LONG}" in result.output
    assert PAST_THE_LAST.format("999999999999999999999999…") in result.output
    assert "`clear-cache`" in result.output
