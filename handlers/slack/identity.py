"""Who a Slack user is for our roles: their user ID plus the user groups they belong to.

Roles may name Slack user groups (``S…``); membership comes from usergroups.users.list and is
cached briefly, so a burst of clicks costs one lookup per group.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import structlog
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.chat import Actor
from bot.config import Config

__all__ = ["SURFACE", "SlackIdentity", "referenced_groups"]

SURFACE = "slack"
log = structlog.get_logger(__name__)


def referenced_groups(config: Config) -> list[str]:
    """User-group IDs the config's roles name (Slack user-group IDs start with ``S``)."""
    groups: list[str] = []
    for members in config.roles.values():
        for ident in members.slack:
            if ident.startswith("S") and ident not in groups:
                groups.append(ident)
    return groups


class SlackIdentity:
    def __init__(self, client: AsyncWebClient, config: Config, *, ttl: float = 60.0) -> None:
        self._client = client
        self._groups = referenced_groups(config)
        self._ttl = ttl
        self._members: dict[str, tuple[float, frozenset[str]]] = {}

    async def actor(self, user_id: str, name: str = "") -> Actor:
        """The actor for ``user_id``, with the user groups (of those roles name) it is in."""
        groups = tuple([g for g in self._groups if user_id in await self._members_of(g)])
        return Actor(SURFACE, user_id, name or user_id, groups)

    async def _members_of(self, group: str) -> frozenset[str]:
        now = time.monotonic()
        cached = self._members.get(group)
        if cached and now - cached[0] < self._ttl:
            return cached[1]
        try:
            response = await self._client.usergroups_users_list(usergroup=group)
            users: Iterable[str] = response.get("users") or []
        except SlackApiError as exc:
            # A group we cannot read grants nobody its role; say so in the log, keep going.
            log.warning("slack_usergroup_unreadable", group=group, error=str(exc))
            users = []
        members = frozenset(users)
        self._members[group] = (now, members)
        return members
