"""`bot report`: launch metrics from the decision log and the synced ticket outcomes (method step 6).

Who is who. Every ticket the bot decided on has rows in the decision log; its first decision puts it in a
week and a group: `control` (outside the rollout: the brain decided, nothing was done), `bot` (inside the
rollout in draft or auto mode: the bot acted) or `shadow` (inside the rollout in shadow mode: decided and
recorded only, so agents handled it). The `baseline` is the history's tickets of the same types in the 90
days before the first decision ever logged (launch), untouched by the bot.

Resolved. A bot ticket counts as resolved only when it was solved, no agent wrote a public reply after the
bot's (its first public bot message in the synced conversation, or the decision time when the bot posted
nothing: an escalation, a draft note) and it was not reopened within 7 days. Control, shadow and baseline
tickets are handled by people, so for them resolved means solved and not reopened within 7 days: the bar
the team clears without the bot. The history says `reopened` but not when; a customer message after
`solved_at` dates it, and a reopen it cannot date counts as within 7 days (the cautious side).

Emerging types. Out-of-scope decisions and unlabelled history tickets (no intent claims them) of the last
weeks are clustered by their words (TF-IDF + k-means); a cluster whose last-week count is at least
`GROWTH_MIN` and more than `GROWTH_FACTOR` times the mean of the earlier weeks is flagged, with examples,
so the team writes the intent and the article before the type floods the queue.
"""
from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Iterable, Optional, Sequence

import numpy as np

from bot.brain.records import IntentsConfig, Ticket
from bot.brain.text import clean_for_model, redact
from bot.errors import BadInput
from bot.timeutil import iso, parse_time

BASELINE_DAYS = 90
REOPEN_DAYS = 7
BOT_REPLY_SLACK = timedelta(seconds=60)  # the bot's message can carry a time a moment before the log row
ACTING_MODES = ("draft", "auto")
EMERGING_WEEKS = 6
GROWTH_FACTOR = 2.0
GROWTH_MIN = 5
MIN_FOR_VERDICT = 5
REVIEW_LIMIT = 100
KNOWN_SAMPLE = 8000  # labelled tickets read to recognise known types among the unlabelled
SOLVED = ("solved", "closed")
# metric -> True when higher is better
METRICS = {"resolution_rate": True, "escalation_rate": False, "csat": True, "ttr_median_hours": False,
           "ttr_p90_hours": False}
METRIC_BASIS = {"resolution_rate": "with_outcome", "escalation_rate": "tickets", "csat": "rated",
                "ttr_median_hours": "solved", "ttr_p90_hours": "solved"}


# --- reading the decision log ---------------------------------------------------------------------------

def _check_database(database_url: str) -> None:
    from sqlalchemy.engine import make_url
    try:
        url = make_url(database_url)
    except Exception:
        raise BadInput(f"database: not a database URL: {database_url!r}") from None
    if url.get_backend_name() == "sqlite":
        path = url.database
        if not path or path == ":memory:":
            raise BadInput("database: an in-memory SQLite database has no decision log")
        if not Path(path).is_file():
            raise BadInput(f"{path}: no such database (pass --database or set BOT_DATABASE_URL)")


def load_decisions(database_url: str, since: Optional[datetime] = None) -> tuple[list[dict], Optional[datetime]]:
    """Decision-log rows (oldest first) decided at or after `since`, and the first decision ever (launch)."""
    from sqlalchemy import func, select
    from sqlalchemy.exc import SQLAlchemyError

    from bot.db import DecisionLog, session_factory, short_error

    _check_database(database_url)
    try:
        sessions = session_factory(database_url)
        with sessions() as s:
            launch = s.execute(select(func.min(DecisionLog.decided_at))).scalar()
            q = select(DecisionLog.vendor, DecisionLog.ticket_id, DecisionLog.decided_at, DecisionLog.action,
                       DecisionLog.intent, DecisionLog.confidence, DecisionLog.mode, DecisionLog.control,
                       DecisionLog.decision_json).order_by(DecisionLog.decided_at, DecisionLog.id)
            if since is not None:
                q = q.where(DecisionLog.decided_at >= since)
            rows = []
            for r in s.execute(q):
                dj = r.decision_json if isinstance(r.decision_json, dict) else {}
                rows.append({"vendor": r.vendor, "ticket_id": r.ticket_id, "decided_at": r.decided_at,
                             "action": r.action, "intent": r.intent, "confidence": r.confidence,
                             "mode": r.mode, "control": bool(r.control),
                             "out_of_scope": bool(dj.get("out_of_scope")),
                             "reasons": list(dj.get("reasons") or []), "note": dj.get("note") or ""})
    except SQLAlchemyError as e:
        msg = short_error(e)
        if "no such table" in msg or "does not exist" in msg or "UndefinedTable" in msg:
            raise BadInput("database: no decision_log table (start the web app or worker once to create "
                           "the schema)") from None
        raise BadInput(f"database: cannot read the decision log ({msg})") from None
    if launch is not None and launch.tzinfo is None:
        from datetime import timezone
        launch = launch.replace(tzinfo=timezone.utc)
    return rows, launch


# --- outcomes --------------------------------------------------------------------------------------------

def _at(m) -> Optional[datetime]:
    return parse_time(m.at)


def solved_time(t: Ticket) -> Optional[datetime]:
    if t.status not in SOLVED and not t.solved_at:
        return None
    s = parse_time(t.solved_at)
    if s is None:  # solved with no time: the last message is the best we know
        times = [x for x in (_at(m) for m in t.messages) if x is not None]
        s = max(times) if times else None
    return s


def reopened_within(t: Ticket, solved_at: Optional[datetime], days: int = REOPEN_DAYS) -> bool:
    after = sorted(x for x in (_at(m) for m in t.messages if m.author == "customer" and m.public)
                   if x is not None and solved_at is not None and x > solved_at)
    if after:
        return after[0] - solved_at <= timedelta(days=days)
    return bool(t.reopened)  # reopened at a time we cannot see: count it as within the window


def bot_reply_time(t: Ticket, decided_at: datetime) -> datetime:
    """The bot's first public message at or after its decision; the decision time when it posted nothing."""
    times = sorted(x for x in (_at(m) for m in t.messages if m.author == "bot" and m.public)
                   if x is not None and x >= decided_at - BOT_REPLY_SLACK)
    return times[0] if times else decided_at


def outcome(t: Ticket, bot_at: Optional[datetime], as_of: Optional[datetime] = None) -> dict:
    """Resolved or not, and why not. `bot_at` given: the strict bot rule (no human public reply after it).

    `pending`: not solved yet and younger than the reopen window at `as_of`, too early to judge (left out
    of the resolution rate, or the newest week would always look worst)."""
    solved_at = solved_time(t)
    created = parse_time(t.created_at)
    pending = (solved_at is None and as_of is not None and created is not None
               and as_of - created < timedelta(days=REOPEN_DAYS))
    why = []
    if solved_at is None:
        why.append(f"not solved (status {t.status or 'unknown'})")
    if bot_at is not None and any(m.author == "agent" and m.public and (_at(m) or bot_at) > bot_at
                                  for m in t.messages):
        why.append("an agent replied publicly after the bot")
    reopened = solved_at is not None and reopened_within(t, solved_at)
    if reopened:
        why.append(f"reopened within {REOPEN_DAYS} days")
    ttr = None
    if solved_at is not None and created is not None and solved_at >= created:
        ttr = (solved_at - created).total_seconds() / 3600
    return {"resolved": not why, "why": why, "pending": pending, "solved": solved_at is not None,
            "reopened": reopened,
            "satisfaction": t.satisfaction if t.satisfaction in ("good", "bad") else None, "ttr_hours": ttr}


# --- figures --------------------------------------------------------------------------------------------

@dataclass
class Entry:
    """One ticket in one group: its first decision, its outcome (None when the history does not have it)."""
    key: tuple
    group: str
    at: datetime
    intent: Optional[str] = None
    escalated: Optional[bool] = None
    out_of_scope: bool = False
    actions: list = field(default_factory=list)
    reasons: list = field(default_factory=list)
    confidence: Optional[float] = None
    mode: Optional[str] = None
    outcome: Optional[dict] = None
    ticket: Optional[Ticket] = None
    note: str = ""


def _r(x: Optional[float], nd: int = 4) -> Optional[float]:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(float(x), nd)


def metrics(entries: Sequence[Entry]) -> dict:
    synced = [e for e in entries if e.outcome is not None]
    known = [e for e in synced if not e.outcome["pending"]]
    resolved = sum(e.outcome["resolved"] for e in known)
    good = sum(e.outcome["satisfaction"] == "good" for e in known)
    bad = sum(e.outcome["satisfaction"] == "bad" for e in known)
    ttr = np.array([e.outcome["ttr_hours"] for e in known if e.outcome["ttr_hours"] is not None], dtype=float)
    esc = [e.escalated for e in entries if e.escalated is not None]
    return {
        "tickets": len(entries), "with_outcome": len(known), "pending": len(synced) - len(known),
        "resolved": resolved,
        "resolution_rate": _r(resolved / len(known)) if known else None,
        "escalated": sum(esc) if esc else None,
        "escalation_rate": _r(sum(esc) / len(esc)) if esc else None,
        "rated": good + bad, "csat": _r(good / (good + bad)) if good + bad else None,
        "solved": int(len(ttr)),
        "ttr_median_hours": _r(float(np.median(ttr)), 2) if len(ttr) else None,
        "ttr_p90_hours": _r(float(np.percentile(ttr, 90)), 2) if len(ttr) else None,
    }


def verdict(metric: str, mine: Optional[dict], other: Optional[dict]) -> str:
    """better | worse | same | too few, for `mine` against `other` on one metric."""
    if not mine or not other:
        return "n/a"
    a, b = mine.get(metric), other.get(metric)
    basis = METRIC_BASIS[metric]
    if a is None or b is None:
        return "n/a"
    if (mine.get(basis) or 0) < MIN_FOR_VERDICT or (other.get(basis) or 0) < MIN_FOR_VERDICT:
        return "too few"
    if metric.startswith("ttr"):
        same = abs(a - b) <= 0.1 * max(abs(b), 1e-9) or abs(a - b) < 0.25
    else:
        same = abs(a - b) < 0.02
    if same:
        return "same"
    return "better" if (a > b) == METRICS[metric] else "worse"


def week_of(t: datetime) -> str:
    return (t - timedelta(days=t.weekday())).date().isoformat()


# --- emerging types -------------------------------------------------------------------------------------

def cluster(texts: Sequence[str]) -> tuple[list[tuple[list[int], list[str]]], str]:
    """(clusters as (member indices, terms), method): the audit's clustering, so both reports agree."""
    from bot.clusters import cluster_texts
    result = cluster_texts(list(texts))
    return [([int(i) for i in c.members], list(c.terms)) for c in result.clusters], "bot.clusters"


def set_aside_known(items: list[dict], known: tuple[Sequence[str], Sequence[str]]) -> list[dict]:
    """Drop unlabelled tickets that read like a known type (untagged, not new)."""
    from bot.clusters import nearest_known
    texts, labels = known
    if not texts:
        return items
    near = nearest_known(list(texts), list(labels), [it["text"] for it in items])
    return [it for it, n in zip(items, near) if n is None]


def emerging_types(items: Sequence[dict], as_of: datetime, weeks: int = EMERGING_WEEKS,
                   known: tuple[Sequence[str], Sequence[str]] = ((), ())) -> dict:
    """items: {key, text, at, source, subject, example, tags}. Clusters, weekly counts, growth flags."""
    start = as_of - timedelta(days=7 * weeks)
    items = [i for i in items if i["at"] is not None and start < i["at"] <= as_of and i["text"].strip(" .")]
    considered = len(items)
    items = set_aside_known(items, known)
    result = {"window": {"from": iso(start), "to": iso(as_of), "weeks": weeks,
                         "week_starts": [(start + timedelta(days=7 * i)).date().isoformat() for i in range(weeks)]},
              "considered": considered,
              "read_like_known_types": considered - len(items), "method": None, "clusters": []}
    if len(items) < 8:
        return result
    groups, result["method"] = cluster([i["text"] for i in items])
    out = []
    for member_idx, terms in groups:
        members = [items[i] for i in member_idx]
        counts = [0] * weeks
        for m in members:
            back = min(weeks - 1, int((as_of - m["at"]).total_seconds() // (7 * 86400)))
            counts[weeks - 1 - back] += 1
        last, earlier = counts[-1], counts[:-1]
        mean_earlier = float(np.mean(earlier)) if earlier else 0.0
        growing = last >= GROWTH_MIN and last > GROWTH_FACTOR * mean_earlier
        tags = Counter(t for m in members for t in m.get("tags", ()))
        recent = sorted(members, key=lambda m: m["at"], reverse=True)[:3]
        out.append({
            "cluster": ", ".join(terms[:3]) or "unnamed", "terms": terms[:5], "tickets": len(members),
            "weekly": counts, "last_week": last, "earlier_mean": round(mean_earlier, 2), "growing": growing,
            "sources": dict(Counter(m["source"] for m in members)),
            "tags": dict(tags.most_common(3)),
            "examples": [{"ticket_id": m["key"][1], "at": iso(m["at"]), "subject": redact(m["subject"], 80),
                          "text": m["example"], "source": m["source"]} for m in recent],
        })
    out.sort(key=lambda c: (not c["growing"], -c["last_week"], -c["tickets"]))
    result["clusters"] = out
    return result


def _example(t: Optional[Ticket], note: str) -> str:
    if t is not None:
        return redact(t.first_customer_text(), 140)
    if "Summary: " in note:
        return redact(note.split("Summary: ", 1)[1].split("\n", 1)[0], 140)
    return ""


# --- the report -----------------------------------------------------------------------------------------

def _latest_time(history: Iterable[Ticket]) -> Optional[datetime]:
    best = None
    for t in history:
        for s in (t.created_at, t.solved_at, *(m.at for m in t.messages)):
            x = parse_time(s)
            if x is not None and (best is None or x > best):
                best = x
    return best


def build_report(rows: Sequence[dict], launch: Optional[datetime], history: Sequence[Ticket],
                 config: Optional[IntentsConfig] = None, since: Optional[datetime] = None,
                 as_of: Optional[datetime] = None) -> dict:
    from bot.backtest import topic_tags
    from bot.training import label_of

    by_key = {(t.vendor, t.id): t for t in history}
    by_id: dict[str, list[Ticket]] = defaultdict(list)
    for t in history:
        by_id[t.id].append(t)

    def find(vendor: str, ticket_id: str) -> Optional[Ticket]:
        t = by_key.get((vendor, ticket_id))
        if t is None and len(by_id.get(ticket_id, ())) == 1:
            t = by_id[ticket_id][0]
        return t

    # one entry per ticket: its first decision decides week and group; any escalation counts
    entries: dict[tuple, Entry] = {}
    for r in rows:
        key = (r["vendor"], r["ticket_id"])
        e = entries.get(key)
        if e is None:
            group = "control" if r["control"] else ("bot" if r["mode"] in ACTING_MODES else "shadow")
            e = entries[key] = Entry(key=key, group=group, at=r["decided_at"], intent=r["intent"], escalated=False,
                                     out_of_scope=r["out_of_scope"], confidence=r["confidence"], mode=r["mode"],
                                     note=r["note"])
        e.actions.append(r["action"])
        if r["action"] == "escalate":
            e.escalated = True
            e.reasons.extend(x for x in r["reasons"] if x not in e.reasons)
    latest = [x for x in (_latest_time(history), max((e.at for e in entries.values()), default=None)) if x]
    as_of = as_of or (max(latest) if latest else None)
    if as_of is None:
        raise BadInput("history: no readable times in the history and no decisions: nothing to report")
    missing = 0
    for e in entries.values():
        t = find(*e.key)
        if t is None:
            missing += 1
            continue
        e.ticket = t
        e.outcome = outcome(t, bot_reply_time(t, e.at) if e.group == "bot" else None, as_of)

    # baseline: same types, 90 days before launch, not seen by the bot
    names = {i.name for i in config.intents} if config else set()
    tag_map = {tag: i.name for i in config.intents for tag in i.tags} if config else {}
    types = {e.intent for e in entries.values() if e.group != "control" and e.intent and not e.out_of_scope}
    launch_at = launch or as_of
    base_from = launch_at - timedelta(days=BASELINE_DAYS)
    baseline = []
    for t in history:
        c = parse_time(t.created_at)
        if c is None or not (base_from <= c < launch_at) or (t.vendor, t.id) in entries:
            continue
        if config is not None and types:
            if label_of(t, names, tag_map) not in types:
                continue
        baseline.append(Entry(key=(t.vendor, t.id), group="baseline", at=c, ticket=t,
                              outcome=outcome(t, None, as_of)))

    groups = {g: [e for e in entries.values() if e.group == g] for g in ("bot", "shadow", "control")}
    summary_groups = {g: metrics(v) for g, v in groups.items()}
    summary_groups["baseline"] = metrics(baseline)
    summary_groups["baseline"]["escalation_rate"] = None
    main = "bot" if groups["bot"] else ("shadow" if groups["shadow"] else None)
    summary = {}
    for m in METRICS:
        row = {g: summary_groups[g][m] for g in summary_groups}
        row["vs_control"] = verdict(m, summary_groups["bot"], summary_groups["control"]) if groups["bot"] else "n/a"
        row["vs_baseline"] = (verdict(m, summary_groups["bot"], summary_groups["baseline"])
                              if groups["bot"] else "n/a")
        summary[m] = row

    weeks = []
    for w in sorted({week_of(e.at) for e in entries.values()}):
        row = {"week": w}
        for g, v in groups.items():
            mine = [e for e in v if week_of(e.at) == w]
            row[g] = metrics(mine) if mine else None
        if row["bot"]:
            row["bot_vs_control"] = {m: verdict(m, row["bot"], row["control"]) for m in METRICS}
            row["bot_vs_baseline"] = {m: verdict(m, row["bot"], summary_groups["baseline"]) for m in METRICS}
        weeks.append(row)

    # emerging types
    # Out-of-scope decisions on tickets the agents labelled with a known intent are threshold work, not
    # a new type; and they exist only since launch, so counting them would make any type look like it grew.
    items, seen = [], set()
    for e in entries.values():
        if not e.out_of_scope:
            continue
        t = e.ticket
        if t is not None and config is not None and label_of(t, names, tag_map) is not None:
            continue
        text = clean_for_model(t.subject, t.first_customer_text()) if t else clean_for_model("", _example(None, e.note))
        items.append({"key": e.key, "text": text, "at": e.at, "source": "out_of_scope",
                      "subject": t.subject if t else "", "example": _example(t, e.note),
                      "tags": topic_tags(t, set(tag_map)) if t else []})
        seen.add(e.key)
    if config is not None:
        window = as_of - timedelta(days=7 * EMERGING_WEEKS)
        for t in history:
            created = parse_time(t.created_at)
            if created is None or created <= window or (t.vendor, t.id) in seen \
                    or label_of(t, names, tag_map) is not None:
                continue
            items.append({"key": (t.vendor, t.id), "text": clean_for_model(t.subject, t.first_customer_text()),
                          "at": created, "source": "unlabelled", "subject": t.subject,
                          "example": _example(t, ""), "tags": topic_tags(t, set(tag_map))})
    known_texts, known_labels = [], []
    if config is not None:  # the labelled tickets of the same weeks, to tell "untagged" from "new"
        window = as_of - timedelta(days=7 * EMERGING_WEEKS)
        known = [(t, lab) for t in history
                 if (lab := label_of(t, names, tag_map)) is not None and (c := parse_time(t.created_at)) and c > window]
        step = max(1, len(known) // KNOWN_SAMPLE)
        for t, lab in known[::step]:
            known_texts.append(clean_for_model(t.subject, t.first_customer_text()))
            known_labels.append(lab)
    emerging = emerging_types(items, as_of, known=(known_texts, known_labels))

    # weekly review: bot tickets escalated or unresolved, shadow tickets the bot would have escalated
    review = []
    for e in entries.values():
        if e.group == "control":
            continue
        unresolved = e.group == "bot" and e.outcome is not None and not e.outcome["resolved"]
        if not (e.escalated or unresolved):
            continue
        t, o = e.ticket, e.outcome or {}
        review.append({
            "ticket_id": e.key[1], "vendor": e.key[0], "group": e.group, "mode": e.mode, "decided_at": iso(e.at),
            "actions": e.actions, "intent": e.intent, "confidence": _r(e.confidence),
            "escalated": bool(e.escalated), "reasons": e.reasons[:4],
            "resolved": o.get("resolved"), "why_unresolved": o.get("why", []),
            "satisfaction": o.get("satisfaction"), "reopened": o.get("reopened", False),
            "status": t.status if t else None, "subject": redact(t.subject, 80) if t else "",
        })
    review.sort(key=lambda r: (r["satisfaction"] != "bad", not r["reopened"],
                               r["group"] != "bot", r["resolved"] is not False, r["decided_at"]))

    notes = []
    if not entries:
        notes.append("no decisions in the log" + (f" since {iso(since)}" if since else ""))
    elif not groups["bot"]:
        notes.append(f"no ticket handled by the bot yet: {len(groups['shadow'])} decisions in shadow mode "
                     "(recorded only, agents handled them) and " f"{len(groups['control'])} in the control group")
    if missing:
        notes.append(f"{missing} decided tickets are not in the synced history: their outcomes are unknown "
                     "(sync the history again)")
    if config is None:
        notes.append("no intents file: the baseline takes every ticket type and unlabelled tickets are not "
                     "searched for emerging types")
    if not groups["control"]:
        notes.append("no control group (rollout 100%?): nothing to compare against in the same weeks")
    return {
        "as_of": iso(as_of), "since": iso(since) if since else None, "launch": iso(launch) if launch else None,
        "main_group": main,
        "tickets": {**{g: len(v) for g, v in groups.items()}, "baseline": len(baseline), "decisions": len(rows),
                    "without_outcome": missing},
        "baseline_window": {"from": iso(base_from), "to": iso(launch_at), "types": sorted(types) if config else None},
        "summary": summary, "groups": summary_groups, "weeks": weeks,
        "emerging": emerging, "emerging_flagged": sum(c["growing"] for c in emerging["clusters"]),
        "review": review[:REVIEW_LIMIT], "review_total": len(review),
        "definitions": {
            "bot": "decided inside the rollout in draft or auto mode",
            "shadow": "decided inside the rollout in shadow mode (recorded only)",
            "control": "outside the rollout: decided, nothing done",
            "baseline": f"same ticket types in the {BASELINE_DAYS} days before the first decision",
            "resolved_bot": f"solved, no agent public reply after the bot's, not reopened within {REOPEN_DAYS} days",
            "resolved_other": f"solved and not reopened within {REOPEN_DAYS} days",
            "csat": "good / (good + bad) among rated tickets",
            "ttr": "hours from created_at to solved_at",
        },
        "notes": notes,
    }


def run_report(database_url: str, history_path, intents_path=None, since: Optional[str] = None) -> dict:
    from bot.files import read_history, read_intents

    since_at = None
    if since:
        since_at = parse_time(since)
        if since_at is None:
            raise BadInput(f"--since: not a date (YYYY-MM-DD or ISO-8601 time): {since!r}")
    history = read_history(history_path)
    config = read_intents(intents_path) if intents_path else None
    rows, launch = load_decisions(database_url, since_at)
    report = build_report(rows, launch, history, config, since_at)
    report["database"] = _safe_url(database_url)
    report["history"] = str(history_path)
    return report


def _safe_url(database_url: str) -> str:
    try:
        from sqlalchemy.engine import make_url
        return make_url(database_url).render_as_string(hide_password=True)
    except Exception:
        return "?"
