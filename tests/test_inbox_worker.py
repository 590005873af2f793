"""process_event run eagerly with a fake adapter and brain, on SQLite and PostgreSQL: what is logged, what
is written, and that nothing is ever written twice."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, update

from bot import db, worker
from bot.brain.records import Message, Policy
from bot.config import Settings
from bot.db import DecisionLog, Idempotency, InboxEvent, utcnow
from bot.metrics import REGISTRY, record_vendor_call
from tests.runtime_support import FakeAdapter, FakeBrain, VendorRefused, database_url, postgres_url  # noqa: F401


@pytest.fixture
def rt(database_url):  # noqa: F811
    db.upgrade(Settings(database_url=database_url))

    def build(**settings_kwargs):
        adapter, brain = FakeAdapter("zendesk"), FakeBrain()
        adapter.add_ticket("100", "c1")
        runtime = worker.configure(Settings(database_url=database_url, **settings_kwargs),
                                   adapters={"zendesk": adapter}, brain=brain)
        return runtime, adapter, brain

    yield build
    worker._runtime = None


def _inbox(runtime, delivery="d1", ticket="100", comment="c1") -> int:
    return db.record_inbox(runtime.sessions, vendor="zendesk", delivery_id=delivery, ticket_id=ticket,
                           comment_id=comment, kind="comment_added")


def _run(inbox_id: int):
    return worker.process_event.apply(args=("zendesk", inbox_id)).result


def _rows(runtime, model):
    with runtime.sessions() as s:
        return s.scalars(select(model)).all()


def _event(runtime, inbox_id) -> InboxEvent:
    with runtime.sessions() as s:
        return s.get(InboxEvent, inbox_id)


def test_decision_is_logged_written_once_and_marked_done(rt):
    runtime, adapter, brain = rt()
    adapter.bot_attempts = 1
    inbox_id = _inbox(runtime)
    assert _run(inbox_id) == "written"
    assert adapter.writes == [("100", "answer", "draft")]
    assert brain.seen[0].attempts == 1  # the adapter's count of earlier bot answers reaches the brain
    [log] = _rows(runtime, DecisionLog)
    assert (log.vendor, log.ticket_id, log.trigger_comment_id, log.action, log.mode, log.control) == \
        ("zendesk", "100", "c1", "answer", "draft", False)
    assert log.decision_json["intent"] == "reset_password" and log.model_version == "test-model-1"
    assert log.write_json["response_ids"] == ["audit-1"] and log.inbox_id == inbox_id
    [key] = _rows(runtime, Idempotency)
    assert (key.status, key.decision_id, key.claim_token) == ("done", log.id, None)
    event = _event(runtime, inbox_id)
    assert event.status == "done" and event.processed_at is not None


def test_a_retried_or_repeated_task_never_writes_twice(rt):
    runtime, adapter, _ = rt()
    inbox_id = _inbox(runtime)
    _run(inbox_id)
    _run(inbox_id)  # re-delivered after it finished
    with runtime.sessions.begin() as s:  # re-delivered as if it died just before marking the inbox
        s.get(InboxEvent, inbox_id).status = "processing"
    assert _run(inbox_id) == "done"
    # another delivery of the same trigger comment that got past de-duplication
    with runtime.sessions.begin() as s:
        s.add(InboxEvent(vendor="zendesk", delivery_id="d2", ticket_id="100", comment_id=None,
                         kind="ticket_created", status="queued", attempts=0))
    other = _rows(runtime, InboxEvent)[-1].id
    assert _run(other) == "done"
    assert len(adapter.writes) == 1 and len(_rows(runtime, DecisionLog)) == 1


@pytest.mark.parametrize("mode", ["draft", "auto"])  # an internal note; a public reply (loop guard fires)
def test_write_that_landed_before_a_failure_is_not_repeated(rt, mode):
    runtime, adapter, _ = rt(mode_override=mode)
    adapter.fail_after_write = TimeoutError("read timed out")  # posted, but the answer never came back
    inbox_id = _inbox(runtime)
    _run(inbox_id)  # fails, releases its claim, the eager retry finds the bot's note on the ticket
    assert len(adapter.writes) == 1
    [log] = _rows(runtime, DecisionLog)
    assert "recovered" in log.write_json
    event = _event(runtime, inbox_id)
    assert (event.status, event.attempts) == ("done", 1)


def test_pending_claim_of_a_live_writer_is_left_alone_then_taken_over_when_expired(rt):
    runtime, adapter, _ = rt()
    inbox_id = _inbox(runtime)
    with runtime.sessions.begin() as s:  # another run claimed the key and is (maybe) writing
        log = DecisionLog(vendor="zendesk", ticket_id="100", trigger_comment_id="c1", action="answer",
                          mode="draft", control=False, decision_json={}, confidence=0.9)
        s.add(log)
        s.flush()
        s.add(Idempotency(vendor="zendesk", ticket_id="100", trigger_comment_id="c1", decision_id=log.id,
                          status="pending", claim_token="someone-else", claimed_at=utcnow()))
    with pytest.raises(worker.InFlight):
        worker.handle_event(runtime, "zendesk", inbox_id)
    assert adapter.writes == []
    with runtime.sessions.begin() as s:  # the other run died long ago and its write never landed
        s.execute(update(Idempotency).values(claimed_at=utcnow() - worker.PENDING_LEASE * 2))
    assert worker.handle_event(runtime, "zendesk", inbox_id) == "written"
    assert len(adapter.writes) == 1
    [key] = _rows(runtime, Idempotency)
    assert key.status == "done"
    assert _rows(runtime, DecisionLog)[0].write_json["response_ids"] == ["audit-1"]


def test_outside_rollout_is_recorded_as_control_and_nothing_is_touched(rt):
    runtime, adapter, _ = rt(rollout_override=0)
    inbox_id = _inbox(runtime)
    assert _run(inbox_id) == "control"
    assert adapter.writes == []
    [log] = _rows(runtime, DecisionLog)
    assert log.control is True and log.write_json is None
    assert _event(runtime, inbox_id).status == "done"
    assert _run(inbox_id) == "done" and len(_rows(runtime, DecisionLog)) == 1


def test_shadow_mode_decides_and_records_without_writing(rt):
    runtime, adapter, _ = rt(mode_override="shadow")
    inbox_id = _inbox(runtime)
    assert _run(inbox_id) == "shadow"
    assert adapter.writes == []
    [log] = _rows(runtime, DecisionLog)
    assert (log.mode, log.control, log.decision_json["mode"]) == ("shadow", False, "shadow")


def test_mode_comes_from_the_policy_unless_overridden(rt):
    runtime, adapter, brain = rt(mode_override="auto")
    brain.policy = Policy(mode="shadow", rollout_percent=100)
    _run(_inbox(runtime))
    assert adapter.writes == [("100", "answer", "auto")]


def test_conflict_reloads_and_decides_again(rt):
    runtime, adapter, brain = rt()
    adapter.conflicts = 2
    inbox_id = _inbox(runtime)
    assert _run(inbox_id) == "written"
    assert adapter.loads == 3 and len(brain.seen) == 3 and len(adapter.writes) == 1
    assert len(_rows(runtime, DecisionLog)) == 1  # the same log row, updated to the decision acted on
    assert _event(runtime, inbox_id).attempts == 0


def test_conflict_every_time_is_retried_later(rt):
    runtime, adapter, _ = rt()
    adapter.conflicts = worker.CONFLICT_TRIES
    inbox_id = _inbox(runtime)
    assert _run(inbox_id) == "written"  # the eager retry runs after the ticket settled
    event = _event(runtime, inbox_id)
    assert event.attempts == 1 and "TooManyConflicts" in event.last_error
    assert len(adapter.writes) == 1


def test_conflict_then_loop_guard_releases_the_claim(rt):
    runtime, adapter, _ = rt()
    adapter.conflicts = 1
    adapter.on_conflict = lambda: adapter.skip.update({"100": "a human agent is assigned"})
    inbox_id = _inbox(runtime)
    assert _run(inbox_id) == "ignored"
    [key] = _rows(runtime, Idempotency)
    assert (key.status, key.claim_token, key.claimed_at) == ("pending", None, None)
    assert adapter.writes == []


def test_no_model_configured_parks_without_calling_the_vendor(database_url):  # noqa: F811
    db.upgrade(Settings(database_url=database_url))
    adapter = FakeAdapter()
    adapter.add_ticket("100")
    runtime = worker.configure(Settings(database_url=database_url), adapters={"zendesk": adapter})
    try:
        inbox_id = _inbox(runtime)
        assert _run(inbox_id) == "parked"
        assert "BOT_MODEL" in _event(runtime, inbox_id).last_error and adapter.loads == 0
    finally:
        worker._runtime = None


def test_delivery_the_web_app_could_not_store_is_stored_by_the_worker(rt, monkeypatch):
    runtime, adapter, _ = rt()
    sent = []
    monkeypatch.setattr(worker.process_event, "delay", lambda *args: sent.append(args))
    args = ("zendesk", "d7", "100", "c1", "comment_added")
    assert worker.store_delivery.apply(args=args).result == "stored"
    assert worker.store_delivery.apply(args=args).result == "duplicate"
    [event] = _rows(runtime, InboxEvent)
    assert sent == [("zendesk", event.id)] and event.status == "queued"


def test_transient_failures_are_retried_then_parked_with_a_redacted_error(rt):
    runtime, adapter, _ = rt()
    adapter.always_fail_load = ConnectionError("vendor timed out for jane.doe@example.com")
    inbox_id = _inbox(runtime)
    assert _run(inbox_id) == "parked"
    event = _event(runtime, inbox_id)
    assert (event.status, event.attempts) == ("parked", worker.MAX_FAILURES)
    assert event.last_error.startswith("ConnectionError") and "jane.doe@example.com" not in event.last_error
    assert adapter.loads == worker.MAX_FAILURES and adapter.writes == []


def test_a_refusal_that_retrying_cannot_fix_is_parked_at_once(rt):
    runtime, adapter, _ = rt()
    adapter.always_fail_load = VendorRefused(404)
    inbox_id = _inbox(runtime)
    assert _run(inbox_id) == "parked"
    event = _event(runtime, inbox_id)
    assert (event.status, event.attempts, adapter.loads) == ("parked", 1, 1)


def test_a_few_transient_failures_then_success(rt):
    runtime, adapter, _ = rt()
    adapter.load_errors = [ConnectionError("reset"), ConnectionError("reset")]
    inbox_id = _inbox(runtime)
    assert _run(inbox_id) == "written"
    assert _event(runtime, inbox_id).attempts == 2 and len(adapter.writes) == 1


def test_loop_guard_and_superseded_trigger_are_ignored(rt):
    runtime, adapter, _ = rt()
    adapter.skip["100"] = "assigned to a human"
    first = _inbox(runtime)
    assert _run(first) == "ignored"
    assert _event(runtime, first).last_error == "assigned to a human"
    adapter.skip.clear()
    adapter.latest["100"] = "c2"  # the customer wrote again; that comment has its own event
    second = _inbox(runtime, delivery="d2", comment="c1b")
    assert _run(second) == "ignored"
    assert adapter.writes == [] and _rows(runtime, DecisionLog) == []


def test_unknown_inbox_id_is_harmless(rt):
    runtime, _, _ = rt()
    assert _run(987654) == "missing"


def test_sweeper_requeues_only_stale_events(rt, monkeypatch):
    runtime, _, _ = rt()
    now = utcnow()
    ago = lambda **kw: now - dt.timedelta(**kw)  # noqa: E731
    rows = {
        "stale_queued": dict(status="queued", updated_at=ago(minutes=5)),
        "fresh_queued": dict(status="queued", updated_at=ago(seconds=30)),
        "stale_processing": dict(status="processing", updated_at=ago(minutes=10)),
        "busy_processing": dict(status="processing", updated_at=ago(minutes=3)),
        "waiting_retry": dict(status="queued", updated_at=ago(minutes=5), retry_at=now + dt.timedelta(minutes=3)),
        "overdue_retry": dict(status="queued", updated_at=ago(minutes=9), retry_at=ago(minutes=4)),
        "old_done": dict(status="done", updated_at=ago(days=1)),
        "old_parked": dict(status="parked", updated_at=ago(days=1)),
    }
    ids = {}
    with runtime.sessions.begin() as s:
        for i, (name, values) in enumerate(rows.items()):
            event = InboxEvent(vendor="zendesk", delivery_id=name, ticket_id=str(200 + i), comment_id=None,
                               kind="comment_added", attempts=0, **values)
            s.add(event)
            s.flush()
            ids[event.id] = name
    sent = []
    monkeypatch.setattr(worker.process_event, "apply_async", lambda args, **kw: sent.append(args))
    assert worker.sweep_inbox.apply().result == 3
    assert sorted(ids[i] for _, i in sent) == ["overdue_retry", "stale_processing", "stale_queued"]
    assert worker.sweep_inbox.apply().result == 0  # touched rows wait another deadline


def test_sweeper_requeued_event_is_processed(rt, monkeypatch):
    runtime, adapter, _ = rt()
    inbox_id = _inbox(runtime)
    with runtime.sessions.begin() as s:
        s.get(InboxEvent, inbox_id).updated_at = utcnow() - dt.timedelta(minutes=5)
    monkeypatch.setattr(worker.process_event, "apply_async",
                        lambda args, **kw: worker.process_event.apply(args=args))
    worker.sweep_inbox.apply()
    assert _event(runtime, inbox_id).status == "done" and len(adapter.writes) == 1


def test_rollout_is_stable_and_only_grows():
    tickets = [str(n) for n in range(2000)]
    at10 = {t for t in tickets if worker.in_rollout(t, 10)}
    at30 = {t for t in tickets if worker.in_rollout(t, 30)}
    assert at10 <= at30 and 140 < len(at10) < 260 and 500 < len(at30) < 700
    assert at10 == {t for t in tickets if worker.in_rollout(t, 10)}
    assert all(worker.in_rollout(t, 100) for t in tickets[:50])
    assert not any(worker.in_rollout(t, 0) for t in tickets[:50])
    assert worker.in_rollout("48213", 50) == worker.in_rollout("48213", 50)


def test_celery_is_configured_for_late_acks():
    conf = worker.app.conf
    assert conf.task_acks_late and conf.task_reject_on_worker_lost and conf.worker_prefetch_multiplier == 1
    assert {"bot.sweep_inbox", "bot.sync_articles", "bot.sync_history", "bot.retrain", "bot.weekly_report"} == \
        {entry["task"] for entry in conf.beat_schedule.values()}


def test_scheduled_jobs_say_not_configured(rt):
    rt()
    for task in (worker.sync_articles, worker.sync_history, worker.retrain):
        assert task.apply().result.startswith("not configured")


def test_vendor_calls_are_counted_by_status():
    def value(name, **labels):
        return REGISTRY.get_sample_value(name, labels) or 0.0

    before = (value("bot_vendor_api_calls_total", vendor="zendesk", status="200"),
              value("bot_vendor_api_errors_total", vendor="zendesk", status="429"))
    record_vendor_call("zendesk", "GET", 200)
    record_vendor_call("zendesk", "PUT", 429)
    assert value("bot_vendor_api_calls_total", vendor="zendesk", status="200") == before[0] + 1
    assert value("bot_vendor_api_errors_total", vendor="zendesk", status="429") == before[1] + 1
    assert value("bot_vendor_api_errors_total", vendor="zendesk", status="200") == 0


@pytest.mark.parametrize("mode", ["draft", "auto"])
def test_conflict_after_our_write_landed_does_not_write_again(rt, mode):
    """A retried PUT whose first try landed meets its own change as a 409: the ticket shows the bot's
    message, so the run closes its claim instead of deciding and writing a second time."""
    runtime, adapter, _ = rt(mode_override=mode)
    inbox_id = _inbox(runtime)
    adapter.conflicts = 1
    adapter.on_conflict = lambda: adapter.tickets["100"].append(
        Message(author="bot", body="reply", public=mode == "auto"))
    assert _run(inbox_id) == "done"
    assert adapter.writes == []
    [log] = _rows(runtime, DecisionLog)
    assert "recovered" in log.write_json and _event(runtime, inbox_id).status == "done"


@pytest.mark.parametrize("messages, reason", [
    ([("customer", "I forgot my password", True), ("agent", "Sent you a link", True),
      ("customer", "Got it, it still fails", True)], "agent has replied"),
    ([("customer", "I forgot my password", True), ("bot", "Here is how", True),
      ("customer", "Thanks, that worked!", True)], "solved"),
])
def test_a_conversation_a_human_joined_or_that_is_solved_is_left_alone(rt, messages, reason):
    runtime, adapter, _ = rt(mode_override="auto")
    adapter.tickets["100"] = [Message(author=a, body=b, public=p) for a, b, p in messages]
    inbox_id = _inbox(runtime)
    _run(inbox_id)
    event = _event(runtime, inbox_id)
    assert adapter.writes == [] and event.status == "ignored" and reason in (event.last_error or "")


def test_parked_events_can_be_requeued_and_are_then_processed(rt, monkeypatch):
    from bot.inbox_commands import inbox_state, requeue_parked_events
    runtime, adapter, _ = rt()
    adapter.always_fail_load = VendorRefused(401)  # a rotated token: parked at once
    inbox_id = _inbox(runtime)
    _run(inbox_id)
    url = runtime.settings.database_url
    assert _event(runtime, inbox_id).status == "parked"
    assert inbox_state(url)["parked"][0]["id"] == inbox_id
    adapter.always_fail_load = None  # the operator fixed the token
    assert requeue_parked_events(url) == 1
    sent = []
    monkeypatch.setattr(worker.process_event, "apply_async", lambda args: sent.append(args))
    assert worker.sweep_inbox() == 1 and sent == [("zendesk", inbox_id)]
    assert _run(inbox_id) == "written" and _event(runtime, inbox_id).status == "done"
