"""series links: a secret per series its members' tokens are derived from

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 10:00:00
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_series = sa.table("series", sa.column("id", sa.String), sa.column("link_secret", sa.String))
_members = sa.table(
    "series_members",
    sa.column("id", sa.String),
    sa.column("series_id", sa.String),
    sa.column("token_hash", sa.String),
    sa.column("previous_token_hash", sa.String),
)


# Written out here rather than imported: a migration does what it did when it was written
# (as app.security.series_token_for and token_hash do today).
def _derived_token_hash(secret: str, member_id: str) -> str:
    digest = hmac.new(secret.encode(), f"series-member:{member_id}".encode(), "sha256")
    token = base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()
    return hashlib.sha256(token.encode()).hexdigest()


def upgrade() -> None:
    with op.batch_alter_table("series") as batch:
        batch.add_column(sa.Column("link_secret", sa.String(length=64), nullable=True))
    with op.batch_alter_table("series_members") as batch:
        batch.add_column(sa.Column("previous_token_hash", sa.String(length=64), nullable=True))
        batch.create_index(
            batch.f("ix_series_members_previous_token_hash"), ["previous_token_hash"], unique=False
        )
    connection = op.get_bind()
    secret_of: dict[str, str] = {}
    for (series_id,) in connection.execute(sa.select(_series.c.id)).all():
        secret_of[series_id] = secrets.token_urlsafe(24)
        connection.execute(
            _series.update()
            .where(_series.c.id == series_id)
            .values(link_secret=secret_of[series_id])
        )
    # Members remembered before: their random token (on their phone, in a link they were
    # given) keeps working as the previous one; the derived one is theirs from now on.
    for member_id, series_id, old_hash in connection.execute(
        sa.select(_members.c.id, _members.c.series_id, _members.c.token_hash)
    ).all():
        if series_id not in secret_of:
            continue  # an orphan row (SQLite without foreign keys): nobody can use it anyway
        connection.execute(
            _members.update()
            .where(_members.c.id == member_id)
            .values(
                previous_token_hash=old_hash,
                token_hash=_derived_token_hash(secret_of[series_id], member_id),
            )
        )
    with op.batch_alter_table("series") as batch:
        batch.alter_column("link_secret", existing_type=sa.String(length=64), nullable=False)


def downgrade() -> None:
    # Members remembered before the upgrade get their first token back; members remembered
    # since keep the derived one, which still verifies by its hash. Exported links of the
    # former stop working.
    connection = op.get_bind()
    connection.execute(
        _members.update()
        .where(_members.c.previous_token_hash.is_not(None))
        .values(token_hash=_members.c.previous_token_hash)
    )
    with op.batch_alter_table("series_members") as batch:
        batch.drop_index(batch.f("ix_series_members_previous_token_hash"))
        batch.drop_column("previous_token_hash")
    with op.batch_alter_table("series") as batch:
        batch.drop_column("link_secret")
