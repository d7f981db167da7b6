"""The engine: executing runs step by step (conditions, timeouts, retries, rollback,
sub-playbooks, approval gates), keeping them alive and stopping them, and telling the rest of
the bot how they move on (:class:`~bot.engine.observer.RunObserver`)."""
