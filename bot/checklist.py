"""`bot checklist`: the readiness checklist before go-live, each item with its state and the evidence.

Every state is computed now from the files, the model and the database, never from a flag someone set:

- kb_audited: the knowledge-base audit run over the history, articles and intents finds every top-10 ticket
  type covered (bot.audit's when it is there, else the minimal audit below: an intent that escalates, or
  published articles that exist and are not stale);
- intents_mapped: every top-10 ticket type has an intent with articles or an escalation rule;
- escalation_tested: the test script's escalation recall is at least 0.95;
- handoff_configured: the policy names an escalation group, every always-escalating intent names its group and
  priority, and an escalation's note carries the summary, reasons, priority and group;
- test_script_passed: the evaluation says ready;
- monitoring_on: the metrics endpoint answers with the bot's metrics, and the decision log has decisions in
  the last 7 days or the beat schedule runs a report job.

States: pass, fail, or unknown (the evidence could not be read: an input not given, a service not asked).
Ready means every item passes.
"""
from __future__ import annotations

import re
import urllib.error
import urllib.request
from collections import Counter
from datetime import datetime, timedelta

from typing import Callable, Optional, Sequence

from bot.brain.records import Article, IntentsConfig, Ticket
from bot.errors import BadInput
from bot.timeutil import iso, parse_time, utcnow

TOP_TYPES = 10
WINDOW_DAYS = 90
STALE_DAYS = 540  # minimal audit: an article not updated for 18 months is taken as outdated
ESCALATION_RECALL = 0.95
RECENT_DAYS = 7
METRICS_TIMEOUT = 2.0
DEFAULT_METRICS_URL = "http://127.0.0.1:8000/metrics"
BOT_METRICS = ("bot_webhooks_total", "bot_decisions_total", "bot_queue_depth", "bot_decision_seconds",
               "bot_vendor_api_calls_total")
ITEMS = ("kb_audited", "intents_mapped", "escalation_tested", "handoff_configured", "test_script_passed",
         "monitoring_on")
TITLES = {"kb_audited": "Knowledge base audited (top 10 covered)", "intents_mapped": "Intents mapped",
          "escalation_tested": "Escalation rules tested", "handoff_configured": "Handoff context configured",
          "test_script_passed": "Test script passed", "monitoring_on": "Monitoring on"}


def item(name: str, state: str, evidence: str, **details) -> dict:
    return {"name": name, "title": TITLES[name], "state": state, "evidence": evidence, **details}


# --- ticket types ---------------------------------------------------------------------------------------

def ticket_types(history: Sequence[Ticket], config: IntentsConfig, days: int = WINDOW_DAYS) -> list[tuple[str, int]]:
    """Ticket types by volume over the last `days` of history: an intent name, or `tag:X` for a topic tag no
    intent claims (a type the bot has no intent for), most frequent first."""
    from bot.backtest import topic_tags
    from bot.training import label_of

    names = {i.name for i in config.intents}
    tag_map = {tag: i.name for i in config.intents for tag in i.tags}
    stamps = [parse_time(t.created_at) for t in history]
    known = [s for s in stamps if s is not None]
    start = max(known) - timedelta(days=days) if known else None
    counts: Counter = Counter()
    for t, s in zip(history, stamps):
        if start is not None and (s is None or s < start):
            continue
        label = label_of(t, names, tag_map)
        if label is None:
            topics = topic_tags(t, set(tag_map))
            if t.intent and t.intent not in names:
                label = f"intent:{t.intent}"
            elif topics:
                label = f"tag:{topics[0]}"
        if label is not None:
            counts[label] += 1
    return counts.most_common()


def minimal_audit(history: Sequence[Ticket], articles: Sequence[Article], config: IntentsConfig) -> dict:
    """Top-10 coverage: per type `ok`, `missing` or `outdated`, with why (the real audit also finds
    contradictions; this one is what the checklist falls back to when bot.audit is not installed)."""
    from bot.brain.articles import ArticleIndex

    ranked = ticket_types(history, config)
    top = ranked[:TOP_TYPES]
    stamps = [parse_time(t.created_at) for t in history]
    now = max((s for s in stamps if s is not None), default=utcnow())
    by_id = {a.id: a for a in articles}
    index = ArticleIndex(articles)
    intents = config.by_name()
    types = []
    for name, n in top:
        intent = intents.get(name)
        if intent is None:
            types.append({"type": name, "tickets": n, "verdict": "missing",
                          "why": "no intent claims this type, so no article is behind it"})
            continue
        if intent.escalate:
            types.append({"type": name, "tickets": n, "verdict": "ok",
                          "why": "escalation-required: always handed to a human"})
            continue
        live = [by_id[a] for a in intent.articles if a in by_id and not by_id[a].draft]
        if not live:
            types.append({"type": name, "tickets": n, "verdict": "missing",
                          "why": "no published article is attached to the intent"})
            continue
        stale = [a for a in live if (parse_time(a.updated_at) or now) < now - timedelta(days=STALE_DAYS)]
        if stale:
            a = stale[0]
            types.append({"type": name, "tickets": n, "verdict": "outdated",
                          "why": f"article {a.id} '{a.title}' last updated {a.updated_at[:10]}, "
                                 f"over {STALE_DAYS} days before the newest ticket"})
            continue
        hit = index.search(f"{intent.description} {' '.join(intent.examples[:3])}", [a.id for a in live])
        if hit is None:
            types.append({"type": name, "tickets": n, "verdict": "missing",
                          "why": "none of its articles has a section that matches the intent"})
            continue
        types.append({"type": name, "tickets": n, "verdict": "ok", "why": f"article {hit.id} '{hit.title}'"})
    return {"source": "the checklist's minimal audit", "types": types, "covered": all(t["verdict"] == "ok" for t in types)}


def external_audit(history: Sequence[Ticket], articles: Sequence[Article], config: IntentsConfig) -> Optional[dict]:
    """The knowledge-base audit of `bot audit` (bot.audit.audit_records); None when its report does not have
    the shape read here (then the minimal audit stands in, and the checklist says which one it used)."""
    from bot.audit import audit_records
    result = audit_records(history, articles, config)
    try:
        coverage = result["coverage"]
        failing = {f["type"]: f for f in coverage["failing"]}
        audited = {a["type"]: a for a in result.get("audit", [])}
        rows = []
        for t in result["types"][:coverage.get("top", TOP_TYPES)]:
            name = t["type"]
            if name in failing:
                verdict, why = failing[name]["verdict"], failing[name].get("reason") or ""
            else:
                verdict = t.get("verdict") or "ok"
                evidence = (audited.get(name) or {}).get("evidence") or [""]
                why = evidence[0] if isinstance(evidence, list) and evidence else str(evidence)
            rows.append({"type": name, "tickets": t.get("tickets"), "verdict": verdict, "why": str(why)})
        return {"source": "bot audit", "types": rows, "covered": bool(coverage["covered"]),
                "summary": coverage.get("summary")}
    except (KeyError, TypeError, AttributeError):
        return None


# --- the items ------------------------------------------------------------------------------------------

def check_kb(audit: Optional[dict]) -> dict:
    if audit is None:
        return item("kb_audited", "unknown", "needs --history, --articles and --intents to run the audit")
    bad = [t for t in audit["types"] if t["verdict"] != "ok"]
    if not audit["types"]:
        return item("kb_audited", "fail", "the audit found no ticket types in the history", audit=audit)
    if audit["covered"] and not bad:
        return item("kb_audited", "pass", f"audit ({audit['source']}): all {len(audit['types'])} top types "
                    "have current documentation or an escalation rule", audit=audit)
    shown = "; ".join(f"{t['type']} {t['verdict']}" + (f" ({t['why']})" if t["why"] else "") for t in bad[:4])
    more = f" and {len(bad) - 4} more" if len(bad) > 4 else ""
    return item("kb_audited", "fail", f"audit ({audit['source']}): {len(bad)} of the top "
                f"{len(audit['types'])} not covered: {shown}{more}", audit=audit)


def check_intents(ranked: Optional[list], config: Optional[IntentsConfig]) -> dict:
    if ranked is None or config is None:
        return item("intents_mapped", "unknown", "needs --history and --intents to rank the ticket types")
    top = ranked[:TOP_TYPES]
    if not top:
        return item("intents_mapped", "fail", "no ticket in the history maps to a type")
    intents = config.by_name()
    gaps = []
    for name, n in top:
        intent = intents.get(name)
        if intent is None:
            gaps.append(f"{name} ({n} tickets): no intent")
        elif not intent.articles and not intent.escalate:
            gaps.append(f"{name} ({n} tickets): no article and no escalation rule")
    if gaps:
        return item("intents_mapped", "fail", f"{len(gaps)} of the top {len(top)} types unmapped: "
                    + "; ".join(gaps), top_types=[t for t, _ in top])
    return item("intents_mapped", "pass", f"all top {len(top)} types have an intent with articles or an "
                "escalation rule: " + ", ".join(t for t, _ in top), top_types=[t for t, _ in top])


def check_escalation(evaluation: Optional[dict], why_missing: str) -> dict:
    if evaluation is None:
        return item("escalation_tested", "unknown", why_missing)
    esc = evaluation["escalation"]
    if not esc.get("expected"):
        return item("escalation_tested", "fail", f"the test script ({evaluation['cases']} cases) has no case "
                    "that expects an escalation")
    state = "pass" if esc["recall"] >= ESCALATION_RECALL else "fail"
    missed = [f["id"] for f in evaluation["failures"]
              if f["expected"].get("action") == "escalate" and f["got"]["action"] != "escalate"]
    ev = (f"test script: escalation recall {esc['recall']:.0%} ({esc['expected']} expected, "
          f"{esc['escalated']} escalated, precision {esc['precision']:.0%}); needs {ESCALATION_RECALL:.0%}")
    if missed:
        ev += "; missed: " + ", ".join(missed[:5])
    return item("escalation_tested", state, ev, recall=esc["recall"], precision=esc["precision"])


def check_script(evaluation: Optional[dict], why_missing: str) -> dict:
    if evaluation is None:
        return item("test_script_passed", "unknown", why_missing)
    ev = (f"test script: {evaluation['cases']} cases, accuracy {evaluation['accuracy']:.0%}, model "
          f"{evaluation['model_version']}: " + ("ready" if evaluation["ready"]
                                                 else "not ready: " + "; ".join(evaluation["blockers"])))
    return item("test_script_passed", "pass" if evaluation["ready"] else "fail", ev,
                accuracy=evaluation["accuracy"], blockers=evaluation["blockers"])


def check_handoff(raw: Optional[dict], config: Optional[IntentsConfig], note_check: Optional[tuple[bool, str]]
                  ) -> dict:
    """Read from the intents file as written (a default the parser fills in is not configuration)."""
    if raw is None or config is None:
        return item("handoff_configured", "unknown", "needs --intents")
    problems, good = [], []
    group = ((raw.get("policy") or {}).get("escalation_group") or "")
    if not str(group).strip():
        problems.append("policy.escalation_group is not set")
    else:
        good.append(f"escalation group '{group}'")
    raw_intents = raw.get("intents") or []
    escalating = 0
    for i, it in enumerate(raw_intents):
        if not isinstance(it, dict) or not it.get("escalate"):
            continue
        escalating += 1
        missing = [k for k in ("group", "priority") if not str(it.get(k) or "").strip()]
        if missing:
            problems.append(f"intents[{i}] {it.get('name')}: escalates without {' and '.join(missing)}")
    good.append(f"{escalating} always-escalating intents with group and priority" if escalating
                else "no always-escalating intent")
    if note_check is not None:
        ok, why = note_check
        (good if ok else problems).append(why)
    if problems:
        return item("handoff_configured", "fail", "; ".join(problems))
    return item("handoff_configured", "pass", "; ".join(good))


def note_carries_context(brain, cases: Sequence[dict]) -> tuple[bool, str]:
    """Decide one test-script case that expects an escalation and read the note the agent would get."""
    from bot.evaluation import case_ticket

    case = next((c for c in cases if (c.get("expect") or {}).get("action") == "escalate"), None)
    if case is None:
        return False, "no escalation case in the test script to check the handoff note with"
    d = brain.decide(case_ticket(case))
    if d.action != "escalate":
        return False, f"case {case['id']} was not escalated, so its handoff note could not be checked"
    need = {"Summary:": "summary", "Reasons:": "reasons", "Priority:": "priority", "group:": "group"}
    lacking = [v for k, v in need.items() if k not in d.note]
    if lacking or not d.group:
        return False, f"the handoff note of case {case['id']} lacks " + ", ".join(lacking or ["a group"])
    return True, (f"case {case['id']} hands off to '{d.group}' at priority {d.priority} with a note "
                  "(summary, intent, reasons, page, requester)")


def fetch_metrics(url: str, timeout: float = METRICS_TIMEOUT) -> tuple[bool, str]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers={"Accept": "text/plain"}),
                                    timeout=timeout) as resp:
            body = resp.read(2_000_000).decode("utf-8", "replace")
            status = resp.status
    except urllib.error.HTTPError as e:
        return False, f"GET {url}: HTTP {e.code}"
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", None) or e
        return False, f"GET {url}: {reason}"
    found = [m for m in BOT_METRICS if re.search(rf"^(?:# (?:HELP|TYPE) )?{m}\b", body, re.M)]
    if not found:
        return False, f"GET {url}: HTTP {status} but none of the bot's metrics ({BOT_METRICS[1]}, ...)"
    return True, f"GET {url}: HTTP {status}, {len(found)} bot metrics ({', '.join(found[:3])})"


def report_scheduled() -> tuple[bool, str]:
    """Does Celery beat's schedule run a report job? Read from the worker's own Celery app (creating it
    connects to nothing), so a renamed or removed job is seen as it is."""
    try:
        from bot.worker import app
    except Exception as e:  # a broken worker configuration is evidence too
        return False, f"the worker's schedule cannot be read ({type(e).__name__}: {e})"
    schedule = app.conf.beat_schedule or {}
    reports = sorted(name for name, job in schedule.items() if "report" in str(job.get("task", "")))
    if reports:
        return True, f"beat schedule runs {', '.join(reports)}"
    return False, f"beat schedule has no report job ({', '.join(sorted(schedule)) or 'empty'})"


def recent_decisions(database_url: str, days: int = RECENT_DAYS, now: Optional[datetime] = None
                     ) -> tuple[Optional[int], str]:
    """(count, evidence); count None when the database cannot be read."""
    from sqlalchemy import func, select
    from sqlalchemy.exc import SQLAlchemyError

    from bot.db import DecisionLog, session_factory, short_error
    from bot.launch_report import _check_database, _safe_url

    try:
        _check_database(database_url)
    except BadInput as e:
        return None, str(e)
    since = (now or utcnow()) - timedelta(days=days)
    try:
        with session_factory(database_url)() as s:
            n = s.execute(select(func.count()).select_from(DecisionLog)
                          .where(DecisionLog.decided_at >= since)).scalar() or 0
            last = s.execute(select(func.max(DecisionLog.decided_at))).scalar()
    except SQLAlchemyError as e:
        return None, f"database {_safe_url(database_url)}: {short_error(e)}"
    tail = f" (latest {iso(last)})" if last else " (the log is empty)"
    return int(n), f"{n} decisions logged in the last {days} days{tail}"


def check_monitoring(metrics: Optional[tuple[bool, str]], decisions: tuple[Optional[int], str],
                     schedule: tuple[bool, str]) -> dict:
    parts = []
    if metrics is None:
        parts.append("metrics not checked")
    else:
        parts.append(metrics[1])
    n, dev = decisions
    parts += [dev, schedule[1]]
    reporting = (n or 0) > 0 or schedule[0]
    if metrics is not None and metrics[0] and reporting:
        return item("monitoring_on", "pass", "; ".join(parts))
    if metrics is not None and not metrics[0]:
        return item("monitoring_on", "fail", "; ".join(parts))
    if not reporting and (n is not None or schedule[0] is False):
        return item("monitoring_on", "fail", "; ".join(parts))
    return item("monitoring_on", "unknown", "; ".join(parts))


# --- the command's work ---------------------------------------------------------------------------------

def run_checklist(intents_path=None, articles_path=None, history_path=None, model_dir=None, script_path=None,
                  database_url: Optional[str] = None, metrics_url: Optional[str] = DEFAULT_METRICS_URL,
                  progress: Callable[[str], None] = lambda m: None, now: Optional[datetime] = None) -> dict:
    from bot.files import read_articles, read_history, read_intents, read_test_script, read_yaml

    articles = read_articles(articles_path) if articles_path else None
    raw = read_yaml(intents_path) if intents_path else None
    config = read_intents(intents_path, {a.id for a in articles} if articles is not None else None) \
        if intents_path else None
    history = read_history(history_path) if history_path else None
    cases = read_test_script(script_path) if script_path else None

    ranked = ticket_types(history, config) if history is not None and config is not None else None
    audit = None
    if history is not None and articles is not None and config is not None:
        progress("auditing the knowledge base")
        audit = external_audit(history, articles, config) or minimal_audit(history, articles, config)

    evaluation, brain = None, None
    need = [o for o, v in (("--model", model_dir), ("--intents", intents_path), ("--articles", articles_path),
                           ("--script", script_path)) if not v]
    why_missing = "needs " + ", ".join(need) + " to run the test script" if need else ""
    if not need:
        from bot.evaluation import evaluate
        from bot.model_store import load_brain
        progress("running the test script")
        brain = load_brain(model_dir, intents_path, articles_path)
        evaluation = evaluate(brain, cases)  # exactly what `bot evaluate` says
    note = note_carries_context(brain, cases) if brain is not None else None

    metrics = fetch_metrics(metrics_url) if metrics_url else None
    decisions = recent_decisions(database_url, now=now) if database_url else (None, "no database given")
    items = [
        check_kb(audit),
        check_intents(ranked, config),
        check_escalation(evaluation, why_missing),
        check_handoff(raw if isinstance(raw, dict) else None, config, note),
        check_script(evaluation, why_missing),
        check_monitoring(metrics, decisions, report_scheduled()),
    ]
    states = Counter(i["state"] for i in items)
    return {"ready": states["pass"] == len(items), "passed": states["pass"], "failed": states["fail"],
            "unknown": states["unknown"], "checked_at": iso(now or utcnow()), "items": items}
