"""A failed statement's error never carries its values: tracebacks are logged (H150)."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from crisisline.db import Database

BODY = "I want to end it tonight"
NUMBER = "+447700900201"


def test_a_failed_statement_names_no_value_it_was_given(database_url: str) -> None:
    db = Database(database_url)
    try:
        with pytest.raises(DBAPIError) as failed, db.transaction() as session:
            session.execute(
                text("INSERT INTO no_such_table (body, phone) VALUES (:body, :phone)"),
                {"body": BODY, "phone": NUMBER},
            )
        message = str(failed.value)
        assert "no_such_table" in message  # the statement is there to debug with
        assert BODY not in message and "7700900201" not in message
    finally:
        db.dispose()
