"""`bot report`: the resolution rule, the week series, the control group, emerging types and the review list."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
import yaml
from click.testing import CliRunner

from bot import db
from bot.brain.records import Ticket
from bot.config import Settings
from bot.db import DecisionLog
from bot.launch_report import outcome
from bot.report_commands import report
from bot.timeutil import iso

LAUNCH = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)  # a Monday
INTENTS = {
    "policy": {"mode": "auto", "escalation_group": "Tier 2"},
    "intents": [
        {"name": "track_order", "tags": ["order_status"], "examples": ["where is my order"]},
        {"name": "get_refund", "tags": ["refund_request"], "examples": ["i want my money back"]},
    ],
}
GIFT = ["my gift card code is rejected at checkout", "how do I check the balance of my gift card",
        "gift card balance shows zero after one purchase", "the gift card code from my aunt does not work",
        "can I use two gift cards on one order", "gift card expired? the code says invalid",
        "where do I enter the gift card code", "bought a gift card but never got the code by email",
        "gift card balance is wrong", "redeem gift card code fails with an error"]
NEWS = ["please unsubscribe me from the newsletter", "stop sending me the newsletter emails",
        "how do I subscribe to your newsletter", "newsletter arrives twice every week",
        "change the email address the newsletter goes to"]
WARRANTY = ["is my blender still under warranty", "warranty repair for a broken kettle",
            "how long is the warranty on the toaster", "the warranty claim form will not submit",
            "send my broken lamp for warranty repair"]


def msg(author: str, at: datetime, body: str = "hello", public: bool = True) -> dict:
    return {"author": author, "body": body, "public": public, "at": iso(at)}


def ticket(tid: str, created: datetime, messages: list[dict], status: str = "solved",
           solved: datetime | None = None, satisfaction: str | None = None, reopened: bool = False,
           tags: tuple = ("order_status",), subject: str = "Where is my order") -> dict:
    return {"id": tid, "vendor": "zendesk", "subject": subject, "messages": messages, "tags": list(tags),
            "status": status, "created_at": iso(created), "solved_at": iso(solved) if solved else None,
            "satisfaction": satisfaction, "reopened": reopened}


def T(d: dict) -> Ticket:
    from bot.files import ticket_from_json
    return ticket_from_json(d)


# --- the resolution rule ----------------------------------------------------------------------------------

def test_a_human_public_reply_after_the_bot_makes_it_unresolved():
    c = LAUNCH
    bot_at = c + timedelta(minutes=1)
    clean = ticket("1", c, [msg("customer", c), msg("bot", bot_at), msg("customer", c + timedelta(minutes=9), "thanks!"),
                            msg("agent", c + timedelta(minutes=20), "closing", public=False)],
                   solved=c + timedelta(minutes=30))
    human = ticket("2", c, [msg("customer", c), msg("bot", bot_at), msg("agent", c + timedelta(hours=2), "Hi, ...")],
                   solved=c + timedelta(hours=3))
    assert outcome(T(clean), bot_at)["resolved"] is True  # an internal note is not a reply
    o = outcome(T(human), bot_at)
    assert o["resolved"] is False and "an agent replied publicly after the bot" in o["why"]
    # the same ticket is resolved by the team's own standard (control, baseline)
    assert outcome(T(human), None)["resolved"] is True


def test_a_reopen_within_7_days_makes_it_unresolved():
    c, bot_at = LAUNCH, LAUNCH + timedelta(minutes=1)
    solved = c + timedelta(hours=1)
    within = ticket("3", c, [msg("customer", c), msg("bot", bot_at),
                             msg("customer", solved + timedelta(days=3), "still broken")],
                    solved=solved, reopened=True)
    later = ticket("4", c, [msg("customer", c), msg("bot", bot_at),
                            msg("customer", solved + timedelta(days=10), "new question")],
                   solved=solved, reopened=True)
    undated = ticket("5", c, [msg("customer", c), msg("bot", bot_at)], solved=solved, reopened=True)
    o = outcome(T(within), bot_at)
    assert o["resolved"] is False and o["reopened"] and "reopened within 7 days" in o["why"]
    assert outcome(T(later), bot_at)["resolved"] is True
    assert outcome(T(undated), bot_at)["resolved"] is False  # a reopen we cannot date counts
    openish = ticket("6", c, [msg("customer", c), msg("bot", bot_at)], status="open")
    assert outcome(T(openish), bot_at)["resolved"] is False
    assert outcome(T(openish), bot_at, as_of=c + timedelta(days=2))["pending"] is True


# --- a constructed launch -----------------------------------------------------------------------------------

def _bot_ticket(tid: str, c: datetime, kind: str, satisfaction=None) -> dict:
    bot_at = c + timedelta(minutes=1)
    msgs = [msg("customer", c, "where is my order 1182"), msg("bot", bot_at, "Here is how to track it ...")]
    solved, reopened = c + timedelta(hours=2), False
    if kind in ("human", "escalated"):
        msgs.append(msg("agent", c + timedelta(hours=1), "Hi, I checked your order."))
        solved = c + timedelta(hours=5)
    if kind == "escalated":
        msgs = [m for m in msgs if m["author"] != "bot"]
    if kind == "reopened":
        msgs.append(msg("customer", solved + timedelta(days=2), "it did not arrive after all"))
        reopened = True
    return ticket(tid, c, msgs, solved=solved, satisfaction=satisfaction, reopened=reopened)


def _control_ticket(tid: str, c: datetime) -> dict:
    return ticket(tid, c, [msg("customer", c, "where is my order"), msg("agent", c + timedelta(minutes=30), "Hi")],
                  solved=c + timedelta(hours=1), satisfaction="good")


@pytest.fixture
def launch(tmp_path):
    """Two weeks of a launch: 12 bot tickets (auto mode), 12 control tickets that do better, a baseline, and
    unlabelled tickets where gift cards grow while newsletters stay flat."""
    history, rows = [], []
    kinds = {0: ["ok", "ok", "ok", "ok", "human", "human"],
             1: ["ok", "ok", "ok", "human", "reopened", "escalated"]}
    n = 100
    for week, ks in kinds.items():
        for i, kind in enumerate(ks):
            c = LAUNCH + timedelta(days=7 * week + i % 5, hours=i)
            n += 1
            sat = "bad" if kind in ("reopened", "human") and week == 1 else ("good" if kind == "ok" else None)
            history.append(_bot_ticket(str(n), c, kind, sat))
            rows.append((str(n), c + timedelta(seconds=30), "escalate" if kind == "escalated" else "answer",
                         "auto", False))
            n += 1
            history.append(_control_ticket(str(n), c + timedelta(minutes=5)))
            rows.append((str(n), c + timedelta(minutes=5, seconds=30), "answer", "auto", True))
    for i in range(10):  # baseline: the month before launch, solved in 4 hours
        c = LAUNCH - timedelta(days=30 - i)
        history.append(ticket(str(500 + i), c, [msg("customer", c), msg("agent", c + timedelta(hours=3))],
                              solved=c + timedelta(hours=4), satisfaction="good" if i % 2 else None))
    as_of = max(datetime.fromisoformat(m["at"].replace("Z", "+00:00")) for t in history for m in t["messages"])
    gift_weekly = [0, 1, 0, 0, 2, 8]  # oldest week first, the last ends at as_of
    steady = [2, 2, 2, 2, 2, 2]
    k = 0
    for texts, weekly, tag in ((GIFT, gift_weekly, "gift_card"), (NEWS, steady, "newsletter"),
                               (WARRANTY, steady, "warranty")):
        for w, count in enumerate(weekly):
            for j in range(count):
                c = as_of - timedelta(days=7 * (len(weekly) - 1 - w) + 1 + j * 0.5)
                k += 1
                history.append(ticket(str(900 + k), c, [msg("customer", c, texts[(k + j) % len(texts)])],
                                      solved=c + timedelta(hours=1), tags=(tag,), subject=tag.replace("_", " ")))
    hist_path = tmp_path / "history.jsonl"
    hist_path.write_text("".join(json.dumps(t) + "\n" for t in history))
    intents_path = tmp_path / "intents.yaml"
    intents_path.write_text(yaml.safe_dump(INTENTS))
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    db.upgrade(Settings(database_url=url))
    with db.session_factory(url).begin() as s:
        for tid, at, action, mode, control in rows:
            s.add(DecisionLog(vendor="zendesk", ticket_id=tid, trigger_comment_id="", decided_at=at, action=action,
                              intent="track_order", confidence=0.93, mode=mode, control=control,
                              decision_json={"out_of_scope": False, "action": action,
                                             "reasons": ["intent track_order always escalates"]
                                             if action == "escalate" else []},
                              model_version="v1"))
    yield {"history": hist_path, "intents": intents_path, "url": url, "as_of": as_of}
    db.dispose_all()


def _run(launch, *extra):
    res = CliRunner().invoke(report, ["--database", launch["url"], "--history", str(launch["history"]),
                                      "--intents", str(launch["intents"]), *extra])
    assert res.exit_code == 0, (res.output, res.exception)
    return res


def test_a_control_group_doing_better_shows_as_worse_than_control(launch):
    r = json.loads(_run(launch, "--json").stdout)
    assert r["tickets"]["bot"] == 12 and r["tickets"]["control"] == 12 and r["tickets"]["shadow"] == 0
    res = r["summary"]["resolution_rate"]
    assert res["bot"] == round(7 / 12, 4) and res["control"] == 1.0
    assert res["vs_control"] == "worse" and res["vs_baseline"] == "worse"
    assert r["summary"]["csat"]["vs_control"] == "worse"  # bot CSAT 5 good / 7 rated, control all good
    assert r["summary"]["escalation_rate"]["bot"] == round(1 / 12, 4)
    assert r["groups"]["baseline"]["tickets"] == 10 and r["groups"]["baseline"]["ttr_median_hours"] == 4.0
    assert r["summary"]["ttr_median_hours"]["control"] == 1.0


def test_week_by_week_series(launch):
    r = json.loads(_run(launch, "--json").stdout)
    weeks = {w["week"]: w for w in r["weeks"]}
    assert list(weeks) == ["2026-11-02", "2026-11-09"]
    w1, w2 = weeks["2026-11-02"], weeks["2026-11-09"]
    assert w1["bot"]["tickets"] == w2["bot"]["tickets"] == 6
    assert w1["bot"]["resolution_rate"] == round(4 / 6, 4) and w2["bot"]["resolution_rate"] == 0.5
    assert w1["bot"]["escalation_rate"] == 0 and w2["bot"]["escalation_rate"] == round(1 / 6, 4)
    assert w1["control"]["resolution_rate"] == w2["control"]["resolution_rate"] == 1.0
    assert w2["bot_vs_control"]["resolution_rate"] == "worse"
    # --since keeps the second week only
    r2 = json.loads(_run(launch, "--json", "--since", "2026-11-09").stdout)
    assert [w["week"] for w in r2["weeks"]] == ["2026-11-09"] and r2["launch"] == iso(LAUNCH + timedelta(seconds=30))


def test_a_growing_new_cluster_is_flagged_with_examples(launch):
    r = json.loads(_run(launch, "--json").stdout)
    em = r["emerging"]
    flagged = [c for c in em["clusters"] if c["growing"]]
    assert flagged, em
    assert all("gift_card" in c["tags"] for c in flagged)
    gift = flagged[0]
    assert gift["last_week"] >= 5 and gift["last_week"] > 2 * gift["earlier_mean"]
    assert gift["examples"] and all("gift card" in (e["text"] + e["subject"]).lower() for e in gift["examples"])
    news = [c for c in em["clusters"] if "newsletter" in c["tags"]]
    assert news and not any(c["growing"] for c in news)
    assert r["emerging_flagged"] == len(flagged)


def test_review_list_worst_first(launch):
    r = json.loads(_run(launch, "--json").stdout)
    review = r["review"]
    assert r["review_total"] == 5  # 2 + 1 human replies, 1 reopened, 1 escalated
    assert {x["group"] for x in review} == {"bot"}
    bad = [x for x in review if x["satisfaction"] == "bad"]
    assert review[: len(bad)] == bad and len(bad) == 2
    assert review[0]["reopened"]  # bad CSAT and reopened comes first
    rest = review[len(bad):]
    assert [x["decided_at"] for x in rest] == sorted(x["decided_at"] for x in rest)
    esc = next(x for x in review if x["escalated"])
    assert esc["reasons"] == ["intent track_order always escalates"]


def test_text_and_html(launch, tmp_path):
    out = tmp_path / "report.html"
    res = _run(launch, "--html", str(out))
    assert "resolution rate" in res.stdout and "worse" in res.stdout and "GROWING" in res.stdout
    html = out.read_text()
    assert html.startswith("<!doctype html>") and html.count("<svg") >= 4 and "<script" not in html
    assert "gift" in html


def test_shadow_only_log_says_so(tmp_path):
    c = LAUNCH
    hist = tmp_path / "h.jsonl"
    hist.write_text(json.dumps(_control_ticket("1", c)) + "\n")
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    db.upgrade(Settings(database_url=url))
    with db.session_factory(url).begin() as s:
        s.add(DecisionLog(vendor="zendesk", ticket_id="1", decided_at=c, action="answer", intent="track_order",
                          confidence=0.9, mode="shadow", control=False, decision_json={}, model_version="v"))
    res = CliRunner().invoke(report, ["--database", url, "--history", str(hist), "--json"])
    db.dispose_all()
    r = json.loads(res.stdout)
    assert r["main_group"] == "shadow" and r["tickets"]["shadow"] == 1
    assert any("shadow mode" in n for n in r["notes"])


# --- bad input --------------------------------------------------------------------------------------------

def _bad(res, *words):
    assert res.exit_code == 2, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bot: "), res.stderr
    for w in words:
        assert w in lines[0], lines[0]


def test_bad_input_is_one_line_and_exit_2(launch, tmp_path, monkeypatch):
    r = CliRunner()
    base = ["--database", launch["url"], "--history", str(launch["history"])]
    _bad(r.invoke(report, base + ["--since", "last tuesday"]), "--since")
    _bad(r.invoke(report, ["--database", f"sqlite:///{tmp_path / 'none.db'}", "--history",
                           str(launch["history"])]), "no such database")
    monkeypatch.delenv("BOT_HISTORY", raising=False)
    _bad(r.invoke(report, ["--database", launch["url"]]), "--history")
    empty = tmp_path / "empty.db"
    import sqlite3
    sqlite3.connect(empty).close()
    _bad(r.invoke(report, ["--database", f"sqlite:///{empty}", "--history", str(launch["history"])]),
         "no decision_log table")
    bad_hist = tmp_path / "bad.jsonl"
    bad_hist.write_text("not json\n")
    _bad(r.invoke(report, ["--database", launch["url"], "--history", str(bad_hist)]), "bad.jsonl")
