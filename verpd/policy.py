"""The threshold rule, as a pure function of state, history and configuration.

MediaWiki's rule is the default: when the hard bounces of one tenant+user within
``policy.period`` reach ``policy.limit``, act. With ``policy.act = false``
($wgBounceHandlerUnconfirmUsers = false) the decision is only logged, once.
A subject that is already suppressed (or already flagged) does not fire again.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from verpd.config import PolicyConfig
from verpd.model import Decision, SubjectState


def window_start(now: datetime, config: PolicyConfig) -> datetime:
    """The oldest receipt time that still counts toward the limit."""
    return now - timedelta(seconds=config.period)


def decide(state: SubjectState, flagged: bool, hard_count: int, config: PolicyConfig) -> Decision:
    """What to do after a hard bounce, given ``hard_count`` hard bounces in the window.

    ``flagged`` says a would-suppress decision was already logged for this subject.
    """
    if state is SubjectState.SUPPRESSED or hard_count < config.limit:
        return Decision.NONE
    if config.act:
        return Decision.SUPPRESS
    return Decision.NONE if flagged else Decision.WOULD_SUPPRESS
