"""The Celery worker: turns one inbox event into at most one write on the helpdesk.

Tasks take ids, never objects: the inbox row is the source of truth, so a task re-delivered after a crash
(acks are late, a lost worker's task is rejected back to the queue) or re-queued by the sweeper reads the
current state and carries on from there.

Why the write is ordered the way it is. A task can die at any instant, and the vendor's API and our
database cannot commit together. Writing to the vendor first and recording afterwards would post a second
reply whenever the process died in between and the task ran again. So, per (vendor, ticket, trigger
comment):

1. one transaction inserts the decision-log row and an idempotency row `pending`, claimed by this run
   (`claim_token`, `claimed_at`); a second run hits the primary key and learns that someone got there first;
2. the adapter writes to the vendor;
3. one transaction sets the idempotency row `done`, stores what was sent and the vendor's response ids on
   the decision-log row, and marks the inbox event `done`.

A run that finds the row `pending` does not post blindly. If the claim is live (younger than the lease,
which is longer than the task's hard time limit, so its owner may still be writing) it retries later. If
the claim was released (the writer failed and said so) or has expired (the writer was killed), it reads the
ticket: a bot message after the latest customer message means the earlier write landed, and the row is
closed as done without writing; otherwise nothing reached the customer and this run takes the claim over
(compare-and-set, so two runs cannot both take it) and writes. The price is that a write which half-landed
(a reply posted, the tags not) is closed rather than completed; that is the safe side for "never post
twice". Shadow mode and the control group write nothing, so they record decision, key and inbox state in
one transaction.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
import os
import random
import threading
import time
import uuid
from typing import Optional

from celery import Celery, signals
from celery.schedules import crontab
from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import IntegrityError

from adapters.base import Conflict, LoadedTicket
from bot import db, jobs
from bot.brain.guards import leave_to_humans
from bot.config import Settings, load_settings
from bot.db import DecisionLog, Idempotency, InboxEvent, utcnow
from bot.errors import BadInput
from bot.metrics import DECISION_LATENCY, DECISIONS, record_vendor_call

log = logging.getLogger("bot.worker")

MAX_FAILURES = 5
CONFLICT_TRIES = 3
TASK_SOFT_LIMIT = 240  # seconds: a load and a write, each within the vendor client's 60 s budget
TASK_HARD_LIMIT = 300
PENDING_LEASE = dt.timedelta(seconds=TASK_HARD_LIMIT + 60)  # no live writer can hold a claim this long
QUEUED_DEADLINE = dt.timedelta(minutes=2)
PROCESSING_DEADLINE = dt.timedelta(seconds=TASK_HARD_LIMIT + 120)
SWEEP_BATCH = 500
BRAIN_CHECK_SECONDS = 30.0
FINAL = ("done", "ignored", "parked")
QUEUE_NAME = "celery"


class NotConfigured(Exception):
    """A setting the task needs is absent; retried (an operator may fix it) and parked in the end."""


class InFlight(Exception):
    def __init__(self, message: str, retry_after: float):
        super().__init__(message)
        self.retry_after = retry_after


class TooManyConflicts(Exception):
    """The ticket kept changing under us; try again later rather than spin."""


def make_celery(settings: Settings) -> Celery:
    app = Celery("bot", set_as_current=False)
    app.conf.update(
        broker_url=settings.redis_url,
        broker_transport="bot.broker:Transport",  # kombu's Redis transport, one publishing client per channel
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        task_soft_time_limit=TASK_SOFT_LIMIT,
        task_time_limit=TASK_HARD_LIMIT,
        task_default_queue=QUEUE_NAME,
        broker_connection_retry_on_startup=True,
        # Countdowns stay far below the visibility timeout, or Redis would hand the task out twice.
        broker_transport_options={"visibility_timeout": 3600, "socket_connect_timeout": 2},
        timezone="UTC",
        beat_schedule={
            "sweep-inbox": {"task": "bot.sweep_inbox", "schedule": 60.0},
            "sync-articles": {"task": "bot.sync_articles", "schedule": crontab(minute=7)},
            "sync-history": {"task": "bot.sync_history", "schedule": crontab(hour=2, minute=17)},
            "retrain": {"task": "bot.retrain", "schedule": crontab(day_of_week="sun", hour=3, minute=31)},
            "weekly-report": {"task": "bot.weekly_report", "schedule": crontab(day_of_week="mon", hour=6, minute=3)},
        },
    )
    return app


SETTINGS = load_settings()
app = make_celery(SETTINGS)
celery = app


class Runtime:
    """What a worker process keeps between tasks: settings, sessions, adapters and the brain (loaded once)."""

    def __init__(self, settings: Settings, adapters: Optional[dict] = None, brain=None):
        self.settings = settings
        self.sessions = db.session_factory(settings.database_url)
        self._adapters = dict(adapters or {})
        self._brain = brain
        self._stamp: Optional[tuple] = None
        self._checked = 0.0
        self._lock = threading.Lock()

    def adapter(self, vendor: str):
        with self._lock:
            if vendor not in self._adapters:
                if not self.settings.vendor_enabled(vendor):
                    raise NotConfigured(f"vendor {vendor} is not enabled")
                from adapters.registry import get_adapter
                self._adapters[vendor] = get_adapter(vendor, self.settings, on_call=record_vendor_call)
            return self._adapters[vendor]

    def brain(self):
        """The brain, reloaded when the model, intents or articles files change (the hourly article sync
        and the weekly retrain swap files in place; workers pick them up without a restart). The files'
        stamps are looked at no more than every BRAIN_CHECK_SECONDS."""
        with self._lock:
            s = self.settings
            if self._brain is not None and not s.model_dir:
                return self._brain  # injected (tests)
            now = time.monotonic()
            if self._brain is not None and now - self._checked < BRAIN_CHECK_SECONDS:
                return self._brain
            self._checked = now
            if not (s.model_dir and s.intents_path and s.articles_path):
                raise NotConfigured("BOT_MODEL, BOT_INTENTS and BOT_ARTICLES must be set to decide")
            from bot.model_store import META_FILE, load_brain
            stamp = tuple(_mtime(p) for p in (os.path.join(s.model_dir, META_FILE), s.intents_path, s.articles_path))
            if self._brain is None or stamp != self._stamp:
                self._brain = load_brain(s.model_dir, s.intents_path, s.articles_path)
                if self._stamp is not None:
                    log.info("brain reloaded: model %s", self._brain.model_version)
                self._stamp = stamp
            return self._brain


def _mtime(path: str) -> float:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return 0.0


_runtime: Optional[Runtime] = None


def configure(settings: Optional[Settings] = None, adapters: Optional[dict] = None, brain=None) -> Runtime:
    global _runtime
    _runtime = Runtime(settings or SETTINGS, adapters, brain)
    return _runtime


def runtime() -> Runtime:
    return _runtime or configure()


@signals.worker_init.connect
def _upgrade_schema(**_kwargs) -> None:
    db.upgrade(SETTINGS)
    db.dispose_all()  # the pool must not be inherited by the forked children


def in_rollout(ticket_id: str, percent: int) -> bool:
    """sha256, not hash(): str hashes are salted per process, and a ticket must land in the same group in
    every worker, on every retry and after a restart. Raising the percent only ever adds tickets."""
    if percent >= 100:
        return True
    if percent <= 0:
        return False
    digest = hashlib.sha256(str(ticket_id).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % 100 < percent


# --- the task ---------------------------------------------------------------------------------------

@app.task(bind=True, name="bot.process_event", max_retries=None)
def process_event(self, vendor: str, inbox_id: int) -> str:
    rt = runtime()
    try:
        return handle_event(rt, vendor, int(inbox_id))
    except Exception as exc:
        countdown = record_failure(rt, int(inbox_id), exc)
        if countdown is None:
            return "parked"
        raise self.retry(exc=exc, countdown=countdown)


@app.task(bind=True, name="bot.store_delivery", max_retries=None)
def store_delivery(self, vendor: str, delivery_id: str, ticket_id: str, comment_id: Optional[str],
                   kind: str) -> str:
    """The web app could enqueue but not write the inbox row: write it here, then process as usual."""
    rt = runtime()
    try:
        inbox_id = db.record_inbox(rt.sessions, vendor=vendor, delivery_id=delivery_id, ticket_id=ticket_id,
                                   comment_id=comment_id, kind=kind)
    except Exception as exc:
        log.warning("store_delivery %s %s: %s", vendor, delivery_id, db.short_error(exc))
        raise self.retry(exc=exc, countdown=min(600, 30 * 2 ** self.request.retries))  # answered 202: keep it
    if inbox_id is None:
        return "duplicate"
    process_event.delay(vendor, inbox_id)  # if this fails, the sweeper finds the queued row
    return "stored"


def handle_event(rt: Runtime, vendor: str, inbox_id: int) -> str:
    with rt.sessions.begin() as s:
        event = s.get(InboxEvent, inbox_id)
        if event is None or event.vendor != vendor:
            log.warning("inbox event %s (%s) not found", inbox_id, vendor)
            return "missing"
        if event.status in FINAL:
            return event.status
        event.status, event.updated_at, event.retry_at = "processing", utcnow(), None
        ticket_id, comment_id = event.ticket_id, event.comment_id

    brain, adapter = rt.brain(), rt.adapter(vendor)  # a missing model costs no vendor calls
    token, key, holding = uuid.uuid4().hex, None, False
    try:
        for _ in range(CONFLICT_TRIES):
            loaded = adapter.load_ticket(ticket_id, comment_id)
            latest = loaded.latest_customer_comment_id
            if key is None:  # fixed on the first load: the trigger is the comment this event is about
                key = (vendor, ticket_id, comment_id or latest or "")
            # before the loop guards, which after a landed reply say "latest comment is the bot's"
            if _settle_earlier_write(rt, key, token, loaded, inbox_id):
                return "done"
            if loaded.skip_reason:
                return _finish(rt, inbox_id, "ignored", loaded.skip_reason)
            handed_over = leave_to_humans(loaded.ticket)
            if handed_over:
                return _finish(rt, inbox_id, "ignored", handed_over)
            if key[2] and latest and key[2] != latest:
                return _finish(rt, inbox_id, "ignored", "superseded by a newer customer comment")

            percent = (rt.settings.rollout_override if rt.settings.rollout_override is not None
                       else brain.policy.rollout_percent)
            mode = rt.settings.mode_override or brain.policy.mode
            control = not in_rollout(ticket_id, percent)
            decision = _decide(brain, loaded, mode, "control" if control else mode)
            if control or mode == "shadow":
                return _record_untouched(rt, key, inbox_id, decision, control)

            decision_id = _claim(rt, key, token, inbox_id, decision)
            if decision_id is None:
                return "done"
            holding = True
            try:
                result = adapter.apply(loaded, decision, mode)
            except Conflict:
                continue  # nothing was written: re-load, decide again, keep the claim
            holding = False  # the write landed: from here the claim is only ever closed, never released
            _complete(rt, key, inbox_id, decision_id, result)
            return "written"
        raise TooManyConflicts(f"ticket changed {CONFLICT_TRIES} times while deciding")
    finally:
        if holding:  # gave up without a landed write (error, loop guard after a conflict, conflicts)
            _release(rt, key, token)


def _decide(brain, loaded: LoadedTicket, mode: str, label: str):
    ticket = dataclasses.replace(loaded.ticket, attempts=loaded.bot_attempts)
    started = time.perf_counter()
    decision = brain.decide(ticket)
    DECISION_LATENCY.observe(time.perf_counter() - started)
    DECISIONS.labels(decision.action, label).inc()
    return decision if decision.mode == mode else dataclasses.replace(decision, mode=mode)


def _fill(row: DecisionLog, decision, control: bool) -> DecisionLog:
    row.decided_at = utcnow()
    row.action, row.intent, row.confidence = decision.action, decision.intent, float(decision.confidence)
    row.mode, row.control, row.model_version = decision.mode, control, decision.model_version or ""
    row.decision_json = decision.to_json()
    return row


def _new_row(key: tuple, inbox_id: int, decision, control: bool) -> DecisionLog:
    vendor, ticket_id, trigger = key
    return _fill(DecisionLog(vendor=vendor, ticket_id=ticket_id, trigger_comment_id=trigger,
                             inbox_id=inbox_id), decision, control)


def _mark_inbox(session, inbox_id: int, status: str, note: Optional[str] = None) -> None:
    """Done is never downgraded: a concurrent run that saw our reply as 'latest comment is the bot's'."""
    now = utcnow()
    values = dict(status=status, updated_at=now, processed_at=now, retry_at=None)
    if note is not None:
        values["last_error"] = note[: db.ERROR_CHARS]
    session.execute(update(InboxEvent).where(InboxEvent.id == inbox_id, InboxEvent.status != "done")
                    .values(**values))


def _finish(rt: Runtime, inbox_id: int, status: str, note: Optional[str] = None) -> str:
    with rt.sessions.begin() as s:
        _mark_inbox(s, inbox_id, status, note)
    return status


def _record_untouched(rt: Runtime, key: tuple, inbox_id: int, decision, control: bool) -> str:
    now = utcnow()
    try:
        with rt.sessions.begin() as s:
            row = _new_row(key, inbox_id, decision, control)
            s.add(row)
            s.flush()
            s.add(Idempotency(vendor=key[0], ticket_id=key[1], trigger_comment_id=key[2], decision_id=row.id,
                              status="done", created_at=now, updated_at=now))
            _mark_inbox(s, inbox_id, "done")
    except IntegrityError:  # another run recorded this trigger first
        _finish(rt, inbox_id, "done")
    return "control" if control else "shadow"


def _claim_is_live(idem: Idempotency, token: str, now: dt.datetime) -> bool:
    return (idem.claim_token not in (None, token) and idem.claimed_at is not None
            and now - idem.claimed_at < PENDING_LEASE)


def _settle_earlier_write(rt: Runtime, key: tuple, token: str, loaded: LoadedTicket, inbox_id: int) -> bool:
    """True when this trigger needs nothing more: its key is done, or an abandoned pending write is
    found on the ticket (then the key is closed as done without writing again)."""
    now = utcnow()
    with rt.sessions.begin() as s:
        idem = s.get(Idempotency, key)
        if idem is None:
            return False
        if idem.status == "done":
            _mark_inbox(s, inbox_id, "done")
            return True
        # Our own claim too: after a Conflict our write may have landed with its answer lost (a retried PUT
        # then meets its own change as a 409), so the ticket is the judge, not the claim.
        if (idem.claim_token != token and _claim_is_live(idem, token, now)) or not _bot_replied(loaded):
            return False
        closed = s.execute(update(Idempotency).where(_same_claim(key, idem)).values(
            status="done", claim_token=None, claimed_at=None, updated_at=now))
        if closed.rowcount != 1:
            return False  # someone else moved it; _claim sorts it out
        row = s.get(DecisionLog, idem.decision_id)
        row.write_json = {"recovered": "a bot message follows the trigger: an earlier run wrote it",
                          "at": now.isoformat()}
        _mark_inbox(s, inbox_id, "done")
    log.warning("%s ticket %s: earlier write found on the ticket, not writing again", key[0], key[1])
    return True


def _claim(rt: Runtime, key: tuple, token: str, inbox_id: int, decision) -> Optional[int]:
    """The decision-log row id this run may write for, or None when the key turned out to be done."""
    now = utcnow()
    try:
        with rt.sessions.begin() as s:
            row = _new_row(key, inbox_id, decision, control=False)
            s.add(row)
            s.flush()
            s.add(Idempotency(vendor=key[0], ticket_id=key[1], trigger_comment_id=key[2], decision_id=row.id,
                              status="pending", claim_token=token, claimed_at=now, created_at=now,
                              updated_at=now))
        return row.id
    except IntegrityError:
        pass
    # The key exists: ours (after a conflict), or pending from a run that gave up or died, and whose
    # write _settle_earlier_write did not find on the ticket.
    with rt.sessions.begin() as s:
        idem = s.get(Idempotency, key)
        if idem is None:  # the insert failed on something else; let the retry sort it out
            raise InFlight("could not claim the idempotency key", retry_after=30)
        if idem.status == "done":
            _mark_inbox(s, inbox_id, "done")
            return None
        if _claim_is_live(idem, token, now):
            left = (idem.claimed_at + PENDING_LEASE - now).total_seconds()
            raise InFlight("another run is writing this reply", retry_after=left)
        taken = s.execute(update(Idempotency).where(_same_claim(key, idem)).values(
            claim_token=token, claimed_at=now, updated_at=now))
        if taken.rowcount != 1:
            raise InFlight("the claim changed hands", retry_after=30)
        _fill(s.get(DecisionLog, idem.decision_id), decision, control=False)
        return idem.decision_id


def _same_claim(key: tuple, idem: Idempotency):
    """Compare-and-set on the claim as it was read, so of two runs taking over only one succeeds."""
    token = idem.claim_token
    return and_(_key_is(key), Idempotency.status == "pending",
                Idempotency.claim_token.is_(None) if token is None else Idempotency.claim_token == token)


def _key_is(key: tuple):
    return and_(Idempotency.vendor == key[0], Idempotency.ticket_id == key[1],
                Idempotency.trigger_comment_id == key[2])


def _bot_replied(loaded: LoadedTicket) -> bool:
    """A bot message (reply or internal note) after the latest customer message: the trigger was handled.
    Superseded triggers are ignored before this point, so the latest customer message is the trigger."""
    messages = loaded.ticket.messages
    last_customer = max((i for i, m in enumerate(messages) if m.author == "customer"), default=-1)
    return any(m.author == "bot" for m in messages[last_customer + 1:])


def _release(rt: Runtime, key: tuple, token: str) -> None:
    """Say the write failed: the next run need not wait for the lease, only check the ticket."""
    try:
        with rt.sessions.begin() as s:
            s.execute(update(Idempotency).where(
                _key_is(key), Idempotency.status == "pending", Idempotency.claim_token == token).values(claim_token=None, claimed_at=None, updated_at=utcnow()))
    except Exception as exc:  # the lease expires on its own
        log.warning("could not release claim on %s ticket %s: %s", key[0], key[1], db.short_error(exc))


def _complete(rt: Runtime, key: tuple, inbox_id: int, decision_id: int, result) -> None:
    now = utcnow()
    with rt.sessions.begin() as s:
        s.execute(update(Idempotency).where(_key_is(key)).values(
            status="done", claim_token=None, claimed_at=None, updated_at=now))
        s.get(DecisionLog, decision_id).write_json = {
            "sent": result.sent, "response_ids": list(result.response_ids), "calls": result.calls,
            "at": now.isoformat()}
        _mark_inbox(s, inbox_id, "done")


def record_failure(rt: Runtime, inbox_id: int, exc: BaseException) -> Optional[float]:
    """Seconds until the retry, or None when the event is parked (or needs no retry)."""
    error = db.short_error(exc)
    now = utcnow()
    with rt.sessions.begin() as s:
        event = s.get(InboxEvent, inbox_id)
        if event is None or event.status in FINAL:
            return None
        event.attempts += 1
        event.last_error, event.updated_at = error, now
        if event.attempts >= MAX_FAILURES or _permanent(exc):
            event.status, event.retry_at = "parked", None
            log.error("parked %s event %s (ticket %s) after %d attempt(s): %s",
                      event.vendor, inbox_id, event.ticket_id, event.attempts, error)
            return None
        countdown = min(600.0, 30.0 * 2 ** (event.attempts - 1)) * random.uniform(1.0, 1.25)
        if isinstance(exc, InFlight):
            countdown = max(countdown, exc.retry_after)
        event.status, event.retry_at = "queued", now + dt.timedelta(seconds=countdown)
        log.warning("%s event %s failed (attempt %d), retry in %.0fs: %s",
                    event.vendor, inbox_id, event.attempts, countdown, error)
        return countdown


def _permanent(exc: BaseException) -> bool:
    """Retrying cannot help: bad input, or the vendor refused the request itself (not a conflict or a rate
    limit). Parked at once, with the reason, for a person to look at."""
    status = getattr(exc, "status", None)
    return isinstance(exc, BadInput) or (isinstance(status, int) and 400 <= status < 500
                                         and status not in (408, 409, 423, 429))


# --- scheduled tasks --------------------------------------------------------------------------------

@app.task(name="bot.sweep_inbox")
def sweep_inbox() -> int:
    """Re-queue what the web app stored but could not enqueue, and what a dead worker left behind.
    Each row it touches gets a fresh updated_at, so a stuck event is re-queued once per deadline, not once
    a minute; re-running an event is harmless (process_event is idempotent)."""
    rt = runtime()
    now = utcnow()
    queued_cut, processing_cut = now - QUEUED_DEADLINE, now - PROCESSING_DEADLINE
    stale = or_(
        and_(InboxEvent.status == "queued", InboxEvent.updated_at < queued_cut,
             or_(InboxEvent.retry_at.is_(None), InboxEvent.retry_at < queued_cut)),
        and_(InboxEvent.status == "processing", InboxEvent.updated_at < processing_cut))
    with rt.sessions.begin() as s:
        rows = s.execute(select(InboxEvent.id, InboxEvent.vendor).where(stale)
                         .order_by(InboxEvent.id).limit(SWEEP_BATCH)).all()
        if rows:
            s.execute(update(InboxEvent).where(InboxEvent.id.in_([r.id for r in rows]))
                      .values(updated_at=now))
    sent = 0
    for row in rows:
        try:
            process_event.apply_async((row.vendor, row.id))
        except Exception as exc:
            log.warning("sweep: broker unavailable after %d of %d: %s", sent, len(rows), db.short_error(exc))
            break
        sent += 1
    if rows:
        log.info("sweep: re-queued %d stale inbox events", sent)
    return sent


@app.task(name="bot.sync_articles")
def sync_articles() -> str:
    return jobs.sync_articles(runtime().settings)


@app.task(name="bot.sync_history")
def sync_history() -> str:
    return jobs.sync_history(runtime().settings)


@app.task(name="bot.retrain")
def retrain() -> str:
    return jobs.retrain(runtime().settings)


@app.task(name="bot.weekly_report")
def weekly_report() -> str:
    return jobs.weekly_report(runtime().settings)
