"""Every answer of POST /webhooks/<vendor> (http.md), health, metrics, and a fuzz that never sees a 5xx."""
from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st
from sqlalchemy import select, text

from bot import db
from bot.config import Settings
from bot.db import InboxEvent
from adapters.base import WebhookEvent
from tests.runtime_support import REDIS_TEST_URL, TOKEN, FakeAdapter, FakeQueue, redis_client  # noqa: F401
from webhooks.app import MAX_BODY, CeleryQueue, RedisDedupe, create_app, fast_redis

HEADERS = {"X-Test-Token": TOKEN}


def _event(delivery="d1", ticket="100", comment="c1", **extra):
    return {"delivery_id": delivery, "ticket_id": ticket, "comment_id": comment, **extra}


@pytest.fixture
def env(tmp_path, redis_client):  # noqa: F811
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'web.db'}")
    queue = FakeQueue()
    app = create_app(settings, adapters={"zendesk": FakeAdapter("zendesk")}, queue=queue,
                     dedupe=RedisDedupe(redis_client))
    yield app, app.test_client(), queue, settings, redis_client


def _post(client, payload, headers=HEADERS, vendor="zendesk", content_type="application/json"):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return client.post(f"/webhooks/{vendor}", data=body, headers=headers, content_type=content_type)


def _inbox(settings):
    with db.session_factory(settings.database_url)() as s:
        return s.scalars(select(InboxEvent)).all()


def test_accepted_event_is_stored_then_enqueued(env):
    app, client, queue, settings, _ = env
    r = _post(client, _event())
    assert r.status_code == 202
    assert r.get_json() == {"status": "queued", "reason": "queued"}
    [row] = _inbox(settings)
    assert (row.vendor, row.delivery_id, row.ticket_id, row.comment_id, row.status) == \
        ("zendesk", "d1", "100", "c1", "queued")
    assert queue.enqueued == [("zendesk", row.id)]


def test_twice_delivered_is_a_duplicate(env):
    _, client, queue, settings, _ = env
    assert _post(client, _event()).status_code == 202
    again = _post(client, _event())
    assert again.status_code == 200 and again.get_json()["status"] == "duplicate"
    # a different delivery id for the same ticket + comment is the same event
    same_comment = _post(client, _event(delivery="d2"))
    assert same_comment.status_code == 200 and same_comment.get_json()["status"] == "duplicate"
    assert len(_inbox(settings)) == 1 and len(queue.enqueued) == 1


def test_a_redis_claim_without_a_stored_event_does_not_turn_the_retry_into_a_duplicate(env):
    """A process that died after marking the delivery seen in Redis, before storing it: the retry is kept."""
    _, client, queue, settings, rclient = env
    rclient.set("bot:dedupe:zendesk:delivery:d1", b"1")
    rclient.set("bot:dedupe:zendesk:comment:100:c1", b"1")
    r = _post(client, _event())
    assert r.status_code == 202 and len(_inbox(settings)) == 1 and len(queue.enqueued) == 1


def test_duplicate_found_by_the_inbox_when_redis_is_down(tmp_path):
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'web.db'}")
    dead = fast_redis("redis://127.0.0.1:1/0")
    queue = FakeQueue()
    client = create_app(settings, adapters={"zendesk": FakeAdapter()}, queue=queue,
                        dedupe=RedisDedupe(dead)).test_client()
    assert _post(client, _event()).status_code == 202
    assert _post(client, _event()).get_json()["status"] == "duplicate"
    assert _post(client, _event(delivery="d9")).get_json()["status"] == "duplicate"
    assert _post(client, _event(delivery="d3", comment="c2")).status_code == 202
    assert len(queue.enqueued) == 2


def test_ignored_event_answers_200_with_reason(env):
    _, client, queue, settings, _ = env
    r = _post(client, {"ping": True})
    assert r.status_code == 200 and r.get_json() == {"status": "ignored", "reason": "ping"}
    assert _inbox(settings) == [] and queue.enqueued == []


@pytest.mark.parametrize("headers", [{}, {"X-Test-Token": "wrong"}, {"x-test-token": "s3cret-tokeN"}])
def test_bad_or_missing_token_is_401(env, headers):
    _, client, queue, settings, _ = env
    r = _post(client, _event(), headers=headers)
    assert r.status_code == 401 and r.get_json()["status"] == "unauthorized"
    assert _inbox(settings) == []


def test_header_names_are_case_insensitive(env):
    _, client, *_ = env
    assert _post(client, _event(), headers={"x-test-token": TOKEN}).status_code == 202


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", json.dumps({"ticket_id": "1"}).encode(),
                                  b"\xff\xfe", json.dumps({"delivery_id": "x" * 300, "ticket_id": "1"}).encode()])
def test_unreadable_payload_is_400(env, body):
    _, client, *_ = env
    r = _post(client, body)
    assert r.status_code == 400 and r.get_json()["status"] == "bad_request"


@pytest.mark.parametrize("vendor", ["freshdesk", "intercom", "nosuchvendor"])
def test_vendor_not_enabled_is_404(env, vendor):
    _, client, *_ = env
    r = _post(client, _event(), vendor=vendor)
    assert r.status_code == 404 and r.get_json()["status"] == "not_found"


def test_body_over_one_mib_is_413(env):
    _, client, *_ = env
    r = _post(client, b"{" + b" " * MAX_BODY + b"}")
    assert r.status_code == 413 and r.get_json()["status"] == "too_large"
    at_limit = _post(client, json.dumps(_event(pad=" " * (MAX_BODY - 200))).encode().ljust(MAX_BODY))
    assert at_limit.status_code == 202


def test_body_over_limit_without_content_length_is_413(env):
    _, client, *_ = env
    big = b"{" + b" " * MAX_BODY + b"}"
    r = client.post("/webhooks/zendesk", data=big, headers=HEADERS, content_type="application/json",
                    environ_overrides={"CONTENT_LENGTH": "", "wsgi.input_terminated": True})
    assert r.status_code == 413 and r.get_json()["status"] == "too_large"


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", ""])
def test_not_json_content_type_is_415(env, content_type):
    _, client, *_ = env
    r = _post(client, _event(), content_type=content_type)
    assert r.status_code == 415 and r.get_json()["status"] == "unsupported_media_type"


def test_charset_parameter_is_accepted(env):
    _, client, *_ = env
    assert _post(client, _event(), content_type="application/json; charset=utf-8").status_code == 202


def test_503_when_neither_database_nor_queue_can_take_it(env):
    _, client, queue, settings, rclient = env
    with db.get_engine(settings.database_url).begin() as conn:
        conn.execute(text("DROP TABLE inbox_events"))
    queue.down = True
    r = _post(client, _event())
    assert r.status_code == 503 and r.get_json()["status"] == "unavailable"
    assert rclient.keys("bot:dedupe:*") == []  # released: the vendor's retry must not be a "duplicate"


def test_queue_down_alone_still_accepts_and_leaves_the_row_for_the_sweeper(env):
    _, client, queue, settings, _ = env
    queue.fail_enqueue = True
    r = _post(client, _event())
    assert r.status_code == 202 and r.get_json()["status"] == "queued"
    [row] = _inbox(settings)
    assert row.status == "queued" and queue.enqueued == []


def test_database_down_alone_sends_the_ids_to_the_broker(env):
    _, client, queue, settings, _ = env
    with db.get_engine(settings.database_url).begin() as conn:
        conn.execute(text("DROP TABLE inbox_events"))
    r = _post(client, _event())
    assert r.status_code == 202
    assert [(e.delivery_id, e.ticket_id, e.comment_id) for e in queue.deliveries] == [("d1", "100", "c1")]


def test_other_methods_and_paths_answer_json(env):
    _, client, *_ = env
    r = client.get("/webhooks/zendesk")
    assert r.status_code == 405 and r.get_json()["status"] == "method_not_allowed"
    r = client.get("/nowhere")
    assert r.status_code == 404 and r.get_json()["status"] == "not_found"


def test_healthz_reports_each_part(env):
    _, client, queue, settings, _ = env
    r = client.get("/healthz")
    assert r.status_code == 200
    body = r.get_json()
    assert body["status"] == "ok" and body["database"] == "ok" and body["broker"] == "ok"
    assert body["model"] == "not configured" and body["parked_events"] == 0
    queue.down = True
    r = client.get("/healthz")
    assert r.status_code == 503 and r.get_json()["broker"] == "down"


def test_healthz_counts_parked_events(env):
    _, client, queue, settings, _ = env
    _post(client, _event())
    with db.session_factory(settings.database_url).begin() as s:
        s.scalars(select(InboxEvent)).one().status = "parked"
    assert client.get("/healthz").get_json()["parked_events"] == 1


def test_metrics_exposes_the_series(env):
    _, client, *_ = env
    _post(client, _event())
    r = client.get("/metrics")
    assert r.status_code == 200 and r.content_type.startswith("text/plain")
    text_ = r.get_data(as_text=True)
    assert 'bot_webhooks_total{answer="queued",vendor="zendesk"}' in text_
    for name in ("bot_queue_depth", "bot_decisions_total", "bot_vendor_api_calls_total",
                 "bot_vendor_api_errors_total", "bot_decision_seconds"):
        assert name in text_
    assert 'bot_queue_depth{queue="inbox"} 1.0' in text_


def test_celery_queue_sends_ids_to_the_broker(redis_client):  # noqa: F811
    queue = CeleryQueue(Settings(redis_url=REDIS_TEST_URL))
    queue.ping()
    queue.enqueue("zendesk", 41)
    queue.enqueue_delivery(WebhookEvent("zendesk", "d1", "100", "comment_added", "c1"))
    assert queue.depth() == 2
    tasks = [json.loads(m)["headers"] for m in redis_client.lrange("celery", 0, -1)]
    assert sorted((t["task"], t["argsrepr"]) for t in tasks) == [
        ("bot.process_event", "('zendesk', 41)"),
        ("bot.store_delivery", "('zendesk', 'd1', '100', 'c1', 'comment_added')")]


def test_celery_queue_fails_fast_when_the_broker_is_down():
    queue = CeleryQueue(Settings(redis_url="redis://127.0.0.1:1/0"))
    with pytest.raises(Exception):
        queue.enqueue("zendesk", 1)
    with pytest.raises(Exception):
        queue.ping()


# --- fuzz -------------------------------------------------------------------------------------------

_ascii = st.characters(min_codepoint=32, max_codepoint=126)
_header_names = st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,20}", fullmatch=True).filter(
    lambda n: n.lower() not in ("content-length", "content-type", "transfer-encoding", "host"))
_json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                            lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=8), kids,
                                                                                      max_size=3), max_leaves=8)
_bodies = st.one_of(
    st.binary(max_size=600),
    _json_values.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries({}, optional={"delivery_id": _json_values, "ticket_id": _json_values,
                                        "comment_id": _json_values, "kind": _json_values,
                                        "ping": _json_values}).map(lambda v: json.dumps(v).encode()),
)


@pytest.fixture(scope="module")
def fuzz_client(tmp_path_factory):
    settings = Settings(database_url=f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'web.db'}")
    dead = fast_redis("redis://127.0.0.1:1/0")
    return create_app(settings, adapters={"zendesk": FakeAdapter()}, queue=FakeQueue(),
                      dedupe=RedisDedupe(dead)).test_client()


@hsettings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(vendor=st.sampled_from(["zendesk", "freshdesk", "x", "%00", "zendesk%2F..", "Zendesk"]),
       method=st.sampled_from(["POST", "POST", "POST", "GET", "PUT"]),
       content_type=st.sampled_from(["application/json", "application/json; charset=latin-1", "text/plain",
                                     "", "application/JSON", "multipart/form-data; boundary=x"]),
       token=st.sampled_from([None, TOKEN, "nope"]),
       headers=st.dictionaries(_header_names, st.text(_ascii, max_size=40), max_size=4),
       body=_bodies)
def test_fuzz_never_answers_5xx(fuzz_client, vendor, method, content_type, token, headers, body):
    if token is not None:
        headers = {**headers, "X-Test-Token": token}
    r = fuzz_client.open(f"/webhooks/{vendor}", method=method, data=body, headers=headers,
                         content_type=content_type or None)
    assert r.status_code < 500, r.get_data(as_text=True)
    assert set(r.get_json()) == {"status", "reason"}


@pytest.fixture(scope="module")
def zendesk_client(tmp_path_factory):
    from adapters.registry import get_adapter
    from bot.config import ZendeskSettings

    settings = Settings(database_url=f"sqlite:///{tmp_path_factory.mktemp('zfuzz') / 'web.db'}",
                        zendesk=ZendeskSettings(subdomain="acme", email="bot@example.com", api_token="t",
                                                webhook_secret="whsec", url="http://127.0.0.1:9"))
    return create_app(settings, adapters={"zendesk": get_adapter("zendesk", settings)}, queue=FakeQueue(),
                      dedupe=RedisDedupe(fast_redis("redis://127.0.0.1:1/0"))).test_client()


_zendesk_bodies = st.one_of(_bodies, st.fixed_dictionaries(
    {"bot_template": st.sampled_from([1, "1", 2, True, None])},
    optional={k: st.one_of(st.from_regex(r"[0-9]{1,25}", fullmatch=True), _json_values) for k in
              ("ticket_id", "comment_id", "comment_author_id", "updater_id")}
    | {"event": st.sampled_from(["comment_added", "ticket_created", "other"]),
       "comment_public": st.sampled_from(["true", "false", "", 1]),
       "updater_role": st.sampled_from(["end-user", "agent", "admin", "", None])},
).map(lambda v: json.dumps(v).encode()))


@hsettings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=_zendesk_bodies, extra=st.dictionaries(st.sampled_from(["Auto-Submitted", "X-Zendesk-Webhook-Invocation-Id"]),
                                           st.text(_ascii, max_size=20)), sign=st.booleans())
def test_fuzz_signed_bodies_through_the_zendesk_adapter(zendesk_client, body, extra, sign):
    """The real adapter behind the app: signed garbage is a 4xx or an answer, never a 5xx."""
    import base64
    import datetime as dt
    import hashlib
    import hmac

    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    signature = base64.b64encode(hmac.new(b"whsec", stamp.encode() + body, hashlib.sha256).digest()).decode()
    headers = {**extra, "X-Zendesk-Webhook-Signature-Timestamp": stamp,
               "X-Zendesk-Webhook-Signature": signature if sign else "AAAA"}
    r = zendesk_client.post("/webhooks/zendesk", data=body, headers=headers, content_type="application/json")
    assert r.status_code < 500 and (sign or r.status_code == 401), r.get_data(as_text=True)
