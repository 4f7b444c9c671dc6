"""Matching a diagnostic against a table of wordings, fast.

A table holds hundreds of regular expressions; a diagnostic holds the words of only a
few. Every match of a pattern contains one of its *keywords*, literal words derived
from the pattern's syntax tree (:func:`required_words`); a plain substring test for
them is far cheaper than running the pattern. :class:`Matcher` tests a table's
keywords first (the union rules out most texts at once), then, row by row in order,
each row's keywords, and runs a row's pattern only where one of them occurs. A row
whose pattern has no usable keyword always runs. The answer is exactly the one the
patterns alone give (a hypothesis test holds it to that).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cached_property

_MIN_WORD = 3


class Matcher:
    """The first of ``patterns`` (in order) that occurs in a text."""

    def __init__(self, patterns: Sequence[str]) -> None:
        self.patterns = tuple(patterns)

    @cached_property
    def _plan(self) -> tuple[frozenset[str] | None, list[frozenset[str] | None]]:
        """The table's keywords and each row's (built on first use: start-up stays short)."""
        guarded = [required_words(p) for p in self.patterns]
        every = None if any(words is None for words in guarded) else _minimal(frozenset().union(*guarded))  # type: ignore[arg-type]
        return every, guarded

    @cached_property
    def _compiled(self) -> list[re.Pattern[str] | None]:
        return [None] * len(self.patterns)  # each row compiled when its keywords first occur

    def first(self, text: str) -> int | None:
        """The index of the first pattern that occurs in ``text``, or None."""
        every, guarded = self._plan
        if every is not None and not _contains_any(text, every):
            return None
        compiled = self._compiled
        for i, words in enumerate(guarded):
            if words is None or _contains_any(text, words):
                regex = compiled[i]
                if regex is None:
                    regex = compiled[i] = re.compile(self.patterns[i])
                if regex.search(text):
                    return i
        return None

    def first_plain(self, text: str) -> int | None:
        """:meth:`first` without the keyword shortcuts: what the patterns alone answer."""
        for i, pattern in enumerate(self.patterns):
            if re.search(pattern, text):
                return i
        return None


def _contains_any(text: str, words: frozenset[str]) -> bool:
    for word in words:  # a plain loop: any() over a generator costs twice as much here
        if word in text:
            return True
    return False


def _minimal(words: frozenset[str]) -> frozenset[str]:
    """A word that contains another adds nothing: the shorter one occurs whenever it does."""
    return frozenset(w for w in words if not any(other != w and other in w for other in words))


def required_words(pattern: str) -> frozenset[str] | None:
    """Literal words one of which occurs in every match of ``pattern``, or None if unknown.

    A sequence needs all of its mandatory items, so the best-known requirement of any
    single item stands for it; an alternation needs one requirement per branch.
    """
    from re import _parser  # the stdlib's own pattern parser (re.sre_parse)

    words = _required(_parser.parse(pattern).data)
    return None if words is None else _minimal(words)


def _required(items) -> frozenset[str] | None:  # type: ignore[no-untyped-def]
    from re import _constants as c

    candidates: list[frozenset[str]] = []
    run: list[str] = []

    def close_run() -> None:
        if len(run) >= _MIN_WORD:
            candidates.append(frozenset({"".join(run)}))
        run.clear()

    for op, av in items:
        if op is c.LITERAL:
            run.append(chr(av))
            continue
        close_run()
        if op is c.SUBPATTERN:
            found = _required(av[3].data)
        elif op is c.BRANCH:
            branches = [_required(branch.data) for branch in av[1]]
            found = None if any(b is None for b in branches) else frozenset().union(*branches)  # type: ignore[arg-type]
        elif op in (c.MAX_REPEAT, c.MIN_REPEAT) and av[0] >= 1:
            found = _required(av[2].data)
        else:
            found = None  # character classes, anchors, look-arounds, optional parts
        if found:
            candidates.append(found)
    close_run()
    if not candidates:
        return None
    # The requirement whose shortest word is longest rules out the most texts.
    return max(candidates, key=lambda words: (min(map(len, words)), -len(words)))
