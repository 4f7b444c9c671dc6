"""The README's MTA snippets, read from README.md so the tests run what it documents.

Each snippet is the fenced block right after an HTML comment naming it, such as
``<!-- postfix-transport -->``. The tests change nothing in a snippet but what its
section says they change (the paths under ``/etc/...`` and the port ``8024``).
"""

from __future__ import annotations

from tests.conftest import REPO

README = REPO / "README.md"
DEFAULT_PORT = "8024"


def snippet(marker: str) -> str:
    """The text of the fenced block right after ``<!-- marker -->`` in README.md."""
    text = README.read_text()
    comment = f"<!-- {marker} -->"
    assert text.count(comment) == 1, f"README.md should have exactly one {comment}"
    after = text.split(comment, 1)[1].lstrip("\n")
    assert after.startswith("```"), f"{comment} is not right before a fenced block"
    return after.split("\n", 1)[1].split("\n```", 1)[0] + "\n"


def with_port(text: str, port: int) -> str:
    """``text`` with the README's port 8024 replaced by ``port``."""
    assert DEFAULT_PORT in text, f"the snippet no longer uses the port {DEFAULT_PORT}:\n{text}"
    return text.replace(DEFAULT_PORT, str(port))


def table(marker: str) -> tuple[str, str]:
    """(path named in its first line, content without comments) of a table snippet."""
    first, _, rest = snippet(marker).partition("\n")
    assert first.startswith("# /"), f"the {marker} snippet should start with '# /path/of/the/table'"
    lines = [line for line in rest.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return first[2:].strip(), "\n".join(lines) + "\n"
