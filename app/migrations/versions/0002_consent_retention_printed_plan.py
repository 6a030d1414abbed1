"""consent records, purge summary, printed plan

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import app.models

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "consents",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("attendee_id", sa.String(length=16), nullable=False),
        sa.Column("field", sa.String(length=10), nullable=False),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.Column("text", sa.String(length=500), nullable=False),
        sa.Column("recorded_at", app.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["attendee_id"], ["attendees.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_consents_attendee_id"), "consents", ["attendee_id"], unique=False)
    with op.batch_alter_table("events") as batch:
        batch.add_column(
            sa.Column("purged_at", app.models.UTCDateTime(timezone=True), nullable=True)
        )
        batch.add_column(sa.Column("summary", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("printed_plan", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.drop_column("printed_plan")
        batch.drop_column("summary")
        batch.drop_column("purged_at")
    op.drop_index(op.f("ix_consents_attendee_id"), table_name="consents")
    op.drop_table("consents")
