"""`bot checklist`: every item fails and passes on constructed evidence (files, model, database, a server)."""
from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from bot import db
from bot.brain.records import Article, Intent, IntentsConfig, Message, Policy, Ticket
from bot.checklist import (check_handoff, check_intents, check_kb, check_monitoring, fetch_metrics, minimal_audit,
                           recent_decisions, report_scheduled, run_checklist, ticket_types)
from bot.config import Settings
from bot.db import DecisionLog
from bot.evaluation import evaluate
from bot.files import read_intents, read_test_script
from bot.model_store import load_brain
from bot.report_commands import checklist
from bot.train_command import train_from_files

ROOT = Path(__file__).resolve().parents[1]
FIX = ROOT / "fixtures"
HISTORY, INTENTS, ARTICLES, SCRIPT = (FIX / "history.jsonl", FIX / "intents.yaml", FIX / "articles.jsonl",
                                      FIX / "test_script.yaml")
NOW = datetime(2026, 11, 20, tzinfo=timezone.utc)
METRICS_TEXT = ("# HELP bot_decisions_total Decisions by action and mode\n# TYPE bot_decisions_total counter\n"
                'bot_decisions_total{action="answer",mode="auto"} 3.0\n'
                "# HELP bot_webhooks_total Webhook deliveries\n# TYPE bot_webhooks_total counter\n")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("ck") / "model"
    train_from_files(HISTORY, INTENTS, ARTICLES, out)
    return out


class _Handler(BaseHTTPRequestHandler):
    body = METRICS_TEXT

    def do_GET(self):
        data = self.server.body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def metrics_server():
    servers = []

    def start(body: str) -> str:
        srv = HTTPServer(("127.0.0.1", 0), _Handler)
        srv.body = body
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
        return f"http://127.0.0.1:{srv.server_port}/metrics"

    yield start
    for s in servers:
        s.shutdown()
        s.server_close()


def _closed_port_url() -> str:
    srv = HTTPServer(("127.0.0.1", 0), _Handler)
    port = srv.server_port
    srv.server_close()
    return f"http://127.0.0.1:{port}/metrics"


def _tickets(spec: dict[str, int], start: datetime = NOW - timedelta(days=30)) -> list[Ticket]:
    out, n = [], 0
    for tag, count in spec.items():
        for i in range(count):
            n += 1
            at = (start + timedelta(hours=n)).strftime("%Y-%m-%dT%H:%M:%SZ")
            out.append(Ticket(id=str(n), vendor="zendesk", created_at=at, tags=(tag, "channel_web"),
                              messages=(Message("customer", f"question about {tag} number {i}", True, at),)))
    return out


def _config(*intents: Intent, policy: Policy = Policy()) -> IntentsConfig:
    return IntentsConfig(policy, tuple(intents))


ORDERS = Intent("track_order", description="Where is my order and when will it arrive", tags=("order_status",),
                articles=("101",), examples=("where is my order",))
REFUND = Intent("get_refund", description="The customer wants money back", tags=("refund_request",),
                articles=("102",), examples=("refund my money",))


def _article(aid: str, title: str, updated: str, body: str) -> Article:
    return Article(aid, title, f"<h2>{title}</h2><p>{body}</p>", url=f"https://help.example/articles/{aid}",
                   updated_at=updated)


# --- intents mapped ---------------------------------------------------------------------------------------

def test_intents_mapped_fails_on_a_frequent_type_without_intent_and_passes_once_mapped():
    history = _tickets({"order_status": 30, "refund_request": 12, "gift_card": 20})
    cfg = _config(ORDERS, REFUND)
    ranked = ticket_types(history, cfg)
    assert ranked[:3] == [("track_order", 30), ("tag:gift_card", 20), ("get_refund", 12)]
    item = check_intents(ranked, cfg)
    assert item["state"] == "fail" and "tag:gift_card (20 tickets): no intent" in item["evidence"]
    gift = Intent("gift_card", tags=("gift_card",), escalate=True, group="Billing", priority="normal")
    cfg2 = _config(ORDERS, REFUND, gift)
    assert check_intents(ticket_types(history, cfg2), cfg2)["state"] == "pass"
    no_path = Intent("gift_card", tags=("gift_card",))  # an intent with neither article nor escalation
    cfg3 = _config(ORDERS, REFUND, no_path)
    item = check_intents(ticket_types(history, cfg3), cfg3)
    assert item["state"] == "fail" and "no article and no escalation rule" in item["evidence"]
    assert check_intents(None, None)["state"] == "unknown"


# --- knowledge base audited -------------------------------------------------------------------------------

def test_kb_audit_fails_on_a_stale_or_missing_article_and_passes_when_current():
    history = _tickets({"order_status": 30, "refund_request": 12})
    fresh = [_article("101", "Track your order", "2026-10-01T00:00:00Z",
                      "Your order status and arrival date are under Account, Orders."),
             _article("102", "Refunds", "2026-09-01T00:00:00Z", "To get your money back request a refund.")]
    stale = [fresh[0], _article("102", "Refunds", "2023-01-01T00:00:00Z", fresh[1].body_html)]
    cfg = _config(ORDERS, REFUND)
    ok = check_kb(minimal_audit(history, fresh, cfg))
    assert ok["state"] == "pass", ok
    bad = check_kb(minimal_audit(history, stale, cfg))
    assert bad["state"] == "fail" and "get_refund outdated" in bad["evidence"] and "2023-01-01" in bad["evidence"]
    missing = check_kb(minimal_audit(history, fresh[:1], cfg))
    assert missing["state"] == "fail" and "get_refund missing" in missing["evidence"]
    assert check_kb(None)["state"] == "unknown"


def test_kb_audit_on_the_fixtures_names_the_deliberate_defects():
    cl = run_checklist(INTENTS, ARTICLES, HISTORY, metrics_url=None)
    kb = cl["items"][0]
    assert kb["name"] == "kb_audited" and kb["state"] == "fail"
    for defect in ("track_refund", "recover_password"):  # the two outdated articles (fixtures/README.md)
        assert defect in kb["evidence"]
    mapped = cl["items"][1]
    assert mapped["state"] == "fail" and "tag:gift_card" in mapped["evidence"]  # the emerging type


# --- escalation tested, test script passed ----------------------------------------------------------------

def _script(tmp_path: Path, cases: list[dict], name: str) -> Path:
    p = tmp_path / name
    p.write_text(yaml.safe_dump({"cases": cases}, sort_keys=False))
    return p


def test_escalation_and_script_items_follow_the_evaluation(model_dir, tmp_path):
    cases = read_test_script(SCRIPT)
    result = evaluate(load_brain(model_dir, INTENTS, ARTICLES), cases)
    failed = {f["id"] for f in result["failures"]}
    passing = [c for c in cases if str(c["id"]) not in failed]
    assert any(c["expect"].get("action") == "escalate" for c in passing)
    good = _script(tmp_path, passing, "good.yaml")
    cl = run_checklist(INTENTS, ARTICLES, None, model_dir, good, metrics_url=None)
    items = {i["name"]: i for i in cl["items"]}
    assert items["escalation_tested"]["state"] == "pass" and "recall 100%" in items["escalation_tested"]["evidence"]
    assert items["test_script_passed"]["state"] == "pass" and "ready" in items["test_script_passed"]["evidence"]
    # calm how-to questions the bot answers, expected to escalate: recall 0, not ready
    calm = [c for c in passing if c["expect"].get("action") == "answer"][:4]
    wrong = [{**c, "id": f"{c['id']}-x", "expect": {**c["expect"], "action": "escalate"}} for c in calm]
    bad = _script(tmp_path, wrong, "bad.yaml")
    cl = run_checklist(INTENTS, ARTICLES, None, model_dir, bad, metrics_url=None)
    items = {i["name"]: i for i in cl["items"]}
    assert items["escalation_tested"]["state"] == "fail" and "recall 0%" in items["escalation_tested"]["evidence"]
    assert items["test_script_passed"]["state"] == "fail" and "not ready" in items["test_script_passed"]["evidence"]
    # without a script nothing can be said
    cl = run_checklist(INTENTS, ARTICLES, None, model_dir, None, metrics_url=None)
    assert {i["name"]: i["state"] for i in cl["items"]}["escalation_tested"] == "unknown"


# --- handoff configured -----------------------------------------------------------------------------------

def test_handoff_is_read_from_the_intents_file_as_written(model_dir):
    raw = yaml.safe_load(INTENTS.read_text())
    cfg = read_intents(INTENTS)
    assert check_handoff(raw, cfg, None)["state"] == "pass"
    no_group = json.loads(json.dumps(raw))
    esc = next(i for i, it in enumerate(no_group["intents"]) if it.get("escalate"))
    del no_group["intents"][esc]["group"]
    item = check_handoff(no_group, cfg, None)
    assert item["state"] == "fail" and f"intents[{esc}]" in item["evidence"] and "without group" in item["evidence"]
    no_policy_group = json.loads(json.dumps(raw))
    del no_policy_group["policy"]["escalation_group"]  # the parser's default is not configuration
    assert "escalation_group is not set" in check_handoff(no_policy_group, cfg, None)["evidence"]
    # the note an escalation carries, read from a real decision
    from bot.checklist import note_carries_context
    ok, why = note_carries_context(load_brain(model_dir, INTENTS, ARTICLES), read_test_script(SCRIPT))
    assert ok, why
    assert check_handoff(raw, cfg, (False, "the handoff note lacks reasons"))["state"] == "fail"


# --- monitoring on ----------------------------------------------------------------------------------------

def _db_with_decision(tmp_path: Path, at: datetime) -> str:
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    db.upgrade(Settings(database_url=url))
    with db.session_factory(url).begin() as s:
        s.add(DecisionLog(vendor="zendesk", ticket_id="1", decided_at=at, action="answer", intent="track_order",
                          confidence=0.9, mode="auto", control=False, decision_json={}, model_version="v"))
    return url


def test_monitoring_needs_metrics_and_reporting(metrics_server, tmp_path):
    good_url = metrics_server(METRICS_TEXT)
    assert fetch_metrics(good_url)[0] is True
    ok, why = fetch_metrics(metrics_server("hello world\n"))
    assert not ok and "none of the bot's metrics" in why
    ok, why = fetch_metrics(_closed_port_url())
    assert not ok and "GET" in why
    url = _db_with_decision(tmp_path, NOW - timedelta(days=2))
    try:
        recent = recent_decisions(url, now=NOW)
        old = recent_decisions(url, now=NOW + timedelta(days=30))
    finally:
        db.dispose_all()
    assert recent[0] == 1 and old[0] == 0
    no_job = (False, "beat schedule has no report job")
    assert check_monitoring(fetch_metrics(good_url), recent, no_job)["state"] == "pass"
    assert check_monitoring(fetch_metrics(good_url), old, no_job)["state"] == "fail"
    assert check_monitoring(fetch_metrics(good_url), old, (True, "beat schedule runs launch-report"))["state"] == "pass"
    assert check_monitoring((False, "GET x: refused"), recent, no_job)["state"] == "fail"
    assert recent_decisions(f"sqlite:///{tmp_path / 'none.db'}")[0] is None


def test_report_job_is_read_from_the_beat_schedule(monkeypatch):
    from bot.worker import app
    ok, why = report_scheduled()
    assert ok and "weekly-report" in why
    monkeypatch.setitem(app.conf, "beat_schedule",
                        {k: v for k, v in app.conf.beat_schedule.items() if "report" not in v["task"]})
    ok, why = report_scheduled()
    assert not ok and "no report job" in why and "sweep-inbox" in why


# --- the command ------------------------------------------------------------------------------------------

def test_command_json_require_ready_and_bad_input(model_dir, metrics_server, tmp_path):
    url = _db_with_decision(tmp_path, datetime.now(timezone.utc) - timedelta(hours=1))
    args = ["--intents", str(INTENTS), "--articles", str(ARTICLES), "--history", str(HISTORY), "--model",
            str(model_dir), "--script", str(SCRIPT), "--database", url, "--metrics-url", metrics_server(METRICS_TEXT)]
    r = CliRunner()
    res = r.invoke(checklist, args + ["--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert set(out) >= {"ready", "passed", "failed", "unknown", "items", "checked_at"}
    states = {i["name"]: i["state"] for i in out["items"]}
    assert list(states) == ["kb_audited", "intents_mapped", "escalation_tested", "handoff_configured",
                            "test_script_passed", "monitoring_on"]
    assert states["monitoring_on"] == "pass" and states["kb_audited"] == "fail" and out["ready"] is False
    assert all(i["evidence"] for i in out["items"])
    quick = [a for a in args if a not in ("--history", str(HISTORY))]  # no audit: kb_audited unknown
    res = r.invoke(checklist, quick + ["--require-ready", "--html", str(tmp_path / "c.html")])
    assert res.exit_code == 1 and "NOT READY" in res.stdout
    assert (tmp_path / "c.html").read_text().startswith("<!doctype html>")
    bad = r.invoke(checklist, ["--intents", str(tmp_path / "missing.yaml"), "--database", url])
    db.dispose_all()
    assert bad.exit_code == 2 and len(bad.stderr.strip().splitlines()) == 1 and "no such file" in bad.stderr
