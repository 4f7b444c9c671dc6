"""A phrase table: the wordings mail systems use for one reason, each with its provenance.

A row is data: the pattern, who emits the wording, and where that is documented (the
MTA's source file, the provider's published error-code page, an RFC). Patterns are
Python regular expressions over the diagnostic lower-cased with every run of blanks
collapsed to one space. The tables themselves live in ``verpd.classify.tables``, one
module per reason; ``verpd.classify`` decides in which order and in which context
(status code, SMTP command) they count.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from verpd.classify.matching import Matcher
from verpd.model import Reason


@dataclass(frozen=True)
class Phrase:
    """One wording of one reason."""

    pattern: str  # regex over the lower-cased, blank-collapsed diagnostic
    emitter: str  # who says it: "Postfix", "Exim", "Microsoft 365", "common" (many unrelated systems)
    source: str  # where that is documented: "postfix src/smtpd/smtpd_check.c", a URL, "RFC 3463 §3.2"
    alone: bool = False  # said by the recipient's own mail store or directory: decides at any SMTP stage
    vague: bool = False  # names no culprit ("access denied"): counts for its reason, but never overrules another rule


class Table:
    """A reason's phrases, in order; the first that occurs names the row that decided."""

    def __init__(self, reason: Reason, rows: tuple[Phrase, ...]) -> None:
        self.reason = reason
        self.rows = rows

    @cached_property
    def _matcher(self) -> Matcher:
        return Matcher([row.pattern for row in self.rows])

    @cached_property
    def _precise(self) -> tuple[Matcher, list[int]]:
        kept = [i for i, row in enumerate(self.rows) if not row.vague]
        return Matcher([self.rows[i].pattern for i in kept]), kept

    def find(self, text: str, *, vague: bool = True) -> int | None:
        """The index of the first row whose pattern occurs in ``text`` (``vague=False``: skip vague rows)."""
        if vague:
            return self._matcher.first(text)
        matcher, kept = self._precise
        found = matcher.first(text)
        return None if found is None else kept[found]

    def ref(self, index: int) -> str:
        return f"{self.reason.value}#{index}"

    def __repr__(self) -> str:
        return f"Table({self.reason.value}, {len(self.rows)} rows)"
