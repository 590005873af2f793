"""Fakes and fixtures shared by the web, worker and database tests.

The fakes stand in for the real adapters and brain so these tests pin the runtime's own behaviour: a fake
adapter implements the HelpdeskAdapter protocol over an in-memory ticket, a fake brain returns a fixed
decision. The database fixture runs each test on SQLite and on a PostgreSQL database created for the run.
"""
from __future__ import annotations

import dataclasses
import json
import os
import uuid
from typing import Optional

import pytest
import redis
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from adapters.base import (Capabilities, Conflict, Ignored, LoadedTicket, WebhookEvent, WebhookRejected,
                           WriteResult)
from bot import db
from bot.brain.records import Decision, Message, Policy, Ticket
from bot.config import Settings

POSTGRES_URL = os.environ.get("BOT_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")
REDIS_TEST_URL = os.environ.get("BOT_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
TOKEN = "s3cret-token"


class FakeAdapter:
    """Token-checked webhooks with a JSON body {delivery_id, ticket_id, comment_id}; tickets in memory."""

    capabilities = Capabilities(combined_write=True, internal_notes=True, priority=True, groups=True,
                                tags_by_id=False, signed_webhooks=False, optimistic_locking=True)

    def __init__(self, vendor: str = "zendesk"):
        self.vendor = vendor
        self.tickets: dict[str, list[Message]] = {}
        self.latest: dict[str, str] = {}
        self.skip: dict[str, str] = {}
        self.bot_attempts = 0
        self.load_errors: list[BaseException] = []  # raised by load_ticket, one per call, then it works
        self.always_fail_load: Optional[BaseException] = None
        self.conflicts = 0  # apply raises Conflict this many times first
        self.on_conflict = lambda: None  # what changes on the ticket when it conflicts
        self.fail_after_write: Optional[BaseException] = None  # the write lands, then this is raised
        self.loads = 0
        self.writes: list[tuple[str, str, str]] = []

    # webhooks
    def verify_webhook(self, headers: dict, body: bytes, now: float) -> None:
        if headers.get("X-Test-Token") != TOKEN:
            raise WebhookRejected(401, "missing or wrong token")

    def parse_webhook(self, headers: dict, body: bytes):
        data = json.loads(body)  # deliberately unguarded: the app must turn a crash into a 400
        if data.get("ping"):
            return Ignored("ping")
        if "ticket_id" not in data or "delivery_id" not in data:
            raise WebhookRejected(400, "missing ticket_id or delivery_id")
        return WebhookEvent(vendor=self.vendor, delivery_id=str(data["delivery_id"]),
                            ticket_id=str(data["ticket_id"]), kind=data.get("kind", "comment_added"),
                            comment_id=None if data.get("comment_id") is None else str(data["comment_id"]))

    # tickets
    def add_ticket(self, ticket_id: str, comment_id: str = "c1", text_: str = "I forgot my password") -> None:
        self.tickets[ticket_id] = [Message(author="customer", body=text_, at="2026-09-01T10:00:00Z")]
        self.latest[ticket_id] = comment_id

    def load_ticket(self, ticket_id: str, trigger_comment_id: Optional[str] = None) -> LoadedTicket:
        self.loads += 1
        if self.always_fail_load is not None:
            raise self.always_fail_load
        if self.load_errors:
            raise self.load_errors.pop(0)
        messages = tuple(self.tickets[ticket_id])
        ticket = Ticket(id=ticket_id, vendor=self.vendor, messages=messages, created_at="2026-09-01T10:00:00Z")
        skip = self.skip.get(ticket_id)
        public = [m for m in messages if m.public]
        if skip is None and public and public[-1].author != "customer":  # the real adapters' loop guard
            skip = f"latest public comment is by the {public[-1].author}"
        return LoadedTicket(ticket=ticket, latest_customer_comment_id=self.latest[ticket_id], current_tags=(),
                            assignee_is_human=False, version=str(self.loads), bot_attempts=self.bot_attempts,
                            skip_reason=skip)

    def apply(self, loaded: LoadedTicket, decision: Decision, mode: str) -> WriteResult:
        if self.conflicts:
            self.conflicts -= 1
            self.on_conflict()
            raise Conflict("ticket changed")
        ticket_id = loaded.ticket.id
        self.writes.append((ticket_id, decision.action, mode))
        self.tickets[ticket_id].append(Message(author="bot", body="reply", public=mode == "auto"))
        if self.fail_after_write is not None:
            exc, self.fail_after_write = self.fail_after_write, None
            raise exc
        return WriteResult(calls=1, response_ids=(f"audit-{len(self.writes)}",), sent={"action": decision.action})

    def export_history(self, days, cursor=None):
        return iter(())

    def export_articles(self):
        return iter(())


def make_decision(ticket_id: str, action: str = "answer", mode: str = "draft") -> Decision:
    return Decision(ticket_id=ticket_id, action=action, intent="reset_password", confidence=0.93,
                    out_of_scope=False, sentiment=0.1, tone="neutral", reasons=("intent reset_password 0.93",),
                    article=None, reply="Here is how to reset it.", note="Intent reset_password (0.93)",
                    priority="normal", group=None, tags=("bot_answered",), mode=mode, model_version="test-model-1")


class VendorRefused(Exception):
    """Shaped like adapters.http.VendorError: a status the worker can read."""

    def __init__(self, status):
        super().__init__(f"vendor answered {status}")
        self.status = status


class FakeBrain:
    def __init__(self, policy: Optional[Policy] = None, action: str = "answer"):
        self.policy = policy or Policy(mode="draft", rollout_percent=100)
        self.model_version = "test-model-1"
        self.action = action
        self.seen: list[Ticket] = []

    def decide(self, ticket: Ticket) -> Decision:
        self.seen.append(ticket)
        return dataclasses.replace(make_decision(ticket.id, self.action), mode=self.policy.mode)


class FakeQueue:
    def __init__(self):
        self.enqueued: list[tuple[str, int]] = []
        self.deliveries: list[WebhookEvent] = []
        self.fail_enqueue = False
        self.fail_delivery = False
        self.down = False

    def enqueue(self, vendor: str, inbox_id: int) -> None:
        if self.fail_enqueue or self.down:
            raise ConnectionError("broker unavailable")
        self.enqueued.append((vendor, inbox_id))

    def enqueue_delivery(self, event: WebhookEvent) -> None:
        if self.fail_delivery or self.down:
            raise ConnectionError("broker unavailable")
        self.deliveries.append(event)

    def depth(self) -> int:
        if self.down:
            raise ConnectionError("broker unavailable")
        return len(self.enqueued)

    def ping(self) -> None:
        if self.down:
            raise ConnectionError("broker unavailable")


# --- fixtures ---------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def postgres_url():
    """A database of its own for this run, created through the given server and dropped afterwards."""
    if os.environ.get("BOT_SKIP_POSTGRES") == "1":
        pytest.skip("BOT_SKIP_POSTGRES=1: PostgreSQL tests skipped on request")
    base = make_url(POSTGRES_URL)
    name = f"bot_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        db.dispose_all()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'bot.db'}"
        return
    url = request.getfixturevalue("postgres_url")
    db.upgrade(Settings(database_url=url))
    yield url
    with db.get_engine(url).begin() as conn:
        conn.execute(text("TRUNCATE idempotency, decision_log, inbox_events RESTART IDENTITY CASCADE"))


def empty_redis(url: str):
    """A client on `url`'s database, emptied before and after (a generator for fixtures to yield from)."""
    client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        if os.environ.get("BOT_SKIP_REDIS") == "1":
            pytest.skip(f"BOT_SKIP_REDIS=1 and Redis at {url} is unreachable")
        raise RuntimeError(f"Redis at {url} is unreachable ({exc}); set BOT_SKIP_REDIS=1 to skip") from exc
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def redis_client():
    """Database 15 of the local Redis, emptied for each test."""
    yield from empty_redis(REDIS_TEST_URL)
