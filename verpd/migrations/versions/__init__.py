"""The revisions, oldest first by ``down_revision``; Alembic loads them by path, nothing imports them."""
