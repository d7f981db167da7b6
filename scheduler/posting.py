"""Where the scheduler posts: a logical channel on each connected surface. Pure.

A channel of the config names its id per surface; a report goes to every connected
surface that has one. The console's channels are plain names, so there a channel without a
``shell`` id is its own name. A scheduled run's card goes to one surface only (a run has
one card): the schedule's ``surface``, else the first connected one with the channel, in
the order slack, telegram, shell.
"""

from __future__ import annotations

from collections.abc import Mapping

from bot.chat import Chat, Place
from bot.config import Config
from bot.config_schedules import SURFACES, PlaybookJob

__all__ = ["channel_place", "channel_places", "run_place"]

_CONSOLE = "shell"


def channel_place(channel: str, surface: str, config: Config) -> Place | None:
    """``channel`` on ``surface``, or None when the config gives it no id there."""
    ids = config.channels.get(channel)
    target = getattr(ids, surface, None) if ids is not None else None
    if target is None and surface == _CONSOLE:
        target = channel
    if target is None:
        return None
    return Place(surface, str(target), name=channel)


def channel_places(
    channel: str, chats: Mapping[str, Chat], config: Config
) -> list[tuple[Chat, Place]]:
    """``channel`` on every connected surface that has it."""
    found = []
    for surface, chat in chats.items():
        place = channel_place(channel, surface, config)
        if place is not None:
            found.append((chat, place))
    return found


def run_place(job: PlaybookJob, chats: Mapping[str, Chat], config: Config) -> Place | None:
    """Where a scheduled run's card goes; None when no connected surface has the channel."""
    order = [job.surface] if job.surface else [*SURFACES, *sorted(set(chats) - set(SURFACES))]
    for surface in order:
        if surface in chats:
            place = channel_place(job.channel, surface, config)
            if place is not None:
                return place
    return None
