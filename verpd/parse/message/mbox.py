"""Splitting an mbox into its messages (several bounces delivered as one file)."""

from __future__ import annotations

import re

# An mbox separator: "From " at the start of a line, an envelope sender and a date ending in the year.
# The blanks after the sender are taken whole (" ++"): giving them back one by one to the rest of
# the line made a "From x" line with a long run of blanks quadratic (30 s for 64,000 blanks).
_MBOX_SEPARATOR = re.compile(rb"(?:^|\n)From \S+ ++[^\n]*\b\d{4}\r?\n(?=[!-9;-~]+:)")


def split_mbox(raw: bytes) -> list[bytes]:
    """The messages of an mbox (``From `` separator lines), or ``[raw]`` if it is one message."""
    if not raw.startswith(b"From ") or raw.count(b"\nFrom ") == 0:
        return [raw]
    starts = [m.start() + (1 if m.group(0).startswith(b"\n") else 0) for m in _MBOX_SEPARATOR.finditer(raw)]
    if len(starts) < 2:
        return [raw]
    return [raw[a:b] for a, b in zip(starts, starts[1:] + [len(raw)], strict=True)]
