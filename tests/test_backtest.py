"""`bot backtest`: a time split without leakage, per-intent figures, thresholds, and `--apply`."""
from __future__ import annotations

import json
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.backtest import (OTHER_TOPIC, UNKNOWN, agents_article, decide_all, reason_kind, split_by_time,
                          suggest_thresholds, summarise, truth_of)
from bot.brain.records import Article, ArticleHit, Decision, Message, Ticket
from bot.files import read_history, read_intents
from bot.model_store import load_model, read_metadata
from bot.report_commands import backtest
from bot.timeutil import parse_time
from bot.train_command import train_from_files

ROOT = Path(__file__).resolve().parents[1]
FIX = ROOT / "fixtures"
HISTORY, INTENTS, ARTICLES = FIX / "history.jsonl", FIX / "intents.yaml", FIX / "articles.jsonl"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("bt") / "model"
    train_from_files(HISTORY, INTENTS, ARTICLES, out)
    return out


@pytest.fixture(scope="module")
def result(model_dir):
    from bot.backtest import run_backtest
    return run_backtest(model_dir, INTENTS, ARTICLES, HISTORY, weeks=2)


def _ticket(tid: str, created: str, text: str = "where is my order", tags=(), intent=None, agent: str = "") -> Ticket:
    msgs = [Message("customer", text, True, created)]
    if agent:
        msgs.append(Message("agent", agent, True, created))
    return Ticket(id=tid, vendor="zendesk", messages=tuple(msgs), created_at=created, tags=tuple(tags),
                  intent=intent)


def _decision(action: str, intent: str, conf: float = 0.9, reasons=(), article: str | None = None) -> Decision:
    hit = ArticleHit(article, "t", "s", 0.5) if article else None
    return Decision(ticket_id="x", action=action, intent=intent, confidence=conf, out_of_scope=action == "clarify",
                    sentiment=0.0, tone="neutral", reasons=tuple(reasons), article=hit, reply=None, note="",
                    priority="normal", group=None, tags=(), mode="shadow", model_version="v")


# --- the split --------------------------------------------------------------------------------------------

def test_time_split_has_no_leakage(result):
    history = read_history(HISTORY)
    cut = parse_time(result["split"]["cut"])
    replay_ids = {t.id for t in history if parse_time(t.created_at) >= cut}
    assert len(replay_ids) == result["split"]["replay"]["tickets"] > 0
    train_ids = set(result["_train_ids"])
    assert train_ids and not (train_ids & replay_ids)  # no replayed ticket among the training rows
    created = {t.id: parse_time(t.created_at) for t in history}
    assert max(created[i] for i in train_ids) < cut <= min(created[i] for i in replay_ids)
    newest = max(created.values())
    assert newest - cut == timedelta(weeks=2)


def test_split_drops_a_resynced_id_from_training():
    tickets = [_ticket("1", "2026-10-01T00:00:00Z"), _ticket("2", "2026-10-02T00:00:00Z"),
               _ticket("2", "2026-11-19T00:00:00Z"), _ticket("3", "2026-11-20T00:00:00Z"),
               _ticket("4", "not a time")]
    s = split_by_time(tickets, weeks=1)
    assert [t.id for t in s.train] == ["1"]
    assert sorted(t.id for t in s.replay) == ["2", "3"]
    assert s.dropped_duplicates == 1 and s.undated == 1


# --- per intent -------------------------------------------------------------------------------------------

def test_per_intent_figures_on_constructed_decisions():
    names = ["track_order", "get_refund"]
    decisions = [
        _decision("answer", "track_order", article="101"),  # right, same article as the agent
        _decision("answer", "track_order", article="101"),  # right, agent linked another article
        _decision("answer", "track_order"),  # wrong: the agents said get_refund
        _decision("escalate", "get_refund", reasons=["negative sentiment -0.70 (at or below -0.5)",
                                                     "requester plan enterprise is a VIP plan"]),
        _decision("clarify", "get_refund"),
        _decision("answer", "get_refund"),  # a topic no intent claims: wrong
        _decision("answer", "get_refund"),  # unknown truth: not judged
    ]
    truths = ["track_order", "track_order", "get_refund", "get_refund", "get_refund", OTHER_TOPIC, None]
    linked = ["101", "102", None, None, None, None, None]
    overall, by = summarise(decisions, truths, linked, names)
    to, gr = by["track_order"], by["get_refund"]
    assert to["tickets"] == 2 and to["answered_share"] == 1.0 and to["answered_right_share"] == 1.0
    assert to["answers"] == 3 and to["judged"] == 3 and to["precision"] == round(2 / 3, 4)
    assert to["article"] == {"checked": 2, "agree": 1, "agreement": 0.5}
    assert gr["tickets"] == 3 and gr["answered_share"] == round(1 / 3, 4) and gr["answered_right_share"] == 0
    assert gr["escalate_share"] == round(1 / 3, 4) and gr["clarify_share"] == round(1 / 3, 4)
    assert gr["escalation_reasons"] == {"negative_sentiment": 1, "vip": 1}
    assert gr["answers"] == 2 and gr["judged"] == 1 and gr["precision"] == 0.0
    assert gr["answers_on_other_topics"] == 1
    assert by[OTHER_TOPIC]["tickets"] == 1 and by[UNKNOWN]["tickets"] == 1
    assert overall["tickets"] == 7 and overall["answered"] == 5 and overall["judged"] == 4
    assert overall["precision"] == 0.5


def test_per_intent_figures_on_the_fixtures(result):
    by, o = result["by_intent"], result["overall"]
    assert sum(v["tickets"] for v in by.values()) == result["split"]["replay"]["tickets"] == o["tickets"]
    for name, v in by.items():
        if v["tickets"]:
            assert abs(v["answered_share"] + v["clarify_share"] + v["escalate_share"] - 1) < 1e-3, name
    # intents that always escalate are never answered, and say why
    for name in ("payment_issue", "complaint", "contact_human_agent"):
        assert by[name]["answered_share"] == 0 and by[name]["escalate_share"] == 1.0
        assert by[name]["escalation_reasons"].get("intent_always_escalates")
    # gift cards (a tag no intent claims) are not answered as something else
    assert by[OTHER_TOPIC]["tickets"] > 20 and by[OTHER_TOPIC]["answered_share"] < 0.2
    assert 0.4 < o["answered_share"] < 0.8 and o["precision"] > 0.9
    qf = result["quality_filter"]
    assert set(qf["train"]) == {"reopened", "rated_bad", "reassigned_by_mistake", "total"}
    assert qf["train"]["total"] == sum(v for k, v in qf["train"].items() if k != "total") > 0


def test_batched_decisions_equal_one_by_one(result, model_dir):
    from bot.model_store import load_brain
    from bot.replay import arrival_view
    brain = load_brain(model_dir, INTENTS, ARTICLES)
    tickets = read_history(HISTORY)[-200:]
    batched = decide_all(brain, tickets)
    single = [brain.decide(arrival_view(t), mode="shadow") for t in tickets]
    assert [d.to_json() for d in batched] == [d.to_json() for d in single]


def test_truth_and_linked_article():
    config = read_intents(INTENTS)
    names = {i.name for i in config.intents}
    tag_map = {tag: i.name for i in config.intents for tag in i.tags}
    assert truth_of(_ticket("1", "2026-11-01T00:00:00Z", tags=["order_status"]), names, tag_map) == "track_order"
    assert truth_of(_ticket("2", "2026-11-01T00:00:00Z", tags=["gift_card", "channel_web"]), names, tag_map) \
        == OTHER_TOPIC
    assert truth_of(_ticket("3", "2026-11-01T00:00:00Z", tags=["channel_web", "vip"]), names, tag_map) is None
    arts = {"360000101": Article("360000101", "Track", "", url="https://help.example/hc/articles/360000101")}
    by_url = _ticket("4", "2026-11-01T00:00:00Z", agent="See https://help.example/hc/articles/360000101 please")
    by_id = _ticket("5", "2026-11-01T00:00:00Z", agent="Article 360000101 explains it")
    other = _ticket("6", "2026-11-01T00:00:00Z", agent="Order 12345678 shipped")
    assert agents_article(by_url, arts) == agents_article(by_id, arts) == "360000101"
    assert agents_article(other, arts) is None


def test_reason_kinds():
    assert reason_kind("intent complaint always escalates") == "intent_always_escalates"
    assert reason_kind("requester is marked VIP") == "vip"
    assert reason_kind("customer asked for a person") == "asked_for_human"
    assert reason_kind("no help-center section answers intent x") == "no_article"


# --- thresholds -------------------------------------------------------------------------------------------

class _Model:
    classes = ("a", "b", "c")

    def threshold(self, name):
        return 0.5


def test_suggested_threshold_reaches_the_target():
    # ten predictions of "a", most confident first; the three least confident are wrong
    confs = [0.99, 0.97, 0.95, 0.93, 0.91, 0.89, 0.87, 0.7, 0.6, 0.55]
    truth = ["a"] * 7 + ["b", "b", OTHER_TOPIC]
    decisions = [_decision("answer", "a", c) for c in confs] + [_decision("answer", "b", 0.9)] * 3
    truths = truth + ["b"] * 3
    th = suggest_thresholds(decisions, truths, 0.9, _Model(), {"a": 0.5}, 0.5)
    a = th["a"]
    assert a["support"] == 10 and a["precision_all"] == 0.7
    # precision over the top 8 is 7/8 < 0.9, over the top 7 it is 1.0: the threshold is the 7th confidence
    assert a["suggested"] == 0.87 and a["precision_at_suggested"] == 1.0 and a["share_at_suggested"] == 0.7
    assert th["b"]["suggested"] is None and "only 3" in th["b"]["why"]  # too few to say


def test_a_threshold_that_already_reaches_the_target_is_kept():
    # "c": two right answers above MODEL's 0.5, six wrong guesses below it
    confs = [0.9, 0.8, 0.45, 0.42, 0.4, 0.35, 0.33, 0.3]
    decisions = [_decision("answer", "c", x) for x in confs]
    truths = ["c", "c"] + [OTHER_TOPIC] * 6
    c = suggest_thresholds(decisions, truths, 0.9, _Model(), {"c": 0.5}, 0.5)["c"]
    assert c["suggested"] == 0.5 and "already reaches" in c["why"]
    raised = suggest_thresholds(decisions, truths, 0.9, _Model(), {"c": 0.3}, 0.5)["c"]
    assert raised["suggested"] == 0.8  # from a current 0.3 (precision 25%) it has to go up


def test_apply_writes_the_thresholds_into_the_model(model_dir, tmp_path):
    target = tmp_path / "model"
    shutil.copytree(model_dir, target)
    before_meta = read_metadata(target)
    res = CliRunner().invoke(backtest, ["--model", str(target), "--intents", str(INTENTS), "--articles",
                                        str(ARTICLES), "--history", str(HISTORY), "--apply", "--json"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert "_train_ids" not in report
    changed = report["applied"]["changed"]
    assert changed, "the fixtures' replayed weeks move some thresholds"
    model, meta = load_model(target, read_intents(INTENTS))
    for name, ch in changed.items():
        assert model.thresholds[name] == ch["to"] != before_meta["thresholds"][name]
        assert meta["thresholds"][name] == ch["to"]
    for name, t in report["thresholds"].items():
        if t["suggested"] is not None:
            assert model.thresholds[name] == t["suggested"]
    assert meta["trained_at"] == before_meta["trained_at"] and meta["data_hash"] == before_meta["data_hash"]
    assert meta["metrics"] == before_meta["metrics"] and meta["training"] == before_meta["training"]
    src = meta["thresholds_applied_from"]
    assert src["previous_version"] == before_meta["version"] and src["cut"] == report["split"]["cut"]
    assert meta["version"].startswith(before_meta["version"] + "+t")
    assert not list(tmp_path.glob(".model*"))  # nothing left beside it


def test_text_and_html(result, tmp_path, model_dir):
    from bot.backtest import public
    from bot.reports.launch_render import html_backtest, render_backtest
    text = render_backtest(public(result))
    assert "replayed the newest 2 weeks" in text and "track_order" in text and "quality filter" in text
    html = html_backtest(public(result))
    assert html.startswith("<!doctype html>") and "<svg" in html and "<script" not in html


# --- bad input --------------------------------------------------------------------------------------------

def _bad(res, *words):
    assert res.exit_code == 2, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bot: "), res.stderr
    for w in words:
        assert w in lines[0]
    assert res.stdout == ""


def test_bad_input_is_one_line_and_exit_2(model_dir, tmp_path):
    args = ["--model", str(model_dir), "--intents", str(INTENTS), "--articles", str(ARTICLES)]
    r = CliRunner()
    _bad(r.invoke(backtest, args + ["--history", str(tmp_path / "nope.jsonl")]), "no such file")
    _bad(r.invoke(backtest, args + ["--history", str(HISTORY), "--weeks", "0"]), "--weeks")
    _bad(r.invoke(backtest, args + ["--history", str(HISTORY), "--weeks", "20"]), "no older tickets")
    _bad(r.invoke(backtest, ["--model", str(tmp_path), "--intents", str(INTENTS), "--articles", str(ARTICLES),
                             "--history", str(HISTORY)]), "not a model directory")
