"""series luck: each member's share of their best possible at their last event

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 11:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable, no back-fill: members remembered before have no luck to carry yet, and the
    # matcher treats them as everyone else.
    with op.batch_alter_table("series_members") as batch:
        batch.add_column(sa.Column("last_share", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("series_members") as batch:
        batch.drop_column("last_share")
