"""Migrations are the only source of the schema, and they match the models exactly."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from crisisline.db import Base


def test_migrated_schema_matches_the_models(database_url: str) -> None:
    engine = create_engine(database_url)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    engine.dispose()
    assert differences == []


def test_migrations_form_a_single_line_with_one_head() -> None:
    from alembic.script import ScriptDirectory

    from crisisline.migrate import alembic_config

    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1


@pytest.mark.hazard("H294")
def test_participants_closed_before_end_of_service_existed_get_the_day_last_changed(
    database_url: str,
) -> None:
    """Migration 0027: a closed participant with no end-of-service date would be kept for ever
    under an end_of_service retention rule; he gets the (UTC) day his record last changed."""
    import datetime as dt

    from alembic import command
    from sqlalchemy import text

    from crisisline.migrate import alembic_config, upgrade

    command.downgrade(alembic_config(database_url), "0026_scheduler_wake_status")
    engine = create_engine(database_url)
    rows = [
        ("R1", "closed", dt.datetime(2025, 3, 4, 23, 30, tzinfo=dt.UTC), None),
        ("R2", "active", dt.datetime(2025, 3, 4, 10, 0, tzinfo=dt.UTC), None),
        ("R3", "closed", dt.datetime(2025, 6, 1, 9, 0, tzinfo=dt.UTC), dt.date(2025, 5, 30)),
    ]
    with engine.begin() as conn:
        for reference, status, changed, ended in rows:
            conn.execute(
                text(
                    "INSERT INTO participants (reference, name, risk_level, status, "
                    "ended_service_on, created_at, updated_at) VALUES (:reference, 'Test Person', "
                    "'low', :status, :ended, :changed, :changed)"
                ),
                {"reference": reference, "status": status, "ended": ended, "changed": changed},
            )
    upgrade(database_url)
    with engine.connect() as conn:
        found: dict[str, object] = dict(
            conn.execute(text("SELECT reference, ended_service_on FROM participants")).all()
        )
    engine.dispose()
    as_dates = {
        ref: (dt.date.fromisoformat(str(day)) if day else None) for ref, day in found.items()
    }
    assert as_dates == {"R1": dt.date(2025, 3, 4), "R2": None, "R3": dt.date(2025, 5, 30)}
