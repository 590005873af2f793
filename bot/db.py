"""The bot's own tables: the inbox of webhook deliveries, the decision log and the idempotency keys.

The same models run on SQLite (the default, one file, for a single host and the demo) and PostgreSQL
(production). The schema is owned by the Alembic migrations in `migrations/`, not by `create_all`, so a
running installation is upgraded the same way it was created; `upgrade()` is called by the web app and the
worker on start. Times are stored in UTC and always come back timezone-aware, whatever the backend.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import os
import threading
import zlib
from pathlib import Path
from typing import Iterator, Optional

from sqlalchemy import (JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, TypeDecorator,
                        UniqueConstraint, create_engine, event, text)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

from bot.brain.text import redact

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
INBOX_STATUSES = ("queued", "processing", "done", "ignored", "parked")
ERROR_CHARS = 300


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class UTCDateTime(TypeDecorator):
    """SQLite drops the zone on the way back; comparing naive and aware times would raise in Python."""
    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc)
        return value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        return value


class Base(DeclarativeBase):
    pass


class InboxEvent(Base):
    """One accepted delivery. Written before the task is enqueued, so a lost task is found by the sweeper."""
    __tablename__ = "inbox_events"
    __table_args__ = (
        UniqueConstraint("vendor", "delivery_id", name="uq_inbox_vendor_delivery"),
        # The second de-duplication key (vendor + ticket + comment) for when Redis is down.
        Index("uq_inbox_vendor_ticket_comment", "vendor", "ticket_id", "comment_id", unique=True,
              sqlite_where=text("comment_id IS NOT NULL"), postgresql_where=text("comment_id IS NOT NULL")),
        Index("ix_inbox_status_updated", "status", "updated_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    vendor: Mapped[str] = mapped_column(String(16))
    delivery_id: Mapped[str] = mapped_column(String(255))
    ticket_id: Mapped[str] = mapped_column(String(64))
    comment_id: Mapped[Optional[str]] = mapped_column(String(64), nullable=True)
    kind: Mapped[str] = mapped_column(String(32))
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[Optional[str]] = mapped_column(String(ERROR_CHARS), nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    retry_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime, nullable=True)
    processed_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime, nullable=True)


class DecisionLog(Base):
    """Every decision, acted on or not: control-group rows are what the report compares against."""
    __tablename__ = "decision_log"
    __table_args__ = (Index("ix_decision_log_ticket", "vendor", "ticket_id"),
                      Index("ix_decision_log_decided_at", "decided_at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    vendor: Mapped[str] = mapped_column(String(16))
    ticket_id: Mapped[str] = mapped_column(String(64))
    trigger_comment_id: Mapped[str] = mapped_column(String(64), default="")
    inbox_id: Mapped[Optional[int]] = mapped_column(Integer, nullable=True)
    decided_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    action: Mapped[str] = mapped_column(String(16))
    intent: Mapped[Optional[str]] = mapped_column(String(128), nullable=True)
    confidence: Mapped[float] = mapped_column(Float, default=0.0)
    mode: Mapped[str] = mapped_column(String(16))
    control: Mapped[bool] = mapped_column(Boolean, default=False)
    decision_json: Mapped[dict] = mapped_column(JSON)
    write_json: Mapped[Optional[dict]] = mapped_column(JSON, nullable=True)
    model_version: Mapped[str] = mapped_column(String(128), default="")


class Idempotency(Base):
    """The key that makes a write happen at most once per (vendor, ticket, trigger comment).

    `pending` is inserted, with the decision, before the vendor is called; `claimed_at` says a writer is
    in flight (NULL once it gave up), `claim_token` lets that writer recognise its own claim. See
    bot/worker.py for the reasoning.
    """
    __tablename__ = "idempotency"

    vendor: Mapped[str] = mapped_column(String(16), primary_key=True)
    ticket_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    trigger_comment_id: Mapped[str] = mapped_column(String(64), primary_key=True)  # "" when unknown
    decision_id: Mapped[Optional[int]] = mapped_column(ForeignKey("decision_log.id"), nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | done
    claim_token: Mapped[Optional[str]] = mapped_column(String(64), nullable=True)
    claimed_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


# --- engines and sessions ---------------------------------------------------------------------------

_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    # WAL lets the web app insert while a worker writes; busy_timeout waits instead of failing at once.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def get_engine(database_url: str) -> Engine:
    """One engine per URL per process, created on first use."""
    with _engines_lock:
        engine = _engines.get(database_url)
        if engine is None:
            url = make_url(database_url)
            if url.drivername in ("postgresql", "postgres"):  # SQLAlchemy 2.1 would pick psycopg 3; we ship psycopg2
                url = url.set(drivername="postgresql+psycopg2")
            if url.get_backend_name() == "sqlite":
                engine = create_engine(url, connect_args={"timeout": 5})
                event.listen(engine, "connect", _sqlite_pragmas)
            else:
                engine = create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5,
                                       connect_args={"connect_timeout": 5})
            _engines[database_url] = engine
        return engine


def _forget_parent_pools() -> None:
    # A forked child (Celery prefork, gunicorn --preload) must not use its parent's open connections.
    for engine in _engines.values():
        engine.dispose(close=False)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_parent_pools)


def session_factory(database_url: str) -> sessionmaker:
    return sessionmaker(get_engine(database_url), expire_on_commit=False)


def dispose_all() -> None:
    with _engines_lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


def ping(database_url: str) -> None:
    with get_engine(database_url).connect() as conn:
        conn.execute(text("SELECT 1"))


def record_inbox(sessions: sessionmaker, *, vendor: str, delivery_id: str, ticket_id: str,
                 comment_id: Optional[str], kind: str) -> Optional[int]:
    """The new row's id, or None when a unique key says this delivery is already in the inbox.

    The unique keys are the de-duplication of last resort (Redis may be down or may have expired the key),
    so a violation here is an answer, not an error.
    """
    now = utcnow()
    row = InboxEvent(vendor=vendor, delivery_id=delivery_id, ticket_id=ticket_id, comment_id=comment_id,
                     kind=kind, received_at=now, status="queued", attempts=0, updated_at=now)
    try:
        with sessions.begin() as session:
            session.add(row)
    except IntegrityError:
        return None
    return row.id


def inbox_has(sessions: sessionmaker, *, vendor: str, delivery_id: str, ticket_id: str,
              comment_id: Optional[str]) -> bool:
    """Whether the inbox already holds this delivery (by either unique key): the authority behind Redis."""
    from sqlalchemy import or_, select
    keys = [InboxEvent.delivery_id == delivery_id]
    if comment_id:
        keys.append((InboxEvent.ticket_id == ticket_id) & (InboxEvent.comment_id == comment_id))
    with sessions() as session:
        found = session.execute(select(InboxEvent.id).where(InboxEvent.vendor == vendor, or_(*keys)).limit(1))
        return found.first() is not None


# --- migrations -------------------------------------------------------------------------------------

@contextlib.contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    """Two gunicorn workers start together; without a lock both see an empty schema and both create it."""
    backend = engine.url.get_backend_name()
    if backend == "postgresql":
        key = zlib.crc32(b"supportbot-migrations")
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})
            conn.commit()
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()
        return
    path = engine.url.database if backend == "sqlite" else None
    if not path or path == ":memory:":
        yield
        return
    try:
        import fcntl
    except ImportError:  # not POSIX: single-process use only
        yield
        return
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(f"{path}.migrate-lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def alembic_config(database_url: str):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


def upgrade(settings) -> None:
    """`alembic upgrade head` on settings.database_url, safe to run from several processes at once."""
    from alembic import command

    engine = get_engine(settings.database_url)
    with _migration_lock(engine):
        with engine.begin() as conn:
            cfg = alembic_config(settings.database_url)
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")


# --- what may be stored about a failure -------------------------------------------------------------

def short_error(exc: BaseException) -> str:
    """A failure as stored and logged: type plus a redacted, truncated message, never SQL parameters."""
    source = getattr(exc, "orig", None) or exc  # a DBAPI error's own text, without the statement
    lines = str(source).strip().splitlines()
    out = type(exc).__name__ + (f": {redact(lines[0])}" if lines else "")
    return out[: ERROR_CHARS - 3] + "..." if len(out) > ERROR_CHARS else out
