"""The web service: webhook intake, health and metrics (http.md).

A webhook handler only verifies, de-duplicates, records and enqueues, so it answers in milliseconds and
the vendor never times out and re-sends. Everything slow (loading the ticket, deciding, writing back) is
the worker's. The order of the steps is what keeps an accepted event from being lost:

- the inbox row is written before the task is enqueued, so if only the broker is down the event waits
  in the inbox and the sweeper enqueues it later (202);
- if only the database is down, the ids go to the broker in a task that writes the row itself (202);
- only when neither can take it is the answer 503, and then the de-duplication keys are released so the
  vendor's retry is not mistaken for a duplicate;
- Redis de-duplication is a fast path; when Redis is down the inbox's unique keys do the same job.

Bad input of any shape is a 4xx with a JSON reason, never a 500. Logs carry vendor, answer and ids only:
never a body, a header value or customer text.
"""
from __future__ import annotations

import logging
import threading
import os
import time
from dataclasses import dataclass
from typing import Any, Optional, Protocol

import redis
from flask import Flask, jsonify, request
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy import func, select
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import sessionmaker
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from adapters.base import Ignored, WebhookEvent, WebhookRejected
from bot import db
from bot.config import VENDORS, Settings, load_settings, require_webhook_secrets
from bot.db import InboxEvent
from bot.metrics import QUEUE_DEPTH, WEBHOOKS, record_vendor_call, render

log = logging.getLogger("bot.webhooks")

MAX_BODY = 1024 * 1024
DEDUPE_TTL = 3 * 24 * 3600  # longer than any vendor keeps retrying a delivery
ID_LIMITS = {"delivery_id": 255, "ticket_id": 64, "comment_id": 64, "kind": 32}  # the inbox columns
WORDS = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
         409: "conflict", 413: "too_large", 415: "unsupported_media_type", 422: "bad_request",
         429: "too_many_requests", 500: "error", 503: "unavailable"}


class Queue(Protocol):
    def enqueue(self, vendor: str, inbox_id: int) -> None: ...

    def enqueue_delivery(self, event: WebhookEvent) -> None: ...

    def depth(self) -> Optional[int]: ...

    def ping(self) -> None: ...


class Dedupe(Protocol):
    def claim(self, keys: list[str]) -> Optional[bool]: ...

    def release(self, keys: list[str]) -> None: ...


class CeleryQueue:
    """Sends tasks by name, so the web process needs no task code, only the broker."""

    RETRY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.1, "interval_max": 0.2}

    def __init__(self, settings: Settings):
        from bot.worker import QUEUE_NAME, make_celery

        self.celery = make_celery(settings)
        self.queue_name = QUEUE_NAME
        self.redis = fast_redis(settings.redis_url)
        self._local = threading.local()

    def _send(self, name: str, args: tuple) -> None:
        """One producer (one broker connection) per thread, kept: send_task's default takes a pooled
        connection per publish, and the connection's cache of declared queues and Redis client go with it,
        which cost a third of the web process's CPU per webhook (bench/webhook_ingest.py --profile)."""
        producer = getattr(self._local, "producer", None)
        if producer is None:
            producer = self._local.producer = self.celery.producer_pool.acquire(block=True)
        try:
            self.celery.send_task(name, args=args, retry_policy=self.RETRY, producer=producer)
        except Exception:
            self._local.producer = None  # a broken connection is not reused
            producer.release()
            raise

    def enqueue(self, vendor: str, inbox_id: int) -> None:
        self._send("bot.process_event", (vendor, inbox_id))

    def enqueue_delivery(self, event: WebhookEvent) -> None:
        self._send("bot.store_delivery", (event.vendor, event.delivery_id, event.ticket_id, event.comment_id,
                                          event.kind))

    def depth(self) -> Optional[int]:
        return int(self.redis.llen(self.queue_name))

    def ping(self) -> None:
        self.redis.ping()


def fast_redis(url: str) -> redis.Redis:
    """A client that fails at once: a webhook must answer in milliseconds, not wait out retries."""
    return redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0))


class RedisDedupe:
    """SET NX EX per key: the first delivery creates them, a repeat finds one there."""

    def __init__(self, client: redis.Redis, ttl: int = DEDUPE_TTL):
        self.client, self.ttl = client, ttl

    def claim(self, keys: list[str]) -> Optional[bool]:
        """True: new. False: seen before. None: Redis cannot say, so the inbox's unique keys decide."""
        try:
            pipe = self.client.pipeline(transaction=False)
            for key in keys:
                pipe.set(key, b"1", nx=True, ex=self.ttl)
            return all(pipe.execute())
        except redis.RedisError as exc:
            log.warning("dedupe unavailable, falling back to the inbox keys: %s", type(exc).__name__)
            return None

    def release(self, keys: list[str]) -> None:
        try:
            self.client.delete(*keys)
        except redis.RedisError:
            pass


class _Headers(dict):
    """A real dict whose lookups ignore case, as HTTP header names do; adapters may spell them any way."""

    def __init__(self, items):
        super().__init__((k.lower(), v) for k, v in items)

    def __getitem__(self, key):
        return super().__getitem__(key.lower())

    def __contains__(self, key):
        return isinstance(key, str) and super().__contains__(key.lower())

    def get(self, key, default=None):
        return super().get(key.lower(), default) if isinstance(key, str) else default


@dataclass
class Service:
    settings: Settings
    adapters: dict
    queue: Queue
    dedupe: Dedupe
    sessions: sessionmaker


def _default_adapters(settings: Settings) -> dict:
    enabled = [v for v in VENDORS if settings.vendor_enabled(v)]
    if not enabled:
        return {}
    from adapters.registry import get_adapter

    return {v: get_adapter(v, settings, on_call=record_vendor_call) for v in enabled}


def create_app(settings: Optional[Settings] = None, adapters: Optional[dict] = None, queue=None,
               dedupe=None) -> Flask:
    settings = settings or load_settings()
    require_webhook_secrets(settings)  # never serve an endpoint that cannot verify its vendor
    if not logging.getLogger().handlers:  # under gunicorn nothing else sets up Python logging
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if adapters is None:
        adapters = _default_adapters(settings)
    queue = queue or CeleryQueue(settings)
    dedupe = dedupe or RedisDedupe(fast_redis(settings.redis_url))
    try:
        db.upgrade(settings)
    except (OperationalError, InterfaceError) as exc:  # serve anyway: events can still go to the broker
        log.error("database unavailable at start, schema not checked: %s", db.short_error(exc))

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY
    service = Service(settings, dict(adapters), queue, dedupe, db.session_factory(settings.database_url))
    app.extensions["bot"] = service

    @app.post("/webhooks/<vendor>")
    def webhook(vendor: str):
        return _webhook(service, vendor)

    from webhooks.dashboard import dashboard
    app.register_blueprint(dashboard)

    @app.get("/healthz")
    def healthz():
        return _healthz(service)

    @app.get("/metrics")
    def metrics():
        _refresh_gauges(service)
        body, content_type = render()
        return app.response_class(body, content_type=content_type)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        code = exc.code or 500
        return _json(code, WORDS.get(code, "error"), (exc.name or "error").lower())

    @app.errorhandler(Exception)
    def crash(exc: Exception):
        log.error("unhandled %s on %s %s: %s", type(exc).__name__, request.method, request.path,
                  db.short_error(exc))
        return _json(500, "error", "internal error")

    return app


def _json(code: int, status: str, reason: str):
    return jsonify(status=status, reason=reason), code


def _answer(vendor: str, code: int, status: str, reason: str, event: Optional[WebhookEvent] = None):
    WEBHOOKS.labels(vendor, status).inc()
    ids = f" delivery={event.delivery_id} ticket={event.ticket_id}" if event is not None else ""
    log.info("webhook %s %d %s (%s)%s", vendor, code, status, reason, ids)
    return _json(code, status, reason)


def _rejected(vendor: str, exc: WebhookRejected, default: int):
    code = exc.status if isinstance(exc.status, int) and 400 <= exc.status < 500 else default
    return _answer(vendor, code, WORDS.get(code, "bad_request"), str(exc.reason)[:200])


def _webhook(service: Service, vendor: str):
    adapter = service.adapters.get(vendor)
    if adapter is None:
        return _answer(vendor if vendor in VENDORS else "unknown", 404, "not_found", "vendor not enabled")
    if request.content_length is not None and request.content_length > MAX_BODY:
        return _answer(vendor, 413, "too_large", "body over 1 MiB")
    if request.mimetype != "application/json":
        return _answer(vendor, 415, "unsupported_media_type", "content type must be application/json")
    body = _read_body()
    if body is None:
        return _answer(vendor, 413, "too_large", "body over 1 MiB")

    headers = _Headers(request.headers.items())
    try:
        adapter.verify_webhook(headers, body, time.time())
    except WebhookRejected as exc:
        return _rejected(vendor, exc, 401)
    except Exception as exc:
        log.warning("%s verify_webhook raised %s", vendor, type(exc).__name__)
        return _answer(vendor, 401, "unauthorized", "could not verify the signature")
    try:
        parsed = adapter.parse_webhook(headers, body)
    except WebhookRejected as exc:
        return _rejected(vendor, exc, 400)
    except Exception as exc:
        log.warning("%s parse_webhook raised %s", vendor, type(exc).__name__)
        return _answer(vendor, 400, "bad_request", "payload could not be read")
    if isinstance(parsed, Ignored):
        return _answer(vendor, 200, "ignored", parsed.reason)
    problem = _check_event(parsed, vendor)
    if problem:
        return _answer(vendor, 400, "bad_request", problem)
    return _accept(service, vendor, parsed)


def _read_body() -> Optional[bytes]:
    """The body, or None when it is over the limit (Content-Length checked before, the actual read here)."""
    try:
        body = request.get_data(cache=True)
        if len(body) >= MAX_BODY and request.content_length != len(body):
            # a stream without a (usable) Content-Length is cut at the limit: one more byte means longer
            if request.environ["wsgi.input"].read(1):
                return None
    except RequestEntityTooLarge:
        return None
    return body if len(body) <= MAX_BODY else None


def _check_event(event: Any, vendor: str) -> Optional[str]:
    if not isinstance(event, WebhookEvent) or event.vendor != vendor:
        return "payload could not be read"
    for name, limit in ID_LIMITS.items():
        value = getattr(event, name)
        if value is None and name == "comment_id":
            continue
        if not isinstance(value, str) or not value or len(value) > limit:
            return f"{name} missing or longer than {limit} characters"
    return None


def _stored_before(service: Service, vendor: str, event: WebhookEvent) -> bool:
    """Redis says seen; the inbox says whether it was kept. A process that died between the Redis claim and
    the inbox write (or a 503 whose release failed) must not turn the vendor's retry into a lost event."""
    try:
        return db.inbox_has(service.sessions, vendor=vendor, delivery_id=event.delivery_id,
                            ticket_id=event.ticket_id, comment_id=event.comment_id)
    except Exception as exc:  # cannot tell: go on; the inbox's unique keys or the worker settle it
        log.warning("%s inbox check failed: %s", vendor, db.short_error(exc))
        return False


def _accept(service: Service, vendor: str, event: WebhookEvent):
    keys = [f"bot:dedupe:{vendor}:delivery:{event.delivery_id}"]
    if event.comment_id:
        keys.append(f"bot:dedupe:{vendor}:comment:{event.ticket_id}:{event.comment_id}")
    if service.dedupe.claim(keys) is False and _stored_before(service, vendor, event):
        return _answer(vendor, 200, "duplicate", "delivery seen before", event)

    try:
        inbox_id = db.record_inbox(service.sessions, vendor=vendor, delivery_id=event.delivery_id,
                                   ticket_id=event.ticket_id, comment_id=event.comment_id, kind=event.kind)
    except Exception as exc:
        log.warning("%s inbox write failed: %s", vendor, db.short_error(exc))
        try:
            service.queue.enqueue_delivery(event)
        except Exception as qexc:
            log.error("%s inbox and queue both unavailable: %s", vendor, db.short_error(qexc))
            service.dedupe.release(keys)
            return _answer(vendor, 503, "unavailable", "could not store or enqueue the event; retry", event)
        return _answer(vendor, 202, "queued", "queued (inbox unavailable)", event)
    if inbox_id is None:
        return _answer(vendor, 200, "duplicate", "delivery already in the inbox", event)
    try:
        service.queue.enqueue(vendor, inbox_id)
    except Exception as exc:
        log.warning("%s enqueue failed, the sweeper will pick up inbox %s: %s", vendor, inbox_id,
                    db.short_error(exc))
        return _answer(vendor, 202, "queued", "stored; will be enqueued shortly", event)
    return _answer(vendor, 202, "queued", "queued", event)


# --- health and metrics -----------------------------------------------------------------------------

def _inbox_counts(service: Service) -> dict[str, int]:
    with service.sessions() as session:
        rows = session.execute(select(InboxEvent.status, func.count()).group_by(InboxEvent.status)).all()
    return {status: count for status, count in rows}


def _model_state(settings: Settings) -> str:
    """The web process never loads the model; it checks that the worker will find one. An unset model is
    reported but not 'down': events are still stored, and a fresh install must pass health to be set up."""
    paths = (settings.model_dir, settings.intents_path, settings.articles_path)
    if not all(paths):
        return "not configured"
    return "ok" if all(os.path.exists(p) for p in paths) else "missing"


def _healthz(service: Service):
    out: dict[str, Any] = {}
    try:
        db.ping(service.settings.database_url)
        out["database"] = "ok"
        out["parked_events"] = _inbox_counts(service).get("parked", 0)
    except Exception as exc:
        out["database"], out["parked_events"] = "down", None
        log.warning("healthz: database down: %s", db.short_error(exc))
    try:
        service.queue.ping()
        out["broker"] = "ok"
        out["queue_depth"] = service.queue.depth()
    except Exception as exc:
        out["broker"], out["queue_depth"] = "down", None
        log.warning("healthz: broker down: %s", db.short_error(exc))
    out["model"] = _model_state(service.settings)
    down = out["database"] != "ok" or out["broker"] != "ok" or out["model"] == "missing"
    out["status"] = "down" if down else "ok"
    return jsonify(out), 503 if down else 200


def _refresh_gauges(service: Service) -> None:
    try:
        depth = service.queue.depth()
        if depth is not None:
            QUEUE_DEPTH.labels("broker").set(depth)
    except Exception:
        pass
    try:
        counts = _inbox_counts(service)
    except Exception:
        return
    QUEUE_DEPTH.labels("inbox").set(counts.get("queued", 0) + counts.get("processing", 0))
    QUEUE_DEPTH.labels("parked").set(counts.get("parked", 0))
