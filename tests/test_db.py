"""The schema and its guarantees, on SQLite and on PostgreSQL (BOT_SKIP_POSTGRES=1 skips the latter)."""
from __future__ import annotations

import datetime as dt
import threading

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import IntegrityError

from bot import db
from bot.config import Settings
from bot.db import Base, DecisionLog, Idempotency, InboxEvent
from tests.runtime_support import database_url, postgres_url  # noqa: F401


@pytest.fixture
def sessions(database_url):  # noqa: F811
    db.upgrade(Settings(database_url=database_url))
    return db.session_factory(database_url)


def _record(sessions, delivery="d1", ticket="1", comment="c1", vendor="zendesk"):
    return db.record_inbox(sessions, vendor=vendor, delivery_id=delivery, ticket_id=ticket,
                           comment_id=comment, kind="comment_added")


def test_upgrade_creates_the_schema_and_is_repeatable(database_url):  # noqa: F811
    settings = Settings(database_url=database_url)
    db.upgrade(settings)
    db.upgrade(settings)
    engine = db.get_engine(database_url)
    assert {"inbox_events", "decision_log", "idempotency", "alembic_version"} <= set(
        inspect(engine).get_table_names())
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0001_initial"


def test_models_and_migrations_agree(sessions, database_url):  # noqa: F811
    with db.get_engine(database_url).connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == []


def test_concurrent_upgrades_from_scratch(database_url):  # noqa: F811
    """Two web workers starting together on an empty database."""
    settings = Settings(database_url=database_url)
    db.upgrade(settings)
    cfg = db.alembic_config(database_url)
    command.downgrade(cfg, "base")
    assert "inbox_events" not in inspect(db.get_engine(database_url)).get_table_names()
    errors = []

    def run():
        try:
            db.upgrade(settings)
        except Exception as exc:  # pragma: no cover - the assertion shows it
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert "inbox_events" in inspect(db.get_engine(database_url)).get_table_names()


def test_delivery_is_unique_per_vendor(sessions):
    first = _record(sessions)
    assert isinstance(first, int)
    assert _record(sessions) is None
    assert _record(sessions, vendor="freshdesk") is not None


def test_ticket_comment_is_unique_but_missing_comments_are_not(sessions):
    assert _record(sessions, delivery="d1", comment="c1") is not None
    assert _record(sessions, delivery="d2", comment="c1") is None
    assert _record(sessions, delivery="d3", comment=None) is not None
    assert _record(sessions, delivery="d4", comment=None) is not None


def test_inbox_defaults_and_aware_times(sessions):
    inbox_id = _record(sessions)
    with sessions() as s:
        event = s.get(InboxEvent, inbox_id)
        assert (event.status, event.attempts, event.last_error, event.processed_at) == ("queued", 0, None, None)
        assert event.received_at.tzinfo is not None
        assert abs(event.received_at - db.utcnow()) < dt.timedelta(minutes=1)


def _decision(ticket="1", trigger="c1"):
    return DecisionLog(vendor="zendesk", ticket_id=ticket, trigger_comment_id=trigger, action="escalate",
                       intent="refund_request", confidence=0.91, mode="draft", control=False,
                       decision_json={"action": "escalate", "reasons": ["négative", "x"], "score": 0.91},
                       write_json=None, model_version="m1")


def test_decision_and_key_commit_or_fail_together(sessions):
    with sessions.begin() as s:
        row = _decision()
        s.add(row)
        s.flush()
        s.add(Idempotency(vendor="zendesk", ticket_id="1", trigger_comment_id="c1", decision_id=row.id,
                          status="done"))
    with pytest.raises(IntegrityError):
        with sessions.begin() as s:
            again = _decision()
            s.add(again)
            s.flush()
            s.add(Idempotency(vendor="zendesk", ticket_id="1", trigger_comment_id="c1", decision_id=again.id,
                              status="pending"))
    with sessions() as s:
        [only] = s.scalars(select(DecisionLog)).all()
        assert only.decision_json["reasons"] == ["négative", "x"]
        assert only.decided_at.tzinfo is not None
        key = s.get(Idempotency, ("zendesk", "1", "c1"))
        assert (key.status, key.decision_id) == ("done", only.id)


def test_sqlite_runs_in_wal_with_a_busy_timeout(tmp_path):
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    with db.get_engine(url).connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000


def test_stored_errors_are_short_and_redacted():
    err = db.short_error(RuntimeError("customer jane@example.com said: " + "x" * 1000))
    assert err.startswith("RuntimeError: ") and "jane@example.com" not in err
    assert len(err) <= db.ERROR_CHARS
    assert db.short_error(ValueError()) == "ValueError"


def test_a_plain_postgresql_url_uses_the_driver_we_ship():
    """postgresql:// is what admins write; SQLAlchemy 2.1 maps it to psycopg 3, which is not installed."""
    from bot.db import get_engine, ping
    url = "postgresql://postgres@127.0.0.1:5432/test"
    assert get_engine(url).url.drivername == "postgresql+psycopg2"
    ping(url)
