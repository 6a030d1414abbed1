"""series: recurring events, their members' memory, listing consent

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import app.models

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "series",
        sa.Column("id", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("memory", sa.String(length=12), nullable=False),
        sa.Column("recent_events", sa.Integer(), nullable=False),
        sa.Column("retention_days", sa.Integer(), nullable=True),
        sa.Column("created_at", app.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "series_members",
        sa.Column("id", sa.String(length=16), nullable=False),
        sa.Column("series_id", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("organisation", sa.String(length=100), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("first_event_id", sa.String(length=16), nullable=False),
        sa.Column("consented_at", app.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", app.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["series_id"], ["series.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index(
        op.f("ix_series_members_series_id"), "series_members", ["series_id"], unique=False
    )
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("series_id", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("series_position", sa.Integer(), nullable=True))
        batch.create_index(batch.f("ix_events_series_id"), ["series_id"], unique=False)
        batch.create_foreign_key(
            "fk_events_series_id", "series", ["series_id"], ["id"], ondelete="SET NULL"
        )
    with op.batch_alter_table("attendees") as batch:
        batch.add_column(
            sa.Column("listed", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("series_member_id", sa.String(length=16), nullable=True))
        batch.create_index(
            batch.f("ix_attendees_series_member_id"), ["series_member_id"], unique=False
        )
        batch.create_foreign_key(
            "fk_attendees_series_member_id",
            "series_members",
            ["series_member_id"],
            ["id"],
            ondelete="SET NULL",
        )
    with op.batch_alter_table("attendees") as batch:
        # The default was for the rows already there; new rows say it themselves.
        batch.alter_column("listed", server_default=None)
    op.create_table(
        "series_meetings",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("series_id", sa.String(length=16), nullable=False),
        sa.Column("event_id", sa.String(length=16), nullable=False),
        sa.Column("first_id", sa.String(length=16), nullable=False),
        sa.Column("second_id", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(["series_id"], ["series.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["first_id"], ["series_members.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["second_id"], ["series_members.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_id", "first_id", "second_id"),
    )
    op.create_index(
        op.f("ix_series_meetings_series_id"), "series_meetings", ["series_id"], unique=False
    )
    op.create_index(
        op.f("ix_series_meetings_event_id"), "series_meetings", ["event_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_series_meetings_event_id"), table_name="series_meetings")
    op.drop_index(op.f("ix_series_meetings_series_id"), table_name="series_meetings")
    op.drop_table("series_meetings")
    with op.batch_alter_table("attendees") as batch:
        batch.drop_constraint("fk_attendees_series_member_id", type_="foreignkey")
        batch.drop_index(batch.f("ix_attendees_series_member_id"))
        batch.drop_column("series_member_id")
        batch.drop_column("listed")
    with op.batch_alter_table("events") as batch:
        batch.drop_constraint("fk_events_series_id", type_="foreignkey")
        batch.drop_index(batch.f("ix_events_series_id"))
        batch.drop_column("series_position")
        batch.drop_column("series_id")
    op.drop_index(op.f("ix_series_members_series_id"), table_name="series_members")
    op.drop_table("series_members")
    op.drop_table("series")
