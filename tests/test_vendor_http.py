"""VendorHTTP: the retry policy every adapter relies on, checked with a fake clock (no real sleeping)."""
from __future__ import annotations

import email.utils

import pytest
import requests
import responses

from adapters.http import RetryBudgetExceeded, VendorError, VendorHTTP

BASE = "https://vendor.test"


class FakeTime:
    """Sleeping moves the clock; nothing waits for real."""

    def __init__(self, start: float = 1_000.0):
        self.now = start
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


def make(fake: FakeTime, **kw):
    calls = []
    http = VendorHTTP("acme", BASE, sleep=fake.sleep, clock=fake.clock, wall=lambda: 1_700_000_000.0,
                      rng=lambda: 1.0, on_call=lambda v, m, s: calls.append((v, m, s)), **kw)
    return http, calls


@responses.activate
def test_429_honours_retry_after_seconds():
    fake = FakeTime()
    http, calls = make(fake)
    responses.get(f"{BASE}/x", status=429, headers={"Retry-After": "7"})
    responses.get(f"{BASE}/x", json={"ok": True})
    assert http.get_json("/x") == {"ok": True}
    assert fake.slept == [7.0]
    assert calls == [("acme", "GET", 429), ("acme", "GET", 200)]
    assert http.calls == 2


@responses.activate
def test_429_honours_retry_after_http_date():
    fake = FakeTime()
    http, _ = make(fake)
    when = email.utils.formatdate(1_700_000_000.0 + 12, usegmt=True)
    responses.get(f"{BASE}/x", status=429, headers={"Retry-After": when})
    responses.get(f"{BASE}/x", json={})
    http.get_json("/x")
    assert fake.slept == [12.0]


@responses.activate
def test_retry_after_beyond_budget_gives_up_at_once_with_a_clear_error():
    fake = FakeTime()
    http, _ = make(fake, max_total=60)
    responses.get(f"{BASE}/x", status=429, headers={"Retry-After": "120"})
    with pytest.raises(RetryBudgetExceeded) as info:
        http.get_json("/x")
    assert fake.slept == []
    assert "Retry-After 120s" in str(info.value) and "budget" in str(info.value)
    assert info.value.status == 429


@responses.activate
def test_5xx_burst_then_success_with_exponential_full_jitter():
    fake = FakeTime()
    http, calls = make(fake)
    for status in (500, 502, 503):
        responses.get(f"{BASE}/x", status=status)
    responses.get(f"{BASE}/x", json={"n": 1})
    assert http.get_json("/x") == {"n": 1}
    assert fake.slept == [0.5, 1.0, 2.0]  # rng() = 1.0: the top of each full-jitter window
    assert [c[2] for c in calls] == [500, 502, 503, 200]


def test_jitter_stays_within_the_window():
    fake = FakeTime()
    http = VendorHTTP("acme", BASE, sleep=fake.sleep, clock=fake.clock, rng=lambda: 0.25)
    with responses.RequestsMock() as rsps:
        rsps.get(f"{BASE}/x", status=503)
        rsps.get(f"{BASE}/x", status=503)
        rsps.get(f"{BASE}/x", json={})
        http.get_json("/x")
    assert fake.slept == [0.125, 0.25]


@responses.activate
def test_timeout_then_success():
    fake = FakeTime()
    http, calls = make(fake)
    responses.get(f"{BASE}/x", body=requests.exceptions.ReadTimeout("slow"))
    responses.get(f"{BASE}/x", body=requests.exceptions.ConnectionError("reset"))
    responses.get(f"{BASE}/x", json={"ok": 1})
    assert http.get_json("/x") == {"ok": 1}
    assert [c[2] for c in calls] == ["timeout", "connection", 200]


@responses.activate
def test_attempt_cap_reached_gives_a_clear_error():
    fake = FakeTime()
    http, calls = make(fake, max_attempts=3)
    responses.get(f"{BASE}/x", status=503)
    with pytest.raises(RetryBudgetExceeded) as info:
        http.get_json("/x")
    assert len(calls) == 3
    assert "gave up after 3 attempt(s)" in str(info.value) and "503" in str(info.value)


@responses.activate
def test_total_time_budget_caps_backoff():
    fake = FakeTime()
    http = VendorHTTP("acme", BASE, sleep=fake.sleep, clock=fake.clock, rng=lambda: 1.0, max_attempts=50,
                      max_total=5.0, backoff_base=1.0)
    responses.get(f"{BASE}/x", status=500)
    with pytest.raises(RetryBudgetExceeded):
        http.get_json("/x")
    assert sum(fake.slept) <= 5.0
    assert fake.slept == [1.0, 2.0]  # the next 4 s wait would pass the 5 s budget


@responses.activate
def test_client_errors_are_not_retried():
    fake = FakeTime()
    http, calls = make(fake)
    responses.get(f"{BASE}/x", status=404, json={"error": "RecordNotFound"})
    with pytest.raises(VendorError) as info:
        http.get_json("/x")
    assert info.value.status == 404 and info.value.payload == {"error": "RecordNotFound"}
    assert len(calls) == 1 and fake.slept == []


@responses.activate
def test_post_is_not_retried_after_a_5xx_but_is_after_a_429():
    fake = FakeTime()
    http, calls = make(fake)
    responses.post(f"{BASE}/p", status=502)
    with pytest.raises(VendorError):
        http.send_json("POST", "/p", {"a": 1})
    assert len(calls) == 1
    responses.replace(responses.POST, f"{BASE}/p", status=429, headers={"Retry-After": "1"})
    responses.add(responses.POST, f"{BASE}/p", json={"made": True}, status=201)
    assert http.send_json("POST", "/p", {"a": 1}) == {"made": True}


@responses.activate
def test_post_read_timeout_is_not_retried():
    fake = FakeTime()
    http, calls = make(fake)
    responses.post(f"{BASE}/p", body=requests.exceptions.ReadTimeout("slow"))
    with pytest.raises(VendorError) as info:
        http.send_json("POST", "/p", {})
    assert "may have been applied" in str(info.value) and len(calls) == 1


@responses.activate
def test_put_marked_idempotent_is_retried():
    fake = FakeTime()
    http, _ = make(fake)
    responses.put(f"{BASE}/t", status=503)
    responses.put(f"{BASE}/t", json={"ok": True})
    assert http.send_json("PUT", "/t", {}, idempotent=True) == {"ok": True}


@responses.activate
def test_absolute_vendor_links_are_rerooted_on_the_base_url():
    http = VendorHTTP("acme", "http://127.0.0.1:9999/prefix")
    responses.get("http://127.0.0.1:9999/prefix/api/v2/things.json", json={"page": 2})
    assert http.get_json("https://acme.zendesk.com/api/v2/things.json?page=2") == {"page": 2}
    assert responses.calls[0].request.url.startswith("http://127.0.0.1:9999/prefix/api/v2/things.json?page=2")


def test_timeouts_are_connect_and_read():
    http = VendorHTTP("acme", BASE)
    assert http.timeout == (3.05, 15.0)


@responses.activate
def test_a_failing_metrics_hook_does_not_break_the_call():
    def boom(*_):
        raise RuntimeError("metrics down")
    http = VendorHTTP("acme", BASE, on_call=boom)
    responses.get(f"{BASE}/x", json={"ok": 1})
    assert http.get_json("/x") == {"ok": 1}


@responses.activate
def test_errors_and_repr_carry_no_credentials_or_query():
    http = VendorHTTP("acme", BASE, auth=("me@example.com/token", "sekrit-token"))
    responses.get(f"{BASE}/x", status=401, json={"error": "Couldn't authenticate you"})
    with pytest.raises(VendorError) as info:
        http.get_json("/x", {"cursor": "abc"})
    assert "sekrit" not in str(info.value) and "sekrit" not in repr(http)
    assert "cursor" not in str(info.value)
