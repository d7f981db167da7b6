"""Keeping chat up to date with runs: each run's card edited in place, its progress in the
card's thread.

- :mod:`~bot.progress.reporter` — :class:`Progress`, the executor's observer and what
  commands ask of chat (announce a change, refresh a card, resync after an outage);
- :mod:`~bot.progress.outbox` — each run's output delivered in order, never holding it up;
- :mod:`~bot.progress.card_keeper` — cards as last shown, and the edits that update them;
- :mod:`~bot.progress.texts` — what a run says in its thread (pure).
"""

from __future__ import annotations

from bot.progress.reporter import Progress

__all__ = ["Progress"]
