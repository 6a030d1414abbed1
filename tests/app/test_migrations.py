"""The Alembic migrations build exactly the tables app/models.py describes."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from app import models
from app.migrate import alembic_config, upgrade
from app.models import Base
from app.security import token_hash
from app.services import series as series_service


def test_migrations_match_the_models(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        upgrade(engine)
        with engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    finally:
        engine.dispose()
    assert differences == []


def test_events_from_before_series_keep_working_after_the_series_migration(
    database_url: str, tmp_path: Path
) -> None:
    """0003 (series) on a database holding an event and an attendee: they become a one-off
    event and an attendee not remembered, not named in network exports; and downgrades."""
    engine = create_engine(database_url)
    config = alembic_config()
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "0002")
            connection.execute(
                text(
                    "INSERT INTO events (id, name, rounds, round_seconds, changeover_seconds,"
                    " group_size, odd, same_organisation, tables, questions, keep_apart,"
                    " must_meet, auto_advance, seed, join_code, organiser_token_hash,"
                    " projector_key_hash, created_at, version) VALUES ('e1', 'Old', 6, 240,"
                    " 60, 2, 'trio', 'avoid', '[]', '[]', '[]', '[]', false, 1, 'ABCDEF',"
                    " 'h1', 'h2', '2026-11-01 10:00:00', 0)"
                )
            )
            connection.execute(
                text(
                    "INSERT INTO attendees (id, event_id, name, organisation, answers, contact,"
                    " share, token_hash, presence, joined_at) VALUES ('a1', 'e1', 'Ada', '',"
                    " '{}', '{}', '[]', 'h3', 'present', '2026-11-01 10:00:00')"
                )
            )
        upgrade(engine)
        with engine.connect() as connection:
            event = connection.execute(
                text("SELECT series_id, series_position FROM events WHERE id = 'e1'")
            ).one()
            attendee = connection.execute(
                text("SELECT listed, series_member_id FROM attendees WHERE id = 'a1'")
            ).one()
        assert tuple(event) == (None, None)
        assert (bool(attendee[0]), attendee[1]) == (False, None)
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0002")
        with engine.connect() as connection:
            assert connection.execute(text("SELECT name FROM attendees")).scalar() == "Ada"
    finally:
        engine.dispose()


def test_series_tokens_from_before_derived_links_keep_working_after_the_links_migration(
    database_url: str,
) -> None:
    """0004 (series links) on a database holding a member with a random token: that token
    still recognises them, their exportable link too; downgrading gives the first back."""
    engine = create_engine(database_url)
    config = alembic_config()
    old_token = "random-token-from-before"
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "0003")
            connection.execute(
                text(
                    "INSERT INTO series (id, name, memory, recent_events, created_at) VALUES"
                    " ('s1', 'Monthly', 'never', 1, '2026-11-01 10:00:00')"
                )
            )
            connection.execute(
                text(
                    "INSERT INTO series_members (id, series_id, token_hash, name, organisation,"
                    " answers, first_event_id, consented_at, last_seen_at) VALUES ('m1', 's1',"
                    " :hash, 'Ada', '', '{}', 'e1', '2026-11-01 10:00:00',"
                    " '2026-11-01 10:00:00')"
                ),
                {"hash": token_hash(old_token)},
            )
        upgrade(engine)
        with Session(engine) as session:
            series = session.get_one(models.Series, "s1")
            assert len(series.link_secret) >= 32
            member = session.get_one(models.SeriesMember, "m1")
            derived = series_service.token_of(series, member)
            assert derived != old_token
            for token in (old_token, derived):
                assert series_service.member_by_series_token(session, token).id == "m1"
                assert series_service.member_by_token(session, "s1", token) is member
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0003")
        with engine.connect() as connection:
            stored = connection.execute(text("SELECT token_hash FROM series_members")).scalar()
        assert stored == token_hash(old_token)
    finally:
        engine.dispose()


def test_members_from_before_have_no_luck_to_carry_after_the_luck_migration(
    database_url: str,
) -> None:
    """0005 (series luck) on a database holding a member: they stay, with no share yet;
    downgrading drops the share and keeps the member."""
    engine = create_engine(database_url)
    config = alembic_config()
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "0004")
            connection.execute(
                text(
                    "INSERT INTO series (id, name, memory, recent_events, created_at,"
                    " link_secret) VALUES ('s1', 'Monthly', 'never', 1, '2026-11-01 10:00:00',"
                    " 'secret')"
                )
            )
            connection.execute(
                text(
                    "INSERT INTO series_members (id, series_id, token_hash, name, organisation,"
                    " answers, first_event_id, consented_at, last_seen_at) VALUES ('m1', 's1',"
                    " 'hash', 'Ada', '', '{}', 'e1', '2026-11-01 10:00:00',"
                    " '2026-11-01 10:00:00')"
                )
            )
        upgrade(engine)
        with Session(engine) as session:
            member = session.get_one(models.SeriesMember, "m1")
            assert member.last_share is None
            member.last_share = 0.25
            session.commit()
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0004")
        with engine.connect() as connection:
            row = connection.execute(text("SELECT * FROM series_members")).mappings().one()
        assert row["name"] == "Ada"
        assert "last_share" not in row
    finally:
        engine.dispose()
