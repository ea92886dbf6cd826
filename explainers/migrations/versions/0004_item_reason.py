"""Run items keep the reason of their weakest flagged sentence, so the Dataset page says why each answer is flagged.

A nullable column: items written before it show no reason there (their audits still hold every reason).

Revision ID: 0004_item_reason
Revises: 0003_unique_audit_version
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_item_reason"
down_revision = "0003_unique_audit_version"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("run_items") as batch:  # SQLite: add_column in a batch is a plain ALTER TABLE ADD
        batch.add_column(sa.Column("reason", sa.Text, nullable=True))


def downgrade() -> None:
    # a plain DROP COLUMN (SQLite >= 3.35, PostgreSQL): a batch rebuild would drop run_items, which assignments
    # reference, and the store keeps SQLite's foreign keys on
    op.execute("ALTER TABLE run_items DROP COLUMN reason")
