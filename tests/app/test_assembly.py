"""The composition root: every configured surface, none when none is configured (and the
bot says it can then receive no commands)."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.assembly import assemble
from app.surfaces import SURFACES
from bot.dependencies import open_dependencies
from bot.settings import Settings


def test_each_surface_is_one_line_of_the_root_imported_only_when_configured() -> None:
    assert [plug.name for plug in SURFACES] == ["slack", "telegram", "scheduler"]
    assert all(":" in plug.build and plug.build.split(".")[0] in ("handlers", "scheduler")
               for plug in SURFACES)  # fmt: skip


async def test_a_bot_with_no_surface_says_nothing_can_send_it_commands(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/chatops.db")
    deps = await open_dependencies(settings, environ={})
    assembly = await assemble(settings, deps)
    try:
        assert assembly.surfaces == []
        logged = capsys.readouterr().err
        assert "no_surface_configured" in logged
        assert "nothing can send commands" in logged
    finally:
        await assembly.close()
        await deps.close()
