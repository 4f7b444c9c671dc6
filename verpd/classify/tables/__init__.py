"""One phrase table per reason: the wordings mail systems use, each row with its provenance.

Each module holds one reason's ``ROWS``; a row is (pattern, who emits it, where that is
documented). Rows come from the mail systems' own sources (MTA source files, providers'
published error-code pages, RFCs), never from what a test sample expects.
"""

from __future__ import annotations

from importlib import import_module
from types import MappingProxyType

from verpd.classify.phrase import Phrase, Table
from verpd.model import Reason

# The reasons that have wordings; the others (delivered, feedback, vacation, onhold,
# undefined, suppressed) come from the report itself or from nothing being known.
WORDED: tuple[Reason, ...] = (
    Reason.USERUNKNOWN, Reason.HOSTUNKNOWN, Reason.HASMOVED, Reason.NOTACCEPT,
    Reason.MAILBOXFULL, Reason.EXCEEDLIMIT, Reason.SUSPEND, Reason.FILTERED,
    Reason.REJECTED, Reason.BLOCKED, Reason.BADREPUTATION, Reason.SPAMDETECTED,
    Reason.VIRUSDETECTED, Reason.POLICYVIOLATION, Reason.AUTHFAILURE, Reason.REQUIREPTR,
    Reason.NOTCOMPLIANTRFC, Reason.NORELAYING, Reason.SECURITYERROR, Reason.FAILEDSTARTTLS,
    Reason.SPEEDING, Reason.TOOMANYCONN, Reason.MESGTOOBIG, Reason.CONTENTERROR,
    Reason.NETWORKERROR, Reason.SYSTEMERROR, Reason.SYSTEMFULL, Reason.EXPIRED,
    Reason.MAILERERROR, Reason.SYNTAXERROR,
)


def _load(reason: Reason) -> Table:
    try:
        rows: tuple[Phrase, ...] = import_module(f"{__name__}.{reason.value}").ROWS
    except ModuleNotFoundError:
        rows = ()
    return Table(reason, rows)


TABLES: MappingProxyType[Reason, Table] = MappingProxyType({reason: _load(reason) for reason in WORDED})

__all__ = ["TABLES", "WORDED", "Phrase", "Table"]
