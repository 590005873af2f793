"""Loaders and validation (bot/files.py): the only place outside input becomes records.

Errors must be BadInput with a one-line reason naming the file and the line or key path; record converters may
only raise ValueError/TypeError (read_jsonl turns those into skipped lines), whatever the JSON holds.
"""
from __future__ import annotations

import copy
import re
import json
import os
import stat
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

from bot.brain.records import AUTHORS, PRIORITIES, Article, IntentsConfig, Ticket
from bot.errors import BadInput
from bot.files import (INTENT_KEYS, POLICY_KEYS, article_from_json, parse_intents, read_articles, read_history,
                       read_intents, read_jsonl, read_test_script, ticket_from_json, write_atomic, write_jsonl)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

SPEC_TICKET = {
    "id": "48213", "vendor": "zendesk", "subject": "Charged twice",
    "messages": [
        {"author": "customer", "body": "I was charged twice for order 1182, please refund one.", "public": True,
         "at": "2026-09-01T10:00:00Z"},
        {"author": "agent", "body": "Refunded, sorry about that!", "public": True, "at": "2026-09-01T11:02:00Z"}],
    "tags": ["billing", "refund"], "priority": "normal", "status": "solved", "channel": "email",
    "group": "Billing", "created_at": "2026-09-01T10:00:00Z", "solved_at": "2026-09-01T11:05:00Z",
    "satisfaction": "good", "reopened": False,
    "requester": {"id": "9001", "vip": False, "plan": "pro"},
    "page_url": "https://example.com/billing", "intent": None,
}

SPEC_ARTICLE = {"id": "360001", "vendor": "zendesk", "title": "Reset your password",
                "body_html": "<h2>Steps</h2><ol><li>a</li></ol>", "url": "https://help.example.com/hc/articles/360001",
                "locale": "en-us", "labels": ["login"], "section": "Account", "category": "Getting started",
                "updated_at": "2025-02-10T08:00:00Z", "draft": False}


@pytest.fixture(scope="module")
def fixture_intents() -> dict:
    return yaml.safe_load((FIXTURES / "intents.yaml").read_text())


@pytest.fixture(scope="module")
def article_ids() -> set[str]:
    return {a.id for a in read_articles(FIXTURES / "articles.jsonl")}


# --- ticket_from_json / article_from_json ------------------------------------------------------------------


def test_spec_ticket_parses():
    t = ticket_from_json(SPEC_TICKET)
    assert t.id == "48213" and t.vendor == "zendesk" and len(t.messages) == 2
    assert t.messages[0].author == "customer" and t.requester.plan == "pro" and t.tags == ("billing", "refund")
    assert t.first_customer_text().startswith("I was charged twice")


def test_numeric_ids_become_strings():
    t = ticket_from_json({**SPEC_TICKET, "id": 48213, "requester": {"id": 9001}})
    assert t.id == "48213" and t.requester.id == "9001"


@pytest.mark.parametrize("change, words", [
    ({"id": None}, "id"), ({"id": ""}, "id"), ({"id": True}, "id"), ({"vendor": None}, "vendor"),
    ({"messages": []}, "messages"), ({"messages": None}, "messages"), ({"created_at": None}, "created_at"),
    ({"messages": [{"author": "robot", "body": "x"}]}, "messages[0].author"),
    ({"messages": [{"author": "customer", "body": 5}]}, "messages[0].body"),
    ({"messages": ["hello"]}, "messages[0]"), ({"tags": "billing"}, "tags"), ({"tags": [1]}, "tags"),
    ({"priority": "asap"}, "priority"), ({"requester": ["x"]}, "requester"), ({"subject": ["x"]}, "subject"),
])
def test_ticket_from_json_rejects_with_a_reason(change, words):
    with pytest.raises(ValueError, match=words.replace("[", r"\[").replace("]", r"\]")):
        ticket_from_json({**SPEC_TICKET, **change})


def test_ticket_missing_required_field_is_rejected():
    for key in ("id", "vendor", "messages", "created_at"):
        obj = {k: v for k, v in SPEC_TICKET.items() if k != key}
        with pytest.raises(ValueError):
            ticket_from_json(obj)


def test_optional_fields_may_be_absent():
    t = ticket_from_json({"id": "1", "vendor": "v", "created_at": "2026-01-01T00:00:00Z",
                          "messages": [{"author": "customer", "body": "hi"}]})
    assert t.subject == "" and t.tags == () and t.requester.plan is None and t.intent is None


def test_spec_article_parses():
    a = article_from_json(SPEC_ARTICLE)
    assert isinstance(a, Article) and a.id == "360001" and a.labels == ("login",) and not a.draft
    assert article_from_json({**SPEC_ARTICLE, "draft": True}).draft


@pytest.mark.parametrize("change", [{"id": None}, {"title": None}, {"body_html": 3}, {"labels": "login"},
                                    {"url": ["x"]}])
def test_article_from_json_rejects(change):
    with pytest.raises(ValueError):
        article_from_json({**SPEC_ARTICLE, **change})


JSON_SCALARS = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True)
                | st.text(max_size=20))
JSON = st.recursive(JSON_SCALARS, lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c,
                                                                                         max_size=4), max_leaves=25)


def _maybe(valid):
    return st.one_of(valid, JSON)


MESSAGE = st.fixed_dictionaries({}, optional={
    "author": _maybe(st.sampled_from(AUTHORS)), "body": _maybe(st.text(max_size=30)), "public": JSON, "at": JSON})
TICKETISH = st.fixed_dictionaries({}, optional={
    "id": _maybe(st.text(min_size=1, max_size=6) | st.integers()), "vendor": _maybe(st.just("zendesk")),
    "messages": _maybe(st.lists(_maybe(MESSAGE), max_size=3)), "created_at": _maybe(st.just("2026-01-01T00:00:00Z")),
    "subject": JSON, "tags": _maybe(st.lists(st.text(max_size=5), max_size=3)),
    "priority": _maybe(st.sampled_from(PRIORITIES)), "status": JSON, "channel": JSON, "group": JSON,
    "solved_at": JSON, "satisfaction": JSON, "reopened": JSON, "page_url": JSON, "intent": JSON, "attempts": JSON,
    "requester": _maybe(st.fixed_dictionaries({}, optional={"id": JSON, "vip": JSON, "plan": JSON})),
})
ARTICLEISH = st.fixed_dictionaries({}, optional={
    "id": _maybe(st.text(min_size=1, max_size=6)), "title": _maybe(st.text(max_size=10)),
    "body_html": _maybe(st.text(max_size=30)), "vendor": JSON, "url": JSON, "locale": JSON, "labels": JSON,
    "section": JSON, "category": JSON, "updated_at": JSON, "draft": JSON})


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(JSON, TICKETISH))
def test_ticket_from_json_only_raises_value_or_type_error(obj):
    try:
        t = ticket_from_json(obj)
    except (ValueError, TypeError):
        return
    assert isinstance(t, Ticket)
    assert isinstance(t.id, str) and t.id and isinstance(t.vendor, str) and t.messages
    assert all(m.author in AUTHORS and isinstance(m.body, str) for m in t.messages)
    assert t.priority is None or t.priority in PRIORITIES
    assert isinstance(t.attempts, int) and isinstance(t.subject, str)
    assert all(isinstance(x, str) for x in t.tags)
    assert t.requester.plan is None or isinstance(t.requester.plan, str)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(JSON, ARTICLEISH))
def test_article_from_json_only_raises_value_or_type_error(obj):
    try:
        a = article_from_json(obj)
    except (ValueError, TypeError):
        return
    assert isinstance(a, Article) and isinstance(a.id, str) and a.id
    assert isinstance(a.title, str) and isinstance(a.body_html, str) and isinstance(a.url, str)
    assert all(isinstance(x, str) for x in a.labels)


# --- read_jsonl ----------------------------------------------------------------------------------------------


def _ticket_line(i: int) -> str:
    return json.dumps({**SPEC_TICKET, "id": str(i)})


def _write_lines(path: Path, n: int, bad: set[int], blank_after: int | None = None) -> Path:
    lines = []
    for i in range(1, n + 1):
        lines.append("{not json" if i in bad else _ticket_line(i))
        if blank_after == i:
            lines.append("")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_one_bad_line_in_200_warns_with_its_number_and_loads_the_rest(tmp_path):
    path = _write_lines(tmp_path / "h.jsonl", 200, {57})
    warnings = []
    tickets = read_jsonl(path, ticket_from_json, "tickets", warn=warnings.append)
    assert len(tickets) == 199
    assert "57" not in {t.id for t in tickets} and {"56", "58"} <= {t.id for t in tickets}
    assert len(warnings) == 1 and "line 57" in warnings[0] and str(path) in warnings[0]


def test_line_numbers_are_file_lines_counting_blank_lines(tmp_path):
    path = _write_lines(tmp_path / "h.jsonl", 200, {100}, blank_after=10)  # ticket 100 is on line 101
    warnings = []
    read_jsonl(path, ticket_from_json, "tickets", warn=warnings.append)
    assert len(warnings) == 1 and "line 101:" in warnings[0]


def test_a_line_missing_a_required_field_is_a_bad_line_with_the_reason(tmp_path):
    lines = [_ticket_line(i) for i in range(150)]
    lines[3] = json.dumps({k: v for k, v in SPEC_TICKET.items() if k != "created_at"})
    (tmp_path / "h.jsonl").write_text("\n".join(lines))
    warnings = []
    assert len(read_jsonl(tmp_path / "h.jsonl", ticket_from_json, "tickets", warn=warnings.append)) == 149
    assert "line 4" in warnings[0] and "created_at" in warnings[0]


def test_three_bad_in_100_is_an_error_naming_the_first_bad_line(tmp_path):
    path = _write_lines(tmp_path / "h.jsonl", 100, {12, 40, 77})
    with pytest.raises(BadInput) as e:
        read_jsonl(path, ticket_from_json, "tickets", warn=lambda m: None)
    msg = str(e.value)
    assert "over 1%" in msg and "line 12" in msg and str(path) in msg and "\n" not in msg


def test_exactly_one_percent_bad_is_still_accepted(tmp_path):
    path = _write_lines(tmp_path / "h.jsonl", 100, {5})
    assert len(read_jsonl(path, ticket_from_json, "tickets", warn=lambda m: None)) == 99
    path = _write_lines(tmp_path / "h2.jsonl", 100, {5, 6})
    with pytest.raises(BadInput, match="over 1%"):
        read_jsonl(path, ticket_from_json, "tickets", warn=lambda m: None)


@pytest.mark.parametrize("content", ["", "\n\n  \n"])
def test_empty_file_is_bad_input(tmp_path, content):
    (tmp_path / "h.jsonl").write_text(content)
    with pytest.raises(BadInput, match="no tickets"):
        read_history(tmp_path / "h.jsonl")


def test_missing_directory_and_non_utf8_files_are_bad_input(tmp_path):
    with pytest.raises(BadInput, match="no such file"):
        read_history(tmp_path / "nope.jsonl")
    with pytest.raises(BadInput, match="directory"):
        read_history(tmp_path)
    (tmp_path / "latin1.jsonl").write_bytes(b"\xff\xfe{}\n")
    with pytest.raises(BadInput, match="UTF-8"):
        read_history(tmp_path / "latin1.jsonl")


def test_fixture_files_load():
    assert len(read_history(FIXTURES / "history.jsonl")) == 1515
    articles = read_articles(FIXTURES / "articles.jsonl")
    assert len(articles) == 23 and sum(a.draft for a in articles) == 1


# --- parse_intents ---------------------------------------------------------------------------------------------


def _bad(data, article_ids=None) -> str:
    with pytest.raises(BadInput) as e:
        parse_intents(data, "intents.yaml", article_ids)
    msg = str(e.value)
    assert msg.startswith("intents.yaml: ") and "\n" not in msg
    return msg


def test_fixture_intents_parse(fixture_intents, article_ids):
    cfg = parse_intents(fixture_intents, "intents.yaml", article_ids)
    assert isinstance(cfg, IntentsConfig) and len(cfg.intents) == 24
    assert cfg.policy.target_precision == 0.9 and cfg.policy.vip_plans == ("enterprise",)
    assert cfg.by_name()["payment_issue"].escalate and cfg.by_name()["track_order"].articles == ("360000101",)
    assert read_intents(FIXTURES / "intents.yaml", article_ids) == cfg


def test_unknown_intent_key_names_its_path(fixture_intents):
    data = copy.deepcopy(fixture_intents)
    data["intents"][3]["colour"] = "blue"
    assert "intents[3].colour" in _bad(data)


def test_unknown_policy_and_top_level_keys(fixture_intents):
    data = copy.deepcopy(fixture_intents)
    data["policy"]["colour"] = "blue"
    assert "policy.colour" in _bad(data)
    data = copy.deepcopy(fixture_intents)
    data["version"] = 2
    assert "version" in _bad(data)


def test_dangling_article_id_names_its_path(fixture_intents, article_ids):
    data = copy.deepcopy(fixture_intents)
    data["intents"][0]["articles"] = list(data["intents"][0]["articles"]) + ["999999"]
    msg = _bad(data, article_ids)
    assert "intents[0].articles[1]" in msg and "999999" in msg
    assert parse_intents(data, "intents.yaml", None), "without synced articles the ids are not checked"


def test_draft_article_id_counts_as_unknown_when_only_published_ids_are_given(fixture_intents):
    published = {a.id for a in read_articles(FIXTURES / "articles.jsonl") if not a.draft}
    data = copy.deepcopy(fixture_intents)
    data["intents"][2]["articles"] = ["360000123"]
    assert "intents[2].articles[0]" in _bad(data, published)


def test_duplicate_intent_name(fixture_intents):
    data = copy.deepcopy(fixture_intents)
    data["intents"][5]["name"] = data["intents"][1]["name"]
    msg = _bad(data)
    assert "intents[5].name" in msg and "duplicate" in msg


def test_tag_claimed_twice(fixture_intents):
    data = copy.deepcopy(fixture_intents)
    first = data["intents"][0]
    data["intents"][2]["tags"] = ["something_else", first["tags"][0]]
    msg = _bad(data)
    assert "intents[2].tags[1]" in msg and first["name"] in msg


@pytest.mark.parametrize("key, value, path", [
    ("mode", "yolo", "policy.mode"), ("mode", 3, "policy.mode"), ("rollout_percent", 150, "policy.rollout_percent"),
    ("rollout_percent", "10%", "policy.rollout_percent"), ("rollout_percent", True, "policy.rollout_percent"),
    ("target_precision", 0, "policy.target_precision"), ("target_precision", 1.5, "policy.target_precision"),
    ("target_precision", "high", "policy.target_precision"), ("negative_sentiment", "low", "policy.negative_sentiment"),
    ("max_attempts", 2.5, "policy.max_attempts"), ("vip_plans", "enterprise", "policy.vip_plans"),
    ("vip_plans", [["x"]], "policy.vip_plans[0]"), ("escalation_group", ["Tier 2"], "policy.escalation_group"),
])
def test_bad_policy_value_names_its_key(fixture_intents, key, value, path):
    data = copy.deepcopy(fixture_intents)
    data["policy"][key] = value
    assert path in _bad(data)


@pytest.mark.parametrize("key, value", [("kind", "magic"), ("category", "other"), ("priority", "asap"),
                                        ("escalate", "yes"), ("examples", "one"), ("tags", [1.5]), ("name", 7),
                                        ("description", ["x"])])
def test_bad_intent_value_names_its_key(fixture_intents, key, value):
    data = copy.deepcopy(fixture_intents)
    data["intents"][4][key] = value
    assert f"intents[4].{key}" in _bad(data)


@pytest.mark.parametrize("data", [None, [], "intents", {"intents": []}, {"intents": None}, {"intents": ["x"]},
                                  {"intents": [{"description": "no name"}]}, {"policy": ["x"], "intents": [{"name": "a"}]}])
def test_malformed_intents_documents(data):
    _bad(data)


@pytest.mark.parametrize("key", ["target_precision", "negative_sentiment"])
def test_huge_integer_policy_value_is_bad_input(fixture_intents, key):
    data = copy.deepcopy(fixture_intents)
    data["policy"][key] = 10 ** 400
    _bad(data)


# Text without line breaks: a line break inside a key or name is its own (deterministic) test below.
LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
ONE_LINE_TEXT = st.text(st.characters(blacklist_characters=LINE_BREAKS, blacklist_categories=("Cs",)), max_size=12)
YAML_SCALARS = (st.none() | st.booleans() | st.integers(-10 ** 6, 10 ** 6) | st.floats(allow_nan=True)
                | ONE_LINE_TEXT | st.sampled_from(["shadow", "auto", "informational", "how-to", "high",
                                                          "360000101", "order_status", "x"]))
YAMLISH = st.recursive(YAML_SCALARS, lambda c: st.lists(c, max_size=3)
                       | st.dictionaries(ONE_LINE_TEXT | st.integers(0, 3), c, max_size=3), max_leaves=12)
KEYS = st.sampled_from(sorted(INTENT_KEYS) + ["colour"])
INTENTISH = st.dictionaries(KEYS, YAMLISH, max_size=6) | st.fixed_dictionaries(
    {"name": st.sampled_from(["a", "b", "c"])},
    optional={"tags": st.lists(st.sampled_from(["t1", "t2", "t3"]), max_size=2),
              "articles": st.lists(st.sampled_from(["360000101", "nope"]), max_size=2),
              "kind": st.sampled_from(["informational", "transactional", "other"]),
              "escalate": st.booleans(), "priority": st.sampled_from(list(PRIORITIES) + ["asap"])})
POLICYISH = st.dictionaries(st.sampled_from(sorted(POLICY_KEYS) + ["colour"]), YAMLISH, max_size=5)
DOCUMENT = st.one_of(
    YAMLISH,
    st.fixed_dictionaries({}, optional={"policy": POLICYISH | YAMLISH, "intents": st.lists(INTENTISH, max_size=4)
                                        | YAMLISH, "extra": YAMLISH}),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(DOCUMENT, st.sampled_from([None, {"360000101"}]))
def test_parse_intents_only_raises_bad_input(data, ids):
    try:
        cfg = parse_intents(data, "intents.yaml", ids)
    except BadInput as e:
        msg = str(e)
        assert msg.startswith("intents.yaml: ") and "\n" not in msg
        return
    assert isinstance(cfg, IntentsConfig) and cfg.intents
    names = [i.name for i in cfg.intents]
    assert len(names) == len(set(names))
    tags = [t for i in cfg.intents for t in i.tags]
    assert len(tags) == len(set(tags))
    if ids is not None:
        assert all(a in ids for i in cfg.intents for a in i.articles)


@pytest.mark.parametrize("data", [
    {"policy": {"colour\n": 1}, "intents": [{"name": "a"}]},
    {"intents": [{"name": "a", "colour\nshade": 1}]},
    {"intents": [{"name": "a\nb", "tags": ["t"]}, {"name": "c", "tags": ["t"]}]},
])
def test_bad_input_reason_stays_one_line_whatever_the_key(data):
    assert len(_bad(data).splitlines()) == 1


def test_invalid_yaml_names_the_line(tmp_path):
    (tmp_path / "i.yaml").write_text("policy:\n  mode: shadow\nintents: [\n  - name: a\n")
    with pytest.raises(BadInput, match="not valid YAML"):
        read_intents(tmp_path / "i.yaml")


# --- read_test_script -------------------------------------------------------------------------------------------

GOOD_CASE = {"id": "c1", "text": "where is my order", "expect": {"intent": "track_order", "action": "answer"}}


def _script(tmp_path, doc) -> Path:
    p = tmp_path / "script.yaml"
    p.write_text(doc if isinstance(doc, str) else yaml.safe_dump(doc))
    return p


def test_fixture_script_loads():
    cases = read_test_script(FIXTURES / "test_script.yaml")
    assert len(cases) > 100 and len({c["id"] for c in cases}) == len(cases)


def test_minimal_script_loads(tmp_path):
    assert read_test_script(_script(tmp_path, {"cases": [GOOD_CASE]})) == [GOOD_CASE]


@pytest.mark.parametrize("doc, words", [
    ([GOOD_CASE], "must be a mapping"),
    ({"cases": []}, "cases"),
    ({"cases": [GOOD_CASE], "more": 1}, "more"),
    ({"cases": [{**GOOD_CASE, "text": None}]}, "cases[0]"),
    ({"cases": [{"id": "c1", "expect": {"action": "answer"}}]}, "cases[0]"),
    ({"cases": [GOOD_CASE, GOOD_CASE]}, "cases[1].id"),
    ({"cases": [{**GOOD_CASE, "colour": "x"}]}, "cases[0].colour"),
    ({"cases": [{**GOOD_CASE, "expect": {"intent": "x", "colour": 1}}]}, "cases[0].expect.colour"),
    ({"cases": [{**GOOD_CASE, "expect": {}}]}, "cases[0].expect"),
    ({"cases": [{**GOOD_CASE, "expect": {"action": "reply"}}]}, "cases[0].expect.action"),
    ({"cases": [{**GOOD_CASE, "requester": {"tier": "gold"}}]}, "cases[0].requester.tier"),
    ({"cases": [{**GOOD_CASE, "requester": "enterprise"}]}, "cases[0].requester"),
    ({"cases": [{**GOOD_CASE, "attempts": "two"}]}, "cases[0].attempts"),
    ({"cases": [{**GOOD_CASE, "attempts": True}]}, "cases[0].attempts"),
    ("cases: [\n", "not valid YAML"),
])
def test_test_script_errors_name_their_place(tmp_path, doc, words):
    with pytest.raises(BadInput) as e:
        read_test_script(_script(tmp_path, doc))
    assert words in str(e.value) and "\n" not in str(e.value)


def test_missing_test_script(tmp_path):
    with pytest.raises(BadInput, match="no such file"):
        read_test_script(tmp_path / "nope.yaml")


# --- write_atomic ---------------------------------------------------------------------------------------------------


def test_write_atomic_writes_and_leaves_no_temp_file(tmp_path):
    target = tmp_path / "sub" / "out.txt"
    write_atomic(target, "hello\n")
    assert target.read_text() == "hello\n"
    write_atomic(target, "second")
    assert target.read_text() == "second"
    assert os.listdir(target.parent) == ["out.txt"]


def test_write_atomic_failing_write_leaves_the_old_file_whole(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old content")
    with pytest.raises(UnicodeEncodeError):
        write_atomic(target, "x" * 200_000 + "\ud800")  # cannot be encoded: fails mid-write
    assert target.read_text() == "old content"
    assert os.listdir(tmp_path) == ["out.txt"]


def test_write_atomic_failing_rename_leaves_no_half_file(tmp_path, monkeypatch):
    target = tmp_path / "new.txt"

    def boom(src, dst):
        raise OSError("disk full")
    monkeypatch.setattr("bot.files.os.replace", boom)
    with pytest.raises(OSError):
        write_atomic(target, "data")
    assert os.listdir(tmp_path) == []


def test_write_atomic_interrupted_write_never_shows_partial_content(tmp_path, monkeypatch):
    target = tmp_path / "out.txt"
    target.write_text("old")
    real_fdopen = os.fdopen

    class Interrupted(BaseException):
        pass

    def fdopen(fd, *a, **kw):
        f = real_fdopen(fd, *a, **kw)
        real_write = f.write

        def write(s):
            real_write(s[: len(s) // 2])
            f.flush()
            raise Interrupted()
        f.write = write
        return f
    monkeypatch.setattr("bot.files.os.fdopen", fdopen)
    with pytest.raises(Interrupted):
        write_atomic(target, "new content that is long enough")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["out.txt"]


def test_write_atomic_keeps_the_permissions_of_the_file_it_replaces(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    target.chmod(0o644)
    write_atomic(target, "new")
    assert stat.S_IMODE(target.stat().st_mode) == 0o644


def test_write_jsonl_round_trips_through_read_jsonl(tmp_path):
    records = [{**SPEC_TICKET, "id": str(i), "subject": "naïve ☕ tab\tquote\" \\ end"} for i in range(5)]
    assert write_jsonl(tmp_path / "h.jsonl", records) == 5
    back = read_history(tmp_path / "h.jsonl")
    assert [t.id for t in back] == ["0", "1", "2", "3", "4"] and back[0].subject == records[0]["subject"]


@pytest.mark.parametrize("char", ["\u2028", "\u2029", "\x85"])
def test_jsonl_lines_split_only_at_newlines(tmp_path, char):
    records = [{**SPEC_TICKET, "id": str(i), "subject": f"first{char}second"} for i in range(5)]
    write_jsonl(tmp_path / "h.jsonl", records)
    warnings = []
    back = read_jsonl(tmp_path / "h.jsonl", ticket_from_json, "tickets", warn=warnings.append)
    assert warnings == [] and [t.subject for t in back] == [r["subject"] for r in records]


@pytest.mark.parametrize("expect, where", [
    ({"intent": ["x"]}, "cases[0].expect.intent"),
    ({"intent": "a", "tone": "friendly"}, "cases[0].expect.tone"),
    ({"intent": "a", "priority": "hgh"}, "cases[0].expect.priority"),
    ({"out_of_scope": "no"}, "cases[0].expect.out_of_scope"),
    ({"intent": "a", "action": "reply"}, "cases[0].expect.action"),
])
def test_test_script_expectations_are_checked_with_their_key_path(tmp_path, expect, where):
    import yaml as _yaml
    p = tmp_path / "script.yaml"
    p.write_text(_yaml.safe_dump({"cases": [{"id": "c1", "text": "hello", "expect": expect}]}))
    with pytest.raises(BadInput, match=re.escape(where)):
        read_test_script(p)
