"""Who a Slack user is for our roles: their user ID plus the user groups they belong to.

Roles may name Slack user groups (``S…``); membership comes from usergroups.users.list and is
cached briefly, so a burst of clicks costs one lookup per group: concurrent misses for a group
share one call, and only answers are cached, never failures.
"""

from __future__ import annotations

import asyncio
import time

import aiohttp
import structlog
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from bot.chat import Actor
from bot.config import Config
from playbooks.errors import ChatOpsError

__all__ = ["SURFACE", "IdentityUnavailable", "SlackIdentity", "referenced_groups"]

SURFACE = "slack"
log = structlog.get_logger(__name__)


class IdentityUnavailable(ChatOpsError):
    """Slack did not answer a user-group lookup, so we cannot tell which roles someone holds."""


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
        self._lookups: dict[str, asyncio.Future[frozenset[str]]] = {}

    async def actor(self, user_id: str, name: str = "") -> Actor:
        """The actor for ``user_id``, with the user groups (of those roles name) it is in.

        Raises :class:`IdentityUnavailable` when Slack cannot be asked (network, timeout,
        server error, rate limit after retries).
        """
        # Every lookup ends before this returns or raises: none is left running behind it.
        answers = await asyncio.gather(
            *(self._members_of(g) for g in self._groups), return_exceptions=True
        )
        members: list[frozenset[str]] = []
        for answer in answers:
            if isinstance(answer, BaseException):
                raise answer
            members.append(answer)
        groups = tuple(
            g for g, users in zip(self._groups, members, strict=True) if user_id in users
        )
        return Actor(SURFACE, user_id, name or user_id, groups)

    async def _members_of(self, group: str) -> frozenset[str]:
        cached = self._members.get(group)
        if cached and time.monotonic() - cached[0] < self._ttl:
            return cached[1]
        lookup = self._lookups.get(group)
        if lookup is None:
            lookup = asyncio.ensure_future(self._look_up(group))
            self._lookups[group] = lookup
            lookup.add_done_callback(lambda done: self._looked_up(group, done))
        # Shielded: one waiter giving up does not cancel the call the others wait for.
        return await asyncio.shield(lookup)

    def _looked_up(self, group: str, done: asyncio.Future[frozenset[str]]) -> None:
        self._lookups.pop(group, None)
        if not done.cancelled():
            done.exception()  # retrieved here too, in case every waiter went away

    async def _look_up(self, group: str) -> frozenset[str]:
        try:
            response = await self._client.usergroups_users_list(usergroup=group)
        except SlackApiError as exc:
            if exc.response.status_code != 200:
                raise _unavailable(group, exc) from exc
            # Slack answered that this group cannot be read (deleted, missing scope): it
            # grants nobody its role. Not cached, so a fixed group counts at once.
            log.warning("slack_usergroup_unreadable", group=group, error=str(exc))
            return frozenset()
        except (SlackClientError, aiohttp.ClientError, TimeoutError) as exc:
            raise _unavailable(group, exc) from exc
        members = frozenset(response.get("users") or [])
        self._members[group] = (time.monotonic(), members)
        return members


def _unavailable(group: str, exc: Exception) -> IdentityUnavailable:
    log.warning("slack_usergroup_lookup_failed", group=group, error=repr(exc))
    return IdentityUnavailable(
        "I couldn't check your Slack user groups just now (Slack didn't answer), so nothing "
        "was done. Please try again in a minute."
    )
