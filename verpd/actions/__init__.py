"""The side effects of events: each action carries one :class:`~verpd.events.Event` out.

An action is an object with ``async def send(self, event)``: returning normally
means the event was delivered (or needed nothing), and any failure is raised as
:class:`ActionError`, whose message says what went wrong in words an operator can
act on. Actions never retry and never store anything; the outbox worker that calls
them records the failure and tries again later with exponential backoff, so an
action must be safe to repeat (every event carries its idempotency key, ``Event.id``).
An action whose tenant has no configuration for it, or that does not subscribe to
the event's type, returns without doing anything. One module per action kind:
``webhook``, ``command``, ``mediawiki``.
"""

from __future__ import annotations

from verpd.errors import VerpdError

__all__ = ["ActionError"]


class ActionError(VerpdError):
    """An action could not deliver an event; the outbox retries it later."""
