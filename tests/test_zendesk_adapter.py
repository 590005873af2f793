"""The Zendesk adapter against recorded shapes (fixtures/zendesk, via `responses`) and the stand-in server."""
from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import threading
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from adapters.base import Conflict, Ignored, WebhookEvent, WebhookRejected
from adapters.registry import get_adapter
from adapters.zendesk import CAPABILITIES, TRIGGER_TEMPLATE_V1, ZendeskAdapter, verify_zendesk_signature
from adapters.zendesk_export import decode_cursor
from bot.brain.records import ArticleHit, Decision
from bot.config import Settings, ZendeskSettings
from bot.errors import BadInput
from tests.standin_zendesk import StandinZendesk

FIX = Path(__file__).resolve().parent.parent / "fixtures" / "zendesk"
URL = "https://zd.test"  # ZENDESK_URL: every call must go here, never to acme.zendesk.com
SECRET = "dGhpcyBpcyBhIHNpZ25pbmcgc2VjcmV0"
TS = "2026-09-01T12:30:01Z"
TS_EPOCH = datetime(2026, 9, 1, 12, 30, 1, tzinfo=timezone.utc).timestamp()
INCLUDE = "users,groups,organizations"


def raw(name: str) -> bytes:
    return (FIX / name).read_bytes()


def fx(name: str) -> dict:
    return json.loads(raw(name))


def sign(secret: str, ts: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), ts.encode() + body, hashlib.sha256).digest()).decode()


class FakeTime:
    def __init__(self):
        self.now = 5_000.0
        self.slept: list[float] = []

    def sleep(self, s: float) -> None:
        self.slept.append(s)
        self.now += s

    def clock(self) -> float:
        return self.now


def zsettings(**over) -> ZendeskSettings:
    base = dict(subdomain="acme", email="bot@example.com", api_token="tok-123", webhook_secret=SECRET, url=URL,
                bot_user_id="1300", plan_field="plan", vip_tag="vip", page_url_field="360005001")
    base.update(over)
    return ZendeskSettings(**base)


@pytest.fixture
def fake():
    return FakeTime()


@pytest.fixture
def adapter(fake):
    return ZendeskAdapter(zsettings(), sleep=fake.sleep, clock=fake.clock, wall=lambda: 1_756_800_000.0,
                          rng=lambda: 0.5)


def decision(**over) -> Decision:
    base = dict(ticket_id="48213", action="escalate", intent="refund_request", confidence=0.91, out_of_scope=False,
                sentiment=-0.62, tone="empathetic", reasons=("negative sentiment -0.62",), article=None, reply=None,
                note="Intent refund_request (0.91): customer asks for a refund.", priority="high", group="Tier 2",
                tags=("bot_escalated", "intent_refund_request"), mode="draft", model_version="m-1")
    base.update(over)
    return Decision(**base)


def mock_ticket(ticket=None, comments=None):
    responses.get(f"{URL}/api/v2/tickets/48213.json", json=ticket or fx("ticket.json"))
    responses.get(f"{URL}/api/v2/tickets/48213/comments.json", json=comments or fx("comments.json"))


# -- signatures ---------------------------------------------------------------------------------------------

BODY = raw("comment_added.json")


def test_signature_good():
    verify_zendesk_signature(SECRET, TS, BODY, sign(SECRET, TS, BODY), TS_EPOCH + 10)


@pytest.mark.parametrize("secret, body, now, reason", [
    ("wrong-secret", BODY, TS_EPOCH, "does not match"),
    (SECRET, BODY.replace(b"Still waiting", b"Still waitinG"), TS_EPOCH, "does not match"),
    (SECRET, BODY, TS_EPOCH + 301, "older than 5 minutes"),
    (SECRET, BODY, TS_EPOCH - 301, "in the future"),
])
def test_signature_refused(secret, body, now, reason):
    signature = sign(SECRET, TS, BODY)
    with pytest.raises(WebhookRejected) as info:
        verify_zendesk_signature(secret, TS, body, signature, now)
    assert info.value.status == 401 and reason in info.value.reason


def test_signature_over_body_then_timestamp_is_refused():
    reversed_sig = base64.b64encode(hmac.new(SECRET.encode(), BODY + TS.encode(), hashlib.sha256).digest()).decode()
    with pytest.raises(WebhookRejected) as info:
        verify_zendesk_signature(SECRET, TS, BODY, reversed_sig, TS_EPOCH)
    assert info.value.status == 401


def test_signature_within_window_edges_passes():
    sig = sign(SECRET, TS, BODY)
    verify_zendesk_signature(SECRET, TS, BODY, sig, TS_EPOCH + 299)
    verify_zendesk_signature(SECRET, TS, BODY, sig, TS_EPOCH - 299)


@pytest.mark.parametrize("headers, reason", [
    ({}, "Timestamp"),
    ({"X-Zendesk-Webhook-Signature-Timestamp": TS}, "X-Zendesk-Webhook-Signature header"),
    ({"X-Zendesk-Webhook-Signature": "abc"}, "Timestamp"),
    ({"X-Zendesk-Webhook-Signature": "abc", "X-Zendesk-Webhook-Signature-Timestamp": "yesterday"}, "ISO-8601"),
])
def test_missing_or_bad_headers_are_401(adapter, headers, reason):
    with pytest.raises(WebhookRejected) as info:
        adapter.verify_webhook(headers, BODY, TS_EPOCH)
    assert info.value.status == 401 and reason in info.value.reason


def test_verify_webhook_reads_headers_case_insensitively(adapter):
    headers = {"x-zendesk-webhook-signature": sign(SECRET, TS, BODY), "x-zendesk-webhook-signature-timestamp": TS}
    adapter.verify_webhook(headers, BODY, TS_EPOCH)


def test_no_configured_secret_refuses_everything():
    a = ZendeskAdapter(zsettings(webhook_secret=""))
    with pytest.raises(WebhookRejected) as info:
        a.verify_webhook({"X-Zendesk-Webhook-Signature": sign("", TS, BODY),
                          "X-Zendesk-Webhook-Signature-Timestamp": TS}, BODY, TS_EPOCH)
    assert info.value.status == 401


# -- parsing ------------------------------------------------------------------------------------------------

def test_parse_ticket_created_event(adapter):
    ev = adapter.parse_webhook({}, raw("ticket_created.json"))
    assert ev == WebhookEvent(vendor="zendesk", delivery_id="cbe4028c-7239-495d-b020-f22348516046", ticket_id="48213",
                              kind="ticket_created", author_id="9001")


def test_parse_comment_added_event_prefers_invocation_id(adapter):
    ev = adapter.parse_webhook({"X-Zendesk-Webhook-Invocation-Id": "8350205582"}, raw("comment_added.json"))
    assert isinstance(ev, WebhookEvent)
    assert (ev.kind, ev.ticket_id, ev.comment_id, ev.author_id, ev.author_role, ev.public, ev.delivery_id) == \
        ("comment_added", "48213", "5003", "9001", "end-user", True, "8350205582")


def test_parse_our_trigger_template(adapter):
    ev = adapter.parse_webhook({"x-zendesk-webhook-invocation-id": "inv-1"}, raw("trigger_comment.json"))
    assert ev == WebhookEvent(vendor="zendesk", delivery_id="inv-1", ticket_id="48213", kind="comment_added",
                              comment_id="5003", author_id="9001", author_role="end-user", public=True)
    no_header = adapter.parse_webhook({}, raw("trigger_comment.json"))
    assert no_header.delivery_id == "48213:5003"


def test_template_has_version_kind_and_known_placeholders():
    assert TRIGGER_TEMPLATE_V1["bot_template"] == 1 and "event" in TRIGGER_TEMPLATE_V1
    assert set(TRIGGER_TEMPLATE_V1.values()) >= {"{{ticket.id}}", "{{ticket.latest_comment.id}}",
                                                 "{{current_user.id}}", "{{current_user.role}}"}


def _event(mutate) -> bytes:
    data = fx("comment_added.json")
    mutate(data)
    return json.dumps(data).encode()


def _template(**over) -> bytes:
    data = fx("trigger_comment.json")
    data.update(over)
    return json.dumps(data).encode()


@pytest.mark.parametrize("body, headers, reason", [
    (_event(lambda d: d["event"]["comment"]["author"].update(is_staff=True)), {}, "agent"),
    (_event(lambda d: d["event"]["comment"].update(is_public=False)), {}, "private"),
    (_event(lambda d: d["event"]["comment"]["author"].update(id="1300", is_staff=False)), {}, "bot's own"),
    (_event(lambda d: d.update(type="zen:event-type:ticket.status_changed")), {}, "not handled"),
    (raw("comment_added.json"), {"Auto-Submitted": "auto-replied"}, "Auto-Submitted"),
    (_template(updater_role="Agent"), {}, "agent"),
    (_template(updater_role="Admin"), {}, "admin"),
    (_template(updater_role="Light Agent"), {}, "agent"),
    (_template(comment_author_id="1300", updater_id="1300"), {}, "bot's own"),
    (_template(comment_public="false"), {}, "private"),
    (_template(event="ticket_solved"), {}, "unknown event"),
])
def test_ignored_deliveries(adapter, body, headers, reason):
    result = adapter.parse_webhook(headers, body)
    assert isinstance(result, Ignored) and reason in result.reason


@pytest.mark.parametrize("body, field", [
    (b"not json{", "not JSON"),
    (b"[1, 2]", "not a JSON object"),
    (b"\xff\xfe\x00", "not JSON"),
    (b'{"hello": 1}', "bot_template"),
    (_event(lambda d: (d["detail"].pop("id"), d.pop("subject"))), "detail.id"),
    (_event(lambda d: d["event"].pop("comment")), "event.comment"),
    (_event(lambda d: d["event"]["comment"].pop("id")), "event.comment.id"),
    (_event(lambda d: d["detail"].update(id="12ab")), "detail.id"),
    (_template(ticket_id=""), "ticket_id"),
    (_template(ticket_id="{{ticket.id}}"), "ticket_id"),
    (_template(bot_template=2), "bot_template"),
    (_template(event=None), "event"),
])
def test_rejected_deliveries_name_the_field(adapter, body, field):
    with pytest.raises(WebhookRejected) as info:
        adapter.parse_webhook({}, body)
    assert info.value.status == 400 and field in info.value.reason


def _parse_or_reject(adapter, body: bytes):
    try:
        result = adapter.parse_webhook({}, body)
    except WebhookRejected as exc:
        assert exc.status == 400
        return
    assert isinstance(result, (WebhookEvent, Ignored))


@hsettings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(st.binary(max_size=400))
def test_parse_never_raises_on_arbitrary_bytes(adapter, body):
    _parse_or_reject(adapter, body)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20)
near_keys = st.sampled_from(["type", "detail", "subject", "event", "id", "comment", "author", "is_public",
                             "is_staff", "bot_template", "ticket_id", "comment_id", "updater_role", "comment_public",
                             "comment_author_id", "updater_id", "actor_id"])
near_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12) |
    st.sampled_from(["zen:event-type:ticket.comment_added", "zen:event-type:ticket.created", "zen:ticket:12",
                     "comment_added", "ticket_created", "1", "Agent", "End-user", "true", "false", 1]),
    lambda children: st.dictionaries(near_keys, children, max_size=5) | st.lists(children, max_size=3),
    max_leaves=25)


@hsettings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(st.dictionaries(st.text(max_size=12), json_values, max_size=6))
def test_parse_never_raises_on_arbitrary_json_objects(adapter, obj):
    _parse_or_reject(adapter, json.dumps(obj).encode())


@hsettings(max_examples=500, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(st.dictionaries(near_keys, near_values, max_size=8))
def test_parse_never_raises_on_near_miss_payloads(adapter, obj):
    _parse_or_reject(adapter, json.dumps(obj).encode())


def test_parse_survives_deep_nesting(adapter):
    _parse_or_reject(adapter, b"[" * 100_000 + b"]" * 100_000)


# -- loading and loop guards --------------------------------------------------------------------------------

@responses.activate
def test_load_ticket_maps_everything_in_two_calls(adapter):
    mock_ticket()
    loaded = adapter.load_ticket("48213", trigger_comment_id="5003")
    assert len(responses.calls) == 2
    assert parse_qs(urlsplit(responses.calls[0].request.url).query)["include"] == [INCLUDE]
    t = loaded.ticket
    assert [m.author for m in t.messages] == ["customer", "agent", "customer"]
    assert [m.public for m in t.messages] == [True, False, True]
    assert t.latest_customer_text() == "Still waiting, I see two charges on my card."
    assert (t.id, t.vendor, t.subject, t.priority, t.status, t.channel, t.group) == \
        ("48213", "zendesk", "Charged twice", "normal", "open", "web", "Billing")
    assert t.requester.id == "9001" and t.requester.plan == "pro" and t.requester.vip is False
    assert t.page_url == "https://example.com/billing"
    assert loaded.current_tags == ("billing", "refund")
    assert loaded.version == "2026-09-01T12:30:05Z"
    assert loaded.latest_customer_comment_id == "5003"
    assert loaded.assignee_is_human is False and loaded.bot_attempts == 0 and loaded.skip_reason is None


@responses.activate
def test_plan_falls_back_to_organisation_and_vip_to_tags(adapter):
    ticket = fx("ticket.json")
    ticket["users"][0]["user_fields"] = {"plan": None}
    ticket["organizations"][0]["tags"] = ["vip"]
    comments = fx("comments.json")
    comments["users"][0]["user_fields"] = {"plan": None}
    mock_ticket(ticket, comments)
    r = adapter.load_ticket("48213").ticket.requester
    assert r.plan == "enterprise" and r.vip is True


def _with_comment(author_id, public=True, body="Hello", custom=None, at="2026-09-01T12:40:00Z", cid=5009):
    comments = fx("comments.json")
    c = copy.deepcopy(comments["comments"][-1])
    c.update(id=cid, author_id=author_id, public=public, body=body, plain_body=body, created_at=at)
    c["metadata"]["custom"] = custom or {}
    comments["comments"].append(c)
    return comments


@pytest.mark.parametrize("ticket_change, comments, trigger, reason", [
    ({}, _with_comment(1300, body="Here is how to get your refund"), None, "latest public comment is by the bot"),
    ({}, _with_comment(1200, body="Refunded!"), None, "latest public comment is by an agent"),
    # a private bot note after the customer's comment is the worker's business (its idempotency record)
    ({}, _with_comment(1300, public=False, body="draft note"), None, None),
    ({"tags": ["billing", "bot_off"]}, None, None, "bot_off"),
    ({"assignee_id": 1200}, None, None, "human agent is assigned"),
    ({}, None, "5001", "stale"),
    ({}, None, "5002", "stale"),  # the trigger comment is a private note, not the customer's latest
    ({"subject": "Automatic reply: Out of office until Monday"}, None, None, "auto-reply"),
    ({}, _with_comment(9001, custom={}, cid=5010), None, None),
    ({"status": "closed"}, None, None, "closed"),
])
@responses.activate
def test_loop_guards(adapter, ticket_change, comments, trigger, reason):
    ticket = fx("ticket.json")
    ticket["ticket"].update(ticket_change)
    mock_ticket(ticket, comments)
    loaded = adapter.load_ticket("48213", trigger_comment_id=trigger)
    if reason is None:
        assert loaded.skip_reason is None
    else:
        assert loaded.skip_reason and reason in loaded.skip_reason


@responses.activate
def test_auto_submitted_marker_in_comment_metadata_is_an_auto_reply(adapter):
    comments = fx("comments.json")
    comments["comments"][-1]["metadata"]["system"]["auto_submitted"] = "auto-replied"
    mock_ticket(None, comments)
    assert "auto-reply" in adapter.load_ticket("48213").skip_reason


@responses.activate
def test_bot_marker_identifies_bot_comments_without_bot_user(fake):
    a = ZendeskAdapter(zsettings(bot_user_id=None), sleep=fake.sleep, clock=fake.clock)
    mock_ticket(None, _with_comment(1200, body="Our answer", custom={"supportbot": {"v": 1}}))
    loaded = a.load_ticket("48213")
    assert loaded.ticket.messages[-1].author == "bot" and loaded.bot_attempts == 1
    assert "by the bot" in loaded.skip_reason


@responses.activate
def test_assignee_who_is_the_bot_is_not_a_human(adapter):
    ticket = fx("ticket.json")
    ticket["ticket"]["assignee_id"] = 1300
    mock_ticket(ticket)
    loaded = adapter.load_ticket("48213")
    assert loaded.assignee_is_human is False and loaded.skip_reason is None


def test_load_ticket_refuses_a_non_id(adapter):
    with pytest.raises(BadInput):
        adapter.load_ticket("48213/../../users")


@responses.activate
def test_rate_limited_load_honours_retry_after(adapter, fake):
    responses.get(f"{URL}/api/v2/tickets/48213.json", status=429, headers={"Retry-After": "3"})
    mock_ticket()
    adapter.load_ticket("48213")
    assert fake.slept == [3.0]


# -- writing ------------------------------------------------------------------------------------------------

def _put_body(call) -> dict:
    return json.loads(call.request.body)["ticket"]


@responses.activate
def test_draft_escalation_is_one_put_with_note_tags_priority_group_and_lock(adapter):
    mock_ticket()
    loaded = adapter.load_ticket("48213")
    responses.get(f"{URL}/api/v2/groups.json", json=fx("groups.json"))
    responses.put(f"{URL}/api/v2/tickets/48213.json", json=fx("update_response.json"))
    result = adapter.apply(loaded, decision(), "draft")
    puts = [c for c in responses.calls if c.request.method == "PUT"]
    assert len(puts) == 1 and result.calls == 2  # the groups listing, once per adapter, plus the PUT
    body = _put_body(puts[0])
    assert body["comment"]["public"] is False and body["comment"]["author_id"] == 1300
    assert "Intent refund_request (0.91)" in body["comment"]["html_body"]
    assert body["tags"] == ["billing", "refund", "bot_escalated", "intent_refund_request"]  # current tags kept
    assert body["priority"] == "high" and body["group_id"] == 360000102
    assert body["safe_update"] is True and body["updated_stamp"] == "2026-09-01T12:30:05Z"
    assert body["metadata"]["supportbot"]["action"] == "escalate"
    assert result.response_ids == ("7010", "5010")
    customer_words = "charged twice"
    assert customer_words not in json.dumps(result.sent).lower()
    assert result.sent["tags_added"] == ["bot_escalated", "intent_refund_request"]

    responses.put(f"{URL}/api/v2/tickets/48213.json", json=fx("update_response.json"))
    again = adapter.apply(loaded, decision(), "draft")
    assert again.calls == 1  # group ids are cached per adapter instance


@responses.activate
def test_auto_answer_is_a_public_reply_without_group(adapter):
    mock_ticket()
    loaded = adapter.load_ticket("48213")
    responses.put(f"{URL}/api/v2/tickets/48213.json", json=fx("update_response.json"))
    hit = ArticleHit(id="360044", title="Refunds", section="How long refunds take", score=0.74,
                     url="https://help.acme.com/hc/en-us/articles/360044")
    d = decision(action="answer", reply="Refunds take 5-10 days.\n\nSee https://help.acme.com/hc/en-us/articles/360044 <b>",
                 group=None, priority="normal", tags=("bot_answered",), article=hit)
    result = adapter.apply(loaded, d, "auto")
    body = _put_body(responses.calls[-1])
    assert body["comment"]["public"] is True
    html = body["comment"]["html_body"]
    assert html.startswith("<p>Refunds take 5-10 days.</p>") and "&lt;b&gt;" in html
    assert '<a href="https://help.acme.com/hc/en-us/articles/360044">' in html
    assert "group_id" not in body and "priority" not in body  # normal is not higher than normal
    assert body["tags"] == ["billing", "refund", "bot_answered"]
    assert result.calls == 1 and result.sent["public"] is True


@responses.activate
def test_draft_answer_is_an_internal_note_with_the_proposed_reply(adapter):
    mock_ticket()
    loaded = adapter.load_ticket("48213")
    responses.put(f"{URL}/api/v2/tickets/48213.json", json=fx("update_response.json"))
    adapter.apply(loaded, decision(action="answer", reply="Try resetting.", group=None), "draft")
    body = _put_body(responses.calls[-1])
    assert body["comment"]["public"] is False and "Try resetting." in body["comment"]["html_body"]
    assert "priority" not in body  # only a handoff sets priority; an answer leaves it as the team set it


@responses.activate
def test_priority_is_never_lowered_and_tags_are_normalised(adapter):
    ticket = fx("ticket.json")
    ticket["ticket"]["priority"] = "urgent"
    mock_ticket(ticket)
    loaded = adapter.load_ticket("48213")
    responses.put(f"{URL}/api/v2/tickets/48213.json", json=fx("update_response.json"))
    adapter.apply(loaded, decision(group=None, tags=("Bot Escalated", "refund")), "draft")
    body = _put_body(responses.calls[-1])
    assert "priority" not in body
    assert body["tags"] == ["billing", "refund", "bot_escalated"]


@responses.activate
def test_unknown_group_is_reported_not_sent(adapter):
    mock_ticket()
    loaded = adapter.load_ticket("48213")
    responses.get(f"{URL}/api/v2/groups.json", json=fx("groups.json"))
    responses.put(f"{URL}/api/v2/tickets/48213.json", json=fx("update_response.json"))
    result = adapter.apply(loaded, decision(group="Nowhere"), "draft")
    assert "group_id" not in _put_body(responses.calls[-1]) and result.sent["group_unknown"] is True


@responses.activate
def test_shadow_mode_and_skipped_tickets_make_no_call(adapter):
    mock_ticket()
    loaded = adapter.load_ticket("48213")
    n = len(responses.calls)
    assert adapter.apply(loaded, decision(), "shadow").calls == 0
    skipped = type(loaded)(**{**loaded.__dict__, "skip_reason": "ticket tagged bot_off"})
    assert adapter.apply(skipped, decision(), "auto").sent["skipped"] == "ticket tagged bot_off"
    assert len(responses.calls) == n
    with pytest.raises(BadInput):
        adapter.apply(loaded, decision(), "loud")


@responses.activate
def test_409_raises_conflict(adapter):
    mock_ticket()
    loaded = adapter.load_ticket("48213")
    responses.put(f"{URL}/api/v2/tickets/48213.json", status=409,
                  json={"error": "UpdateConflict", "description": "Safe Update prevented the update"})
    with pytest.raises(Conflict):
        adapter.apply(loaded, decision(group=None), "draft")
    assert len([c for c in responses.calls if c.request.method == "PUT"]) == 1


def test_capabilities():
    assert CAPABILITIES.combined_write and CAPABILITIES.internal_notes and CAPABILITIES.priority
    assert CAPABILITIES.groups and not CAPABILITIES.tags_by_id and CAPABILITIES.signed_webhooks
    assert CAPABILITIES.optimistic_locking and ZendeskAdapter.capabilities is CAPABILITIES


# -- history export -----------------------------------------------------------------------------------------

def _comments_for(tid: int, n_agent: int = 1) -> dict:
    base = fx("comments.json")
    cs = [dict(base["comments"][0], id=tid * 10 + 1, created_at="2026-08-01T09:00:00Z")]
    for i in range(n_agent):
        cs.append(dict(base["comments"][1], id=tid * 10 + 2 + i, public=True, body="Done!", plain_body="Done!",
                       created_at=f"2026-08-01T10:0{i}:00Z"))
    return {"comments": cs, "users": base["users"], "next_page": None}


def _mock_export():
    export = f"{URL}/api/v2/incremental/tickets/cursor.json"
    p1 = fx("incremental_tickets_page1.json")
    responses.get(export, json=p1, match=[responses.matchers.query_param_matcher(
        {"start_time": str(int(1_756_800_000 - 90 * 86400)), "per_page": "1000", "include":
         "users,groups,organizations,metric_sets", "exclude_deleted": "true"})])
    responses.get(export, json=fx("incremental_tickets_page2.json"), match=[responses.matchers.query_param_matcher(
        {"cursor": p1["after_cursor"], "per_page": "1000", "include": "users,groups,organizations,metric_sets",
         "exclude_deleted": "true"})])
    p2 = fx("incremental_tickets_page2.json")
    responses.get(export, json={"tickets": [], "after_cursor": p2["after_cursor"], "end_of_stream": True},
                  match=[responses.matchers.query_param_matcher(
                      {"cursor": p2["after_cursor"], "per_page": "1000",
                       "include": "users,groups,organizations,metric_sets", "exclude_deleted": "true"})])
    for tid in (40001, 40002, 40003):
        responses.get(f"{URL}/api/v2/tickets/{tid}/comments.json", json=_comments_for(tid))


@responses.activate
def test_history_export_maps_records_and_paces_the_export_endpoint(adapter, fake):
    _mock_export()
    out = list(adapter.export_history(90))
    assert [r["id"] for r, _ in out] == ["40001", "40002", "40003"]
    first, second, third = (r for r, _ in out)
    assert first["satisfaction"] == "good" and second["satisfaction"] == "bad" and third["satisfaction"] is None
    assert first["reopened"] is False and second["reopened"] is True
    assert first["solved_at"] == "2026-08-01T10:00:00Z" and first["status"] == "closed"
    assert first["group"] == "Accounts" and second["group"] == "Billing"
    assert first["requester"] == {"id": "9001", "vip": False, "plan": "pro"}
    assert second["requester"]["vip"] is True and second["priority"] == "high"
    assert [m["author"] for m in first["messages"]] == ["customer", "agent"]
    assert first["intent"] is None and first["vendor"] == "zendesk"
    assert set(first) == {"id", "vendor", "subject", "messages", "tags", "priority", "status", "channel", "group",
                          "created_at", "solved_at", "satisfaction", "reopened", "requester", "page_url", "intent"}
    assert any(0 < s <= 6.0 for s in fake.slept)  # 10 requests a minute on the export endpoint


@responses.activate
def test_history_export_resumes_from_any_cursor_without_duplicates(adapter):
    _mock_export()
    full = list(adapter.export_history(90))
    ids = [r["id"] for r, _ in full]
    for i, (_, cursor) in enumerate(full):
        resumed = [r["id"] for r, _ in adapter.export_history(90, cursor=cursor)]
        assert ids[: i + 1] + resumed == ids, f"resuming after record {i}"
    assert decode_cursor(full[1][1])[0] == "c"  # the end of a page resumes from Zendesk's own after_cursor


@responses.activate
def test_history_export_honours_retry_after_on_its_rate_limit(adapter, fake):
    export = f"{URL}/api/v2/incremental/tickets/cursor.json"
    responses.get(export, status=429, headers={"Retry-After": "45"})
    page = fx("incremental_tickets_page2.json")
    responses.get(export, json=page)
    responses.get(f"{URL}/api/v2/tickets/40003/comments.json", json=_comments_for(40003))
    assert [r["id"] for r, _ in adapter.export_history(30)] == ["40003"]
    assert 45.0 in fake.slept


def test_bad_cursor_is_bad_input(adapter):
    with pytest.raises(BadInput):
        list(adapter.export_history(90, cursor="garbage"))


# -- articles -----------------------------------------------------------------------------------------------

@responses.activate
def test_articles_all_pages_drafts_left_out_names_resolved(adapter):
    page1 = fx("articles.json")
    page2 = {"articles": [dict(page1["articles"][0], id=360077, title="Two-factor login")],
             "meta": {"has_more": False}, "links": {"next": None}}
    page1["meta"]["has_more"] = True
    page1["links"]["next"] = "https://acme.zendesk.com/api/v2/help_center/articles.json?page%5Bsize%5D=100&page%5Bafter%5D=xyz3"
    responses.get(f"{URL}/api/v2/help_center/sections.json", json=fx("sections.json"))
    responses.get(f"{URL}/api/v2/help_center/categories.json", json=fx("categories.json"))
    responses.get(f"{URL}/api/v2/help_center/articles.json", json=page1,
                  match=[responses.matchers.query_param_matcher({"page[size]": "100"})])
    responses.get(f"{URL}/api/v2/help_center/articles.json", json=page2,
                  match=[responses.matchers.query_param_matcher({"page[size]": "100", "page[after]": "xyz3"})])
    arts = list(adapter.export_articles())
    assert [a.id for a in arts] == ["360001", "360044", "360077"]
    a = arts[1]
    assert (a.title, a.section, a.category, a.labels, a.vendor, a.draft) == \
        ("Refunds", "Billing", "Payments", ("billing", "refund"), "zendesk", False)
    assert a.url == "https://help.acme.com/hc/en-us/articles/360044" and a.updated_at == "2025-03-01T08:00:00Z"


# -- ZENDESK_URL for every endpoint -------------------------------------------------------------------------

def test_zendesk_url_is_honoured_for_every_endpoint(fake):
    a = ZendeskAdapter(zsettings(), sleep=fake.sleep, clock=fake.clock, wall=lambda: 1_756_800_000.0)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        comments = fx("comments.json")
        comments["next_page"] = "https://acme.zendesk.com/api/v2/tickets/48213/comments.json?page=2"
        rsps.get(f"{URL}/api/v2/tickets/48213.json", json=fx("ticket.json"))
        rsps.get(f"{URL}/api/v2/tickets/48213/comments.json", json=comments,
                 match=[responses.matchers.query_param_matcher({"include": "users"})])
        rsps.get(f"{URL}/api/v2/tickets/48213/comments.json", json={"comments": [], "next_page": None},
                 match=[responses.matchers.query_param_matcher({"page": "2"})])
        rsps.get(f"{URL}/api/v2/groups.json", json=fx("groups.json"))
        rsps.put(f"{URL}/api/v2/tickets/48213.json", json=fx("update_response.json"))
        for name in ("sections", "categories", "articles"):
            rsps.get(f"{URL}/api/v2/help_center/{name}.json", json=fx(f"{name}.json"))
        p2 = fx("incremental_tickets_page2.json")
        p2["tickets"] = []
        rsps.get(f"{URL}/api/v2/incremental/tickets/cursor.json", json=p2)
        loaded = a.load_ticket("48213")
        a.apply(loaded, decision(), "draft")
        list(a.export_articles())
        list(a.export_history(7))
        urls = [c.request.url for c in rsps.calls]
    assert len(urls) == 9  # ticket, 2 comment pages, groups, PUT, 3 help-center lists, 1 export page
    assert all(u.startswith(URL + "/api/v2/") for u in urls), urls


# -- registry -----------------------------------------------------------------------------------------------

def test_registry():
    assert isinstance(get_adapter("zendesk", Settings(zendesk=zsettings())), ZendeskAdapter)
    for vendor, settings_ in (("zendesk", Settings()), ("jira", Settings(zendesk=zsettings())),
                              ("freshdesk", Settings(zendesk=zsettings()))):
        with pytest.raises(BadInput):
            get_adapter(vendor, settings_)


def test_secrets_stay_out_of_repr():
    a = ZendeskAdapter(zsettings())
    assert "tok-123" not in repr(a) and SECRET not in repr(a) and "tok-123" not in repr(a.settings)


# -- against the stand-in server ----------------------------------------------------------------------------

@pytest.fixture
def standin():
    with StandinZendesk(email="bot@example.com", token="tok-123") as zd:
        yield zd


def standin_adapter(zd: StandinZendesk, fake: FakeTime, **over) -> ZendeskAdapter:
    return ZendeskAdapter(zsettings(url=zd.url, bot_user_id=str(zd.me_id), **over), sleep=fake.sleep,
                          clock=fake.clock)


def test_install_twice_is_the_same_state_and_uninstall_restores(standin, fake):
    before = standin.snapshot()
    a = standin_adapter(standin, fake)
    first = a.install("https://bot.example.com")
    assert first["webhook"]["action"] == "created"
    assert [t["action"] for t in first["triggers"]] == ["created", "created"]
    hook = next(iter(standin.webhooks.values()))
    assert hook["endpoint"] == "https://bot.example.com/webhooks/zendesk"
    assert hook["subscriptions"] == ["conditional_ticket_events"] and hook["request_format"] == "json"
    assert first["signing_secret"] == standin.secret_of(hook["id"])
    after_first = standin.snapshot()
    second = a.install("https://bot.example.com/")
    assert second["webhook"]["action"] == "unchanged"
    assert [t["action"] for t in second["triggers"]] == ["unchanged", "unchanged"]
    assert standin.snapshot() == after_first
    removed = a.uninstall()
    assert len(removed["triggers"]) == 2 and removed["webhook"]["id"] == hook["id"]
    assert standin.snapshot() == before
    assert a.uninstall() == {"vendor": "zendesk", "triggers": [], "webhook": None}


def test_install_with_a_new_url_updates_the_one_webhook(standin, fake):
    a = standin_adapter(standin, fake)
    a.install("https://old.example.com")
    again = a.install("https://new.example.com")
    assert again["webhook"]["action"] == "updated" and len(standin.webhooks) == 1
    assert next(iter(standin.webhooks.values()))["endpoint"] == "https://new.example.com/webhooks/zendesk"


def test_check_reports_each_problem(standin, fake):
    a = standin_adapter(standin, fake)
    problems = a.check("https://bot.example.com")
    assert any(p.startswith("webhook:") for p in problems) and sum(p.startswith("trigger:") for p in problems) == 2
    secret = a.install("https://bot.example.com")["signing_secret"]
    assert any(p.startswith("secret:") for p in a.check("https://bot.example.com"))
    good = standin_adapter(standin, fake, webhook_secret=secret)
    assert good.check("https://bot.example.com") == []
    assert any("endpoint" in p for p in good.check("https://elsewhere.example.com"))
    standin.triggers[min(standin.triggers)]["active"] = False
    assert any("inactive" in p for p in good.check())
    bad_creds = standin_adapter(standin, fake, api_token="nope")
    assert bad_creds.check()[0].startswith("credentials:")


class _Receiver:
    """The bot's webhook endpoint, reduced to verify + parse with the adapter, answering like http.md says."""

    def __init__(self, adapter: ZendeskAdapter):
        self.adapter = adapter
        self.events: list = []
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def app(self, environ, start_response):
        req = Request(environ)
        body = req.get_data()
        try:
            self.adapter.verify_webhook(dict(req.headers), body, datetime.now(timezone.utc).timestamp())
            result = self.adapter.parse_webhook(dict(req.headers), body)
        except WebhookRejected as exc:
            return Response(json.dumps({"status": "rejected", "reason": exc.reason}), status=exc.status)(
                environ, start_response)
        self.events.append(result)
        return Response(json.dumps({"status": "queued"}), status=202)(environ, start_response)


def test_end_to_end_trigger_delivery_load_and_write_in_three_calls(standin, fake):
    a = standin_adapter(standin, fake)
    receiver = _Receiver(a)
    try:
        secret = a.install(receiver.url)["signing_secret"]
        a = standin_adapter(standin, fake, webhook_secret=secret)
        receiver.adapter = a
        customer = standin.add_user("Dana", user_fields={"plan": "enterprise"})
        standin.add_group("Tier 2")
        tid = standin.create_ticket(customer, "Charged twice", "I was charged twice", tags=("billing",),
                                    priority="normal")
        assert [d["status"] for d in standin.deliveries] == [202]
        event = receiver.events[-1]
        assert isinstance(event, WebhookEvent) and event.kind == "ticket_created" and event.ticket_id == str(tid)
        assert event.author_role == "end-user" and event.delivery_id.startswith("inv-")
        a.group_id("Tier 2")  # warm the per-process cache, as a long-running worker has
        standin.reset_counts()
        loaded = a.load_ticket(event.ticket_id, event.comment_id)
        assert loaded.skip_reason is None and loaded.ticket.requester.plan == "enterprise"
        result = a.apply(loaded, decision(ticket_id=str(tid)), "draft")
        assert standin.count() == 3 and result.calls == 1
        assert standin.tickets[tid]["tags"] == ["billing", "bot_escalated", "intent_refund_request"]
        assert standin.tickets[tid]["priority"] == "high"
        note = standin.comments[tid][-1]
        assert note["public"] is False and note["author_id"] == standin.me_id
        assert len(standin.deliveries) == 1  # the bot's own note fires none of our triggers
        standin.add_comment(tid, customer, "Any news?")
        assert receiver.events[-1].kind == "comment_added"
        assert receiver.events[-1].comment_id == str(standin.comments[tid][-1]["id"])
        agent = standin.add_user("Sam", role="agent")
        standin.add_comment(tid, agent, "Looking into it", public=True)
        assert len(standin.deliveries) == 2  # an agent's reply matches no trigger
        assert "by an agent" in a.load_ticket(str(tid)).skip_reason
    finally:
        receiver.server.shutdown()


def test_stale_write_is_refused_by_the_standin(standin, fake):
    a = standin_adapter(standin, fake)
    customer = standin.add_user("Dana")
    tid = standin.create_ticket(customer, "Help", "It broke")
    loaded = a.load_ticket(str(tid))
    standin.add_comment(tid, customer, "Also this")
    with pytest.raises(Conflict):
        a.apply(loaded, decision(ticket_id=str(tid), group=None), "draft")
    assert len(standin.comments[tid]) == 2


def test_standin_faults_are_ridden_out(standin, fake):
    a = standin_adapter(standin, fake)
    customer = standin.add_user("Dana")
    tid = standin.create_ticket(customer, "Help", "It broke")
    standin.fail_next(1, status=429, retry_after="2")
    standin.fail_next(2, status=503)
    loaded = a.load_ticket(str(tid))
    assert loaded.ticket.latest_customer_text() == "It broke"
    assert fake.slept[0] == 2.0 and len(fake.slept) == 3


def test_standin_history_and_articles(standin, fake):
    a = ZendeskAdapter(zsettings(url=standin.url), sleep=fake.sleep, clock=fake.clock, wall=lambda: 1_756_800_000.0)
    customer = standin.add_user("Dana")
    ids = [standin.create_ticket(customer, f"T{i}", f"body {i}") for i in range(3)]
    assert [r["id"] for r, _ in a.export_history(30)] == [str(i) for i in ids]
    standin.add_article("Reset your password", "<p>Steps</p>", section="Account", category="Getting started")
    standin.add_article("Draft", "<p>x</p>", draft=True)
    arts = list(a.export_articles())
    assert [x.title for x in arts] == ["Reset your password"] and arts[0].category == "Getting started"
