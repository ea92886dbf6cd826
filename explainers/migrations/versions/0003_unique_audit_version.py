"""One row per (audit_key, version): a unique index, after renumbering any duplicates a race already wrote.

Before this revision two writers saving the same audit at once on PostgreSQL could both read "latest is 1" and
both store version 2. Such a store is kept whole: of the rows sharing a version, the first written (lowest id)
keeps its number and each later one gets the next free version of its key, in the order they were written. No
row is deleted and no id changes, so every verdict and batch-run item still points at its audit.

Revision ID: 0003_unique_audit_version
Revises: 0002_runs
"""

import logging

import sqlalchemy as sa
from alembic import op

revision = "0003_unique_audit_version"
down_revision = "0002_runs"
branch_labels = None
depends_on = None

log = logging.getLogger(__name__)

_audits = sa.table("audits", sa.column("id", sa.Integer), sa.column("audit_key", sa.String),
                   sa.column("version", sa.Integer))


def renumber_duplicate_versions(conn) -> list[tuple[int, int, int]]:
    """Give every later row of a repeated (audit_key, version) a fresh version; returns (id, old, new) per row."""
    repeated = conn.execute(sa.select(_audits.c.audit_key).group_by(_audits.c.audit_key, _audits.c.version)
                            .having(sa.func.count() > 1)).scalars().all()
    changed = []
    for key in sorted(set(repeated)):
        rows = conn.execute(sa.select(_audits.c.id, _audits.c.version).where(_audits.c.audit_key == key)
                            .order_by(_audits.c.id)).all()
        fresh = max(version for _, version in rows) + 1
        seen = set()
        for audit_id, version in rows:
            if version not in seen:
                seen.add(version)
                continue
            conn.execute(sa.update(_audits).where(_audits.c.id == audit_id).values(version=fresh))
            changed.append((audit_id, version, fresh))
            log.warning("audit %s (key %s) shared version %s with an earlier row; it is now version %s",
                        audit_id, key, version, fresh)
            fresh += 1
    return changed


def upgrade() -> None:
    renumber_duplicate_versions(op.get_bind())
    # An index, not a table constraint: SQLite adds it in place (a constraint would rebuild the audits table,
    # which verdicts and run items reference), and PostgreSQL enforces it the same way.
    op.create_index("uq_audits_key_version", "audits", ["audit_key", "version"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_audits_key_version", "audits")
