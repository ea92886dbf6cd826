"""Baseline: the review store as released before migrations (audits, verdicts).

A store that already has these tables is stamped at this revision instead of running it.

Revision ID: 0001_baseline
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001_baseline"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audits",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("audit_key", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("question", sa.Text, nullable=False),
        sa.Column("answer", sa.Text, nullable=False),
        sa.Column("model_id", sa.String(200), nullable=False),
        sa.Column("support_probability", sa.Float, nullable=True),
        sa.Column("report_json", sa.Text, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_audits_audit_key", "audits", ["audit_key"])
    op.create_table(
        "verdicts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("audit_id", sa.Integer, sa.ForeignKey("audits.id"), nullable=False),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("edited_answer", sa.Text, nullable=True),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("reviewer", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_verdicts_audit_id", "verdicts", ["audit_id"])


def downgrade() -> None:
    op.drop_table("verdicts")
    op.drop_table("audits")
