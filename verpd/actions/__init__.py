"""The side effects of events: one module per action kind, each with an async ``send``."""


class ActionError(Exception):
    """An action failed; the outbox retries it."""
