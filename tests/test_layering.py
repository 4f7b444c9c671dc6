"""The import layering of DESIGN.md stays true: dependencies point downward."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "verpd"

# Each module may import only modules of a lower layer (or its own package).
LAYERS = [
    {"errors", "model", "events"},
    {"config", "smtp", "metrics"},  # metrics: counters and histograms only (prometheus-client), used by every layer above
    {"verp", "parse", "classify"},  # parse and classify never import each other: both read SMTP facts from smtp
    {"policy"},
    {"migrations", "writer"},  # the schema's revisions (Alembic); group commit (store's SQLite write path)
    {"store", "log"},
    {"notify", "dkim", "actions", "outbox", "prune", "systemd", "pipeline"},
    {"lmtp", "http"},  # the intakes: the only places that turn outcomes into replies
    {"daemon"},
    {"cli"},
    {"__main__"},
]
LAYER_OF = {name: i for i, layer in enumerate(LAYERS) for name in layer}
PURE = {"errors", "model", "events", "verp", "smtp", "parse", "classify", "policy"}
ASYNC_OR_IO = {"asyncio", "sqlalchemy", "aiosmtpd", "smtplib", "socket", "structlog", "aiosqlite"}


def modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py" or p.parent != PACKAGE)


def top(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0].removesuffix(".py")


def imported(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_module_imports_only_lower_layers(path: Path) -> None:
    """A verpd module imports verpd modules of lower layers only (or of its own package)."""
    own = top(path)
    assert own in LAYER_OF, f"{own} is missing from the layer table in this test"
    for name in imported(path):
        parts = name.split(".")
        if parts[0] != "verpd" or len(parts) < 2 or parts[1] in ("__version__",):
            continue
        other = parts[1]
        if other == own:
            continue
        assert other in LAYER_OF, f"{own} imports unknown module verpd.{other}"
        assert LAYER_OF[other] < LAYER_OF[own], f"verpd.{own} (layer {LAYER_OF[own]}) imports verpd.{other} (layer {LAYER_OF[other]})"


@pytest.mark.parametrize("path", [p for p in modules() if top(p) in PURE], ids=lambda p: str(p.relative_to(PACKAGE)))
def test_pure_core_does_no_io(path: Path) -> None:
    """The pure core (verp, smtp, parse, classify, policy, and the types they share) imports no async, network or database library."""
    roots = {name.split(".")[0] for name in imported(path)}
    assert not roots & ASYNC_OR_IO, f"{path.name} imports {roots & ASYNC_OR_IO}"
