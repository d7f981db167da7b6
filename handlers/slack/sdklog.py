"""The logger slack_sdk's clients are given.

slack_sdk decides whether to format a debug line of every request and response (the whole
message, blocks and all) from its logger's *own* level, not the effective one: with the
library's default logger (level NOTSET) it formats that line for every call and logging
then drops it, about 0.15 ms of CPU per Web API call. The logger here has its own level
set to the effective level when the surface starts, so the line is only formatted when it
would be written (run with ``CHATOPS_LOG_LEVEL=DEBUG`` to see it).
"""

from __future__ import annotations

import logging

__all__ = ["LOGGER_NAME", "sdk_logger"]

LOGGER_NAME = "chatops.slack.sdk"


def sdk_logger() -> logging.Logger:
    """The logger for slack_sdk clients, its level fixed at the current effective level."""
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(logging.NOTSET)  # so the effective level is the configured one again
    logger.setLevel(logger.getEffectiveLevel())
    return logger
