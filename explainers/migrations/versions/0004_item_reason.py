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
    with op.batch_alter_table("run_items") as batch:
        batch.drop_column("reason")
