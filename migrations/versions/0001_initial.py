"""Inbox, decision log and idempotency keys.

Plain column types here, not the models' own, so that this file keeps meaning what it meant when later
code changes.

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-25
"""
import sqlalchemy as sa
from alembic import op

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbox_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("vendor", sa.String(16), nullable=False),
        sa.Column("delivery_id", sa.String(255), nullable=False),
        sa.Column("ticket_id", sa.String(64), nullable=False),
        sa.Column("comment_id", sa.String(64), nullable=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.String(300), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retry_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("vendor", "delivery_id", name="uq_inbox_vendor_delivery"),
    )
    op.create_index("uq_inbox_vendor_ticket_comment", "inbox_events", ["vendor", "ticket_id", "comment_id"],
                    unique=True, sqlite_where=sa.text("comment_id IS NOT NULL"),
                    postgresql_where=sa.text("comment_id IS NOT NULL"))
    op.create_index("ix_inbox_status_updated", "inbox_events", ["status", "updated_at"])

    op.create_table(
        "decision_log",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("vendor", sa.String(16), nullable=False),
        sa.Column("ticket_id", sa.String(64), nullable=False),
        sa.Column("trigger_comment_id", sa.String(64), nullable=False),
        sa.Column("inbox_id", sa.Integer, nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("intent", sa.String(128), nullable=True),
        sa.Column("confidence", sa.Float, nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("control", sa.Boolean, nullable=False),
        sa.Column("decision_json", sa.JSON, nullable=False),
        sa.Column("write_json", sa.JSON, nullable=True),
        sa.Column("model_version", sa.String(128), nullable=False),
    )
    op.create_index("ix_decision_log_ticket", "decision_log", ["vendor", "ticket_id"])
    op.create_index("ix_decision_log_decided_at", "decision_log", ["decided_at"])

    op.create_table(
        "idempotency",
        sa.Column("vendor", sa.String(16), primary_key=True),
        sa.Column("ticket_id", sa.String(64), primary_key=True),
        sa.Column("trigger_comment_id", sa.String(64), primary_key=True),
        sa.Column("decision_id", sa.Integer, sa.ForeignKey("decision_log.id"), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("claim_token", sa.String(64), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("idempotency")
    op.drop_index("ix_decision_log_decided_at", table_name="decision_log")
    op.drop_index("ix_decision_log_ticket", table_name="decision_log")
    op.drop_table("decision_log")
    op.drop_index("ix_inbox_status_updated", table_name="inbox_events")
    op.drop_index("uq_inbox_vendor_ticket_comment", table_name="inbox_events")
    op.drop_table("inbox_events")
