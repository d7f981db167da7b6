"""The Telegram surface (python-telegram-bot v22): see :mod:`handlers.telegram.app`."""
