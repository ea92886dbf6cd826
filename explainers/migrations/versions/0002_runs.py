"""Batch runs: runs, run items (one per input row, unique per run and row id), bad rows, assignments.

Revision ID: 0002_runs
Revises: 0001_baseline
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_runs"
down_revision = "0001_baseline"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("options_json", sa.Text, nullable=False),
        sa.Column("policy_json", sa.Text, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "run_items",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), nullable=False),
        sa.Column("row_id", sa.String(200), nullable=False),
        sa.Column("line_no", sa.Integer, nullable=False),
        sa.Column("audit_id", sa.Integer, sa.ForeignKey("audits.id"), nullable=False),
        sa.Column("support_probability", sa.Float, nullable=True),
        sa.Column("n_sentences", sa.Integer, nullable=False),
        sa.Column("n_flagged_sentences", sa.Integer, nullable=False),
        sa.Column("label", sa.String(16), nullable=True),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("source_names_json", sa.Text, nullable=False),
        sa.Column("spot_draw", sa.Float, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("run_id", "row_id", name="uq_run_items_run_row"),
    )
    op.create_index("ix_run_items_run_support", "run_items", ["run_id", "support_probability"])
    op.create_table(
        "bad_rows",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), nullable=False),
        sa.Column("line_no", sa.Integer, nullable=False),
        sa.Column("row_id", sa.String(200), nullable=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("run_id", "line_no", name="uq_bad_rows_run_line"),
    )
    op.create_table(
        "assignments",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("item_id", sa.Integer, sa.ForeignKey("run_items.id"), nullable=False),
        sa.Column("reviewer", sa.String(200), nullable=False),
        sa.Column("slot", sa.Integer, nullable=False),
        sa.Column("assigned_by", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_assignments_item_id", "assignments", ["item_id"])


def downgrade() -> None:
    op.drop_table("assignments")
    op.drop_table("bad_rows")
    op.drop_index("ix_run_items_run_support", "run_items")
    op.drop_table("run_items")
    op.drop_table("runs")
