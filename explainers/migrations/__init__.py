"""Schema migrations of the review store (Alembic), run when a ``Store`` opens.

A store written before migrations existed (tables ``audits`` and ``verdicts``, no ``alembic_version``) is
stamped at the baseline and upgraded in place; a new store is built by the same migrations; a store already at
the head costs one read. The whole upgrade is one transaction, under SQLite's write lock (``BEGIN IMMEDIATE``)
or a PostgreSQL advisory lock, so processes that open the same store together run it once.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine

from ..errors import InputError

BASELINE = "0001_baseline"
HEAD = "0004_item_reason"
KNOWN = (BASELINE, "0002_runs", "0003_unique_audit_version", HEAD)
_PG_LOCK_KEY = 7_201_627_016  # any constant: serialises concurrent upgrades of one PostgreSQL database


def current_revision(conn: Connection) -> str | None:
    if "alembic_version" not in inspect(conn).get_table_names():
        return None
    row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
    return row[0] if row else None


def _config(conn: Connection):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).resolve().parent))
    cfg.attributes["connection"] = conn
    return cfg


def upgrade(engine: Engine) -> str:
    """Bring the store to ``HEAD``; returns the revision it was at (``None``: a store from before migrations)."""
    with engine.connect() as conn:
        before = current_revision(conn)
        conn.rollback()
    if before == HEAD:
        return before
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
        before = current_revision(conn)  # again, under the lock: another process may have just done it
        if before == HEAD:
            return before
        if before is not None and before not in KNOWN:
            raise InputError(f"the review store has schema {before!r}, newer than this AuditLens knows "
                             f"({HEAD}); upgrade AuditLens to open it")
        from alembic import command

        cfg = _config(conn)
        if before is None and "audits" in inspect(conn).get_table_names():
            command.stamp(cfg, BASELINE)  # today's tables exist: start from them, never recreate them
        command.upgrade(cfg, "head")
    return before
