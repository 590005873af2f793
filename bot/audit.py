"""`bot audit`: the knowledge-base audit (method step 1) and the coverage and flow checks (method step 2).

`audit_records` is a pure function over records that returns the report as a dict; reading files, the
renderers and `--suggest-intents` sit around it. "Now" is the newest ticket's `created_at`, not the wall
clock: trends and staleness are about the history as synced, and a fixture gives the same report every day.

Ticket types are labels (`intent`, else a tag an intent claims; with no intents file, `intent` else the
first tag that is not a channel/VIP/routing tag), plus, with `--model`, what the model confidently says
about the unlabelled. The articles behind a type are the intent's; for a type with none, the best section
for the centroid of the type's tickets (one TF-IDF query per type: averaging many tickets' words is a much
steadier query than any one ticket). Checks on those articles are in `audit_checks`, clustering of the
unlabelled in `clusters`, the starter intents file in `suggest_intents` below.
"""
from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import asdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import yaml
from scipy.stats import binomtest
from sklearn.preprocessing import normalize

from bot import audit_checks as checks
from bot.brain.articles import ArticleIndex
from bot.brain.classifier import IntentModel
from bot.brain.records import CATEGORIES, Article, IntentsConfig, Policy, Ticket
from bot.brain.text import clean_for_model, redact, strip_quoted
from bot.clusters import cluster_texts, nearest_known, sample_index
from bot.errors import BadInput
from bot.files import parse_intents, read_articles, read_history, read_intents, write_atomic
from bot.timeutil import iso, parse_time
from bot.training import MISTAKE_TAGS, label_of, quality_reason, ticket_text

TOP = 15  # types audited and shown: the method starts with the top 10-15
COVERAGE_TOP = 10
STALE_DAYS = 365
WEEKS = 13
RISING, FALLING = 1.5, 1 / 1.5
TREND_P = 0.05
MIN_TYPE_SCORE = 0.2  # cosine of a type's ticket centroid with an article section: below it, no article covers it
TYPE_SAMPLE = 500  # tickets per type read for retrieval and for the agents' replies
KNOWN_SAMPLE = 5000  # labelled tickets that place the known types' centroids
SEED = 13
_GENERIC_TAG = re.compile(r"^(?:channel|via|source|lang|locale|priority|sla|bot|intent|vip|urgent|auto)(?:_|$)", re.I)
_ANGLE_EMAIL = re.compile(r"<([^<>\s@]+@[^<>\s]+)>")
VERDICT_ORDER = ("missing", "contradictory", "outdated", "ok")


# --- labels, text and time ------------------------------------------------------------------------------

class LazyTexts:
    """audit_text per ticket on first use: most labelled tickets are only counted, never read."""

    def __init__(self, history: Sequence[Ticket]):
        self.history, self.cache = history, {}

    def __len__(self) -> int:
        return len(self.history)

    def __getitem__(self, i) -> str:
        i = int(i)
        if i not in self.cache:
            self.cache[i] = audit_text(self.history[i])
        return self.cache[i]


def audit_text(t: Ticket) -> str:
    """The model's view of a ticket. "<help@x.example>" in a quoted "On ... wrote:" line makes
    clean_for_model take a plain mail for HTML and keep the quote, so the address loses its brackets first."""
    return clean_for_model(t.subject, _ANGLE_EMAIL.sub(r"\1", t.first_customer_text()))


def phrasing(t: Ticket, limit: int = 160) -> str:
    """What the customer wrote, quotes and signature removed, one line, for people to read."""
    text = " ".join((strip_quoted(t.first_customer_text()) or t.subject or "").split())
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


def tag_labels(history: Sequence[Ticket]) -> list[Optional[str]]:
    """Without an intents file: the explicit intent, else the first tag that names a topic (routing,
    channel and VIP tags, and tags on over 40% of tickets, name none), read as the intent that the tickets
    carrying both mostly have ("order_status" tickets labelled track_order are track_order tickets)."""
    share = Counter(tag for t in history for tag in set(t.tags))
    common = {tag for tag, n in share.items() if n > 0.4 * len(history)} if len(history) >= 20 else set()

    def topical(tag: str) -> bool:
        return bool(tag) and not _GENERIC_TAG.match(tag) and tag not in MISTAKE_TAGS and tag not in common

    first = [next((g for g in t.tags if topical(g)), None) for t in history]
    both = Counter((tag, t.intent) for tag, t in zip(first, history) if tag and t.intent)
    seen = Counter(tag for tag, t in zip(first, history) if tag and t.intent)
    as_intent = {tag: intent for (tag, intent), n in both.most_common() if n >= 0.5 * seen[tag]}
    return [t.intent or (as_intent.get(tag, tag) if tag else None) for tag, t in zip(first, history)]


def ages_of(history: Sequence[Ticket]) -> tuple[np.ndarray, Optional[datetime]]:
    """Days before "now" (the newest ticket) per ticket, NaN where created_at does not parse."""
    stamps = [parse_time(t.created_at) for t in history]
    known = [s for s in stamps if s is not None]
    if not known:
        return np.full(len(history), np.nan), None
    now = max(known)
    return np.array([(now - s).total_seconds() / 86400 if s else np.nan for s in stamps]), now


def week_labels(now: Optional[datetime]) -> list[str]:
    if now is None:
        return []
    return [(now - timedelta(days=7 * (w + 1))).strftime("%Y-%m-%d") for w in reversed(range(WEEKS))]


def weekly(ages: np.ndarray) -> list[int]:
    """Tickets per 7-day window ending at now, oldest first."""
    w = np.floor(ages[~np.isnan(ages)] / 7).astype(int)
    return [int(x) for x in np.bincount(WEEKS - 1 - w[w < WEEKS], minlength=WEEKS)]


def trend(ages: np.ndarray, span: float) -> dict:
    """Last 30 days against the 60 before them, as daily rates (the span of the history limits the latter).
    Rising or falling only when the change is large and unlikely by chance (one-sided binomial test): a
    type of 30 tickets easily has 7 in one week and 2 in the next."""
    a = ages[~np.isnan(ages)]
    last, prev = int((a < 30).sum()), int(((a >= 30) & (a < 90)).sum())
    prev_days = min(60.0, span - 30)
    out = {"last_30": last, "prev_60": prev, "change": None, "direction": "flat"}
    if prev_days < 14:
        return out
    if prev == 0:
        out["direction"] = "new" if last >= checks.RECENT_MIN else "flat"
        return out
    ratio = (last / 30) / (prev / prev_days)
    out["change"] = round(ratio - 1, 3)
    expected = 30 / (30 + prev_days)  # share of the tickets the last 30 days get when nothing changes
    if ratio >= RISING and last >= checks.RECENT_MIN and \
            binomtest(last, last + prev, expected, alternative="greater").pvalue < TREND_P:
        out["direction"] = "rising"
    elif ratio <= FALLING and prev >= checks.RECENT_MIN and \
            binomtest(last, last + prev, expected, alternative="less").pvalue < TREND_P:
        out["direction"] = "falling"
    return out


_CATEGORY_WORDS = (  # first match wins; the guess is marked for review wherever it is used
    ("escalation-required", r"\b(?:complain|complaint|human|person\b|operator|lawyer|legal|fraud|chargeback"
                            r"|dispute|reclamation|manager|agents?\b)"),
    ("billing-account", r"\b(?:refund|invoice|payment|billing|bills?\b|charge|fees?\b|price|plans?\b|gift"
                        r"|balance|money|reimburs|compensation|cards?\b|delete.{0,20}account"
                        r"|account.{0,20}(?:deletion|removal|closure))"),
    ("troubleshooting", r"\b(?:error|problem|issue|not working|doesn.?t work|can.?t|cannot|fail|broken|bug|crash"
                        r"|declin|invalid|wrong|lost)"),
)
_TRANSACTIONAL = re.compile(r"\b(?:cancel|change|delete|remove|close|modify|switch|edit|update|refund me|get.refund"
                            r"|money back|return|unsubscribe|complain|human|agent|operator|redeem|apply)", re.I)


def guess_category(text: str) -> str:
    for cat, words in _CATEGORY_WORDS:
        if re.search(words, text, re.I):
            return cat
    return "how-to"


def guess_kind(text: str) -> str:
    return "transactional" if _TRANSACTIONAL.search(text) else "informational"


# --- retrieval per type ---------------------------------------------------------------------------------

def article_scores(index: ArticleIndex, texts: Sequence[str]) -> dict[str, float]:
    """Per published article, its best section's cosine with the centroid of `texts` (one query)."""
    if index._vectorizer is None or not texts:
        return {}
    q = index._vectorizer.transform(list(texts))
    if q.nnz == 0:
        return {}
    centroid = normalize(np.asarray(q.mean(axis=0)))
    sims = np.asarray(index._matrix @ centroid.T).ravel()
    out: dict[str, float] = {}
    for s, v in zip(index.sections, sims):
        out[s.article_id] = max(out.get(s.article_id, 0.0), round(float(v), 4))
    return out


# --- the audit ------------------------------------------------------------------------------------------

def audit_records(history: Sequence[Ticket], articles: Sequence[Article], config: Optional[IntentsConfig] = None,
                  model: Optional[IntentModel] = None, stale_days: int = STALE_DAYS, top: int = TOP) -> dict:
    """The audit report (see the module docstring); JSON-ready."""
    return analyse(history, articles, config, model, stale_days, top)[0]


def analyse(history: Sequence[Ticket], articles: Sequence[Article], config: Optional[IntentsConfig] = None,
            model: Optional[IntentModel] = None, stale_days: int = STALE_DAYS, top: int = TOP) -> tuple[dict, dict]:
    """(report, working state): the state (labels, texts, members, index) serves --suggest-intents."""
    if not history:
        raise BadInput("history: no tickets to audit")
    if stale_days < 1 or top < 1:
        raise BadInput("--stale-days and --top must be at least 1")
    ages, now = ages_of(history)
    span = float(np.nanmax(ages)) if now is not None else 0.0
    intents = config.by_name() if config else {}
    texts = LazyTexts(history)
    labels, source = label_history(history, config, model)
    types, members = rank_types(labels, source, ages, span, intents, texts)

    # step 1: the verdicts of the top types
    index = ArticleIndex(articles)
    texts_of = {a.id: checks.ArticleText.of(a) for a in articles if not a.draft}
    contra = find_contradictions(articles, config, texts_of)
    audited = [audit_type(t, intents.get(t["type"]), members[t["type"]], history, texts, index, texts_of,
                          {a.id for a in articles}, contra, now, stale_days) for t in types[:max(top, COVERAGE_TOP)]]
    by_type = {a["type"]: a for a in audited}
    for t in types:
        t["verdict"] = by_type[t["type"]]["verdict"] if t["type"] in by_type else None

    # step 2: coverage and flows
    top10 = [t["type"] for t in types[:COVERAGE_TOP]]
    flows = checks.flow_checks(config.intents if config else (), top10, set(index.articles))
    if config is None:
        flows["reason"] = "no intents file: no ticket type has an intent, a resolution path or an escalation rule"
        flows["confusions"] = {"source": None, "checked": 0, "accuracy": None, "pairs": [],
                               "reason": "no intents file"}
    else:
        lab = [i for i, (s, t) in enumerate(zip(source, history)) if s == "label" and not quality_reason(t)]
        lab = [lab[i] for i in sample_index(len(lab), checks.MODEL_CONFUSION_MAX if model else checks.CV_MAX)]
        flows["confusions"] = checks.confusions([ticket_text(history[i]) if model else texts[i] for i in lab],
                                                [labels[i] for i in lab], model)
        flows["ok"] = flows["ok"] and not flows["confusions"]["pairs"]

    clusters = cluster_unlabelled(history, texts, labels, source, ages, span)
    state = {"labels": labels, "texts": texts, "members": members, "index": index,
             "cluster_members": [c.pop("members") for c in clusters["candidates"]]}
    report = {
        "now": iso(now) if now else None,
        "window": {"from": iso(now - timedelta(days=span)) if now else None, "to": iso(now) if now else None,
                   "days": round(span, 1), "weeks": week_labels(now)},
        "settings": {"stale_days": stale_days, "top": top, "coverage_top": COVERAGE_TOP,
                     "min_article_score": MIN_TYPE_SCORE, "recent_days": checks.RECENT_DAYS,
                     "drift_min_share": checks.DRIFT_MIN_SHARE, "confusion_rate": checks.CONFUSION_RATE,
                     "model": model is not None, "intents": config is not None},
        "tickets": {"total": len(history), "labelled": source.count("label"), "predicted": source.count("model"),
                    "unlabelled": source.count(None), "articles": len(index.articles)},
        "types": types,
        "audit": audited[:top] + [a for a in audited[top:] if a["type"] in top10],
        "contradictions": list(contra.values()),
        "coverage": coverage_of(top10, by_type, flows),
        "categories": categories_of(types, by_type, len(history)),
        "flows": flows,
        "clusters": clusters,
    }
    return report, state


def label_history(history: Sequence[Ticket], config: Optional[IntentsConfig],
                  model: Optional[IntentModel]) -> tuple[list[Optional[str]], list[Optional[str]]]:
    """(label, source) per ticket; source "label" (intent or tag), "model", or None for unlabelled."""
    if config:
        tag_map = {tag: i.name for i in config.intents for tag in i.tags}
        labels = [label_of(t, {i.name for i in config.intents}, tag_map) for t in history]
    else:
        labels = tag_labels(history)
    source = ["label" if lab else None for lab in labels]
    unl = [i for i, lab in enumerate(labels) if lab is None]
    if model is not None and unl:  # one batch predict over the unlabelled, the model's own text cleaning
        probs = model.probabilities([ticket_text(history[i]) for i in unl])
        best, conf = probs.argmax(axis=1), probs.max(axis=1)
        thr = np.array([model.threshold(c) for c in model.classes])
        for i, b, ok in zip(unl, best, conf >= thr[best]):
            if ok:
                labels[i], source[i] = str(model.classes[b]), "model"
    return labels, source


def rank_types(labels, source, ages: np.ndarray, span: float, intents: dict, texts: LazyTexts):
    """Types by volume with share, weekly counts and trend; and each type's ticket indices."""
    labels_arr = np.array([lab or "" for lab in labels], dtype=object)
    source_arr = np.array([x or "" for x in source], dtype=object)
    counts = Counter(lab for lab in labels if lab)
    order = sorted(counts, key=lambda k: (-counts[k], k))
    members = {name: np.nonzero(labels_arr == name)[0] for name in order}
    types = []
    for rank, name in enumerate(order, start=1):
        mine = members[name]
        it = intents.get(name)
        cat = it.category if it else guess_category(name + " " + " ".join(texts[i] for i in mine[:50]))
        types.append({"rank": rank, "type": name, "tickets": counts[name],
                      "labelled": int((source_arr[mine] == "label").sum()),
                      "predicted": int((source_arr[mine] == "model").sum()),
                      "share": round(counts[name] / len(labels), 4), "intent": name if it else None,
                      "category": cat, "kind": it.kind if it else guess_kind(name),
                      "weekly": weekly(ages[mine]), **trend(ages[mine], span)})
    return types, members


def find_contradictions(articles: Sequence[Article], config: Optional[IntentsConfig], texts_of: dict) -> dict:
    out = {}
    for (a, b), why in checks.same_task_pairs(articles, config.intents if config else ()).items():
        diffs = checks.contradictions(texts_of[a], texts_of[b])
        if diffs:
            out[(a, b)] = {"a": a, "a_title": texts_of[a].title, "b": b, "b_title": texts_of[b].title,
                           "why_compared": why, "differences": diffs}
    return out


def coverage_of(top10: list[str], by_type: dict, flows: dict) -> dict:
    """The method's "done" for step 1: every top-10 type has accurate documentation or escalates."""
    failing = []
    for name in top10:
        a = by_type[name]
        if a["verdict"] != "ok":
            failing.append({"type": name, "rank": a["rank"], "verdict": a["verdict"], "reason": a["evidence"][0]})
        elif name in flows["unmapped"]:
            failing.append({"type": name, "rank": a["rank"], "verdict": "no intent", "reason": "no intent"})
        elif name in flows["no_resolution_path"]:
            failing.append({"type": name, "rank": a["rank"], "verdict": "no resolution path",
                            "reason": "the intent names no article and does not escalate"})
    return {"top": len(top10), "covered": bool(top10) and not failing, "failing": failing,
            "summary": coverage_summary(top10, failing)}


def categories_of(types: list[dict], by_type: dict, total: int) -> dict:
    out = {}
    for cat in CATEGORIES:
        mine = [t for t in types if t["category"] == cat]
        verdicts = Counter(by_type[t["type"]]["verdict"] for t in mine if t["type"] in by_type)
        out[cat] = {"types": len(mine), "tickets": sum(t["tickets"] for t in mine),
                    "share": round(sum(t["tickets"] for t in mine) / total, 4),
                    "verdicts": {v: verdicts[v] for v in reversed(VERDICT_ORDER) if verdicts[v]}}
    return out


def coverage_summary(top10: list[str], failing: list[dict]) -> str:
    if not top10:
        return "no ticket type could be ranked: nothing is labelled"
    if not failing:
        return f"every one of the top {len(top10)} ticket types has current, consistent documentation or an " \
               "escalation rule behind it"
    names = ", ".join(f"{f['type']} ({f['verdict']})" for f in failing)
    return f"{len(failing)} of the top {len(top10)} ticket types lack accurate documentation: {names}"


def audit_type(t: dict, intent, idx: np.ndarray, history: Sequence[Ticket], texts: "LazyTexts",
               index: ArticleIndex, texts_of: dict, all_ids: set[str], contra: dict, now, stale_days: int) -> dict:
    """The verdict and its evidence for one ticket type (`idx`: its tickets in `history`)."""
    sample = idx[sample_index(len(idx), TYPE_SAMPLE)]
    scores = article_scores(index, [texts[i] for i in sample])
    findings: list[tuple[str, str]] = []
    arts, resolution = [], None
    named = list(dict.fromkeys(intent.articles)) if intent else []
    for aid in named:
        if aid in texts_of:
            arts.append({"id": aid, "title": texts_of[aid].title, "updated_at": texts_of[aid].updated_at,
                         "source": "intents", "score": scores.get(aid, 0.0)})
        else:
            findings.append(("missing", f"the intent names article {aid}, which is "
                             + ("a draft" if aid in all_ids else "not in the synced articles")))
    best = max(scores.items(), key=lambda kv: kv[1], default=(None, 0.0))
    if arts:
        resolution = "articles"
    elif intent is not None and intent.escalate:
        resolution = "escalate"
        findings.append(("ok", f"no article needed: intent {intent.name} always escalates"
                               f"{' to ' + intent.group if intent.group else ''}"))
    elif best[0] is not None and best[1] >= MIN_TYPE_SCORE:
        arts.append({"id": best[0], "title": texts_of[best[0]].title, "updated_at": texts_of[best[0]].updated_at,
                     "source": "retrieval", "score": best[1]})
        resolution = "articles"
    else:
        closest = f"; the closest, {best[0]} '{texts_of[best[0]].title}', scores {best[1]:.2f} < {MIN_TYPE_SCORE}" \
            if best[0] else ""
        findings.insert(0, ("missing", "no article covers it: "
                            + ("the intent names none" if intent is not None else "no intent names one")
                            + closest))
    ids = [a["id"] for a in arts]
    stale = [s for s in (checks.staleness(texts_of[i], now, t["last_30"], stale_days) for i in ids) if s]
    findings += [("outdated", s["why"]) for s in stale]
    good = [tk for tk in (history[i] for i in sample) if not quality_reason(tk)]
    drift = checks.drift(good, [texts_of[i] for i in ids]) if ids else {"answered": 0, "terms": [], "note_tickets": 0,
                                                                         "article_paths_unused": [], "notes": []}
    for d in drift["terms"]:
        said = f"{d['term']}\" in {d['tickets']} of {drift['answered']} answered tickets ({d['share']:.0%})"
        if d["kind"] == "quantity":
            findings.append(("outdated", f"agents' replies say \"{said}; article {d['article']} says "
                                         f"\"{d['article_says']}\": \"{d['article_line']}\""))
        else:
            instead = f"; it has \"{d['article_says']}\" instead" if d.get("article_says") else ""
            findings.append(("outdated", f"agents' replies say \"{said}, which article{'s' if len(ids) > 1 else ''} "
                                         f"{', '.join(ids)} {'do' if len(ids) > 1 else 'does'} not have{instead}"))
    if drift["note_tickets"] >= checks.RECENT_MIN:  # worth reading, but which article a note means is a guess
        findings.append(("note", f"{drift['note_tickets']} tickets have internal notes saying an article is wrong, "
                                 f"e.g. \"{drift['notes'][0][0][:160]}\""))
    mine = [c for (a, b), c in contra.items() if a in ids or b in ids]
    for c in mine:
        d = c["differences"][0]
        findings.append(("contradictory", f"{c['a']} '{c['a_title']}' and {c['b']} '{c['b_title']}' differ: "
                                          f"{d['a_value']} vs {d['b_value']}"))
    verdict = next((v for v in VERDICT_ORDER if any(f[0] == v for f in findings)), "ok")
    evidence = [why for v in VERDICT_ORDER for f, why in findings if f == v]
    if not evidence:
        evidence = [f"current and consistent: {', '.join(ids)}"]
    evidence += [why for f, why in findings if f == "note"]
    return {"rank": t["rank"], "type": t["type"], "tickets": t["tickets"], "category": t["category"],
            "kind": t["kind"], "intent": intent.name if intent else None, "resolution": resolution,
            "verdict": verdict, "evidence": evidence, "articles": arts,
            "best_match": {"id": best[0], "score": best[1]} if best[0] else None,
            "stale": stale, "drift": drift, "contradictions": mine}


def cluster_unlabelled(history, texts, labels, source, ages, span) -> dict:
    """Candidate new types from the tickets nothing labels (nor the model, when given)."""
    lab_idx = [i for i, lab in enumerate(labels) if lab]
    unl = [i for i, lab in enumerate(labels) if not lab]
    fit_idx = [lab_idx[i] for i in sample_index(len(lab_idx), KNOWN_SAMPLE)]
    known = nearest_known([texts[i] for i in fit_idx], [labels[i] for i in fit_idx], [texts[i] for i in unl]) \
        if "model" not in source else [None] * len(unl)
    rest = [i for i, k in zip(unl, known) if k is None]
    result = cluster_texts([texts[i] for i in rest])
    candidates = []
    for cl in result.clusters:
        members = [rest[j] for j in cl.members]
        tags = Counter(g for i in members for g in history[i].tags if not _GENERIC_TAG.match(g))
        a = ages[members]
        tr = trend(a, span)
        candidates.append({
            "name": cl.name, "terms": cl.terms, "tickets": len(members),
            "share_of_unlabelled": round(len(members) / max(1, len(unl)), 4),
            "tags": tags.most_common(3), "weekly": weekly(a), **tr,
            "growing": tr["direction"] in ("rising", "new"),
            "examples": [{"id": history[rest[j]].id, "subject": history[rest[j]].subject,
                          "text": phrasing(history[rest[j]])} for j in cl.examples],
            "members": members,
        })
    return {"unlabelled": len(unl), "look_known": dict(Counter(k for k in known if k).most_common()),
            "clustered": len(rest), "k": result.k, "silhouette": result.silhouette, "reason": result.reason,
            "candidates": candidates}


# --- suggest-intents ------------------------------------------------------------------------------------

def _phrasings(history: Sequence[Ticket], idx: Sequence[int], want: int = 5) -> list[str]:
    """Real customer phrasings, distinct, leaving out those with identifiers (orders, e-mails, amounts)."""
    out, seen = [], set()
    for i in idx:
        p = phrasing(history[i])
        key = " ".join(re.findall(r"[a-z]+", p.lower()))
        if len(key) >= 8 and key not in seen and redact(p, None) == p:
            seen.add(key)
            out.append(p)
            if len(out) == want:
                break
    return out


def _snake(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "type"


def suggest_intents(history: Sequence[Ticket], report: dict, state: dict, config: Optional[IntentsConfig]) -> str:
    """A starter intents file (YAML valid for parse_intents) from the history, every entry marked for review."""
    index: ArticleIndex = state["index"]
    published = set(index.articles)
    existing = config.by_name() if config else {}
    claimed = {tag for it in existing.values() for tag in it.tags}
    used: set[str] = set(existing)
    entries: list[tuple[str, dict]] = []

    def guessed(name: str, idx: Sequence[int], why: str) -> tuple[str, dict]:
        base = name = _snake(name)
        n = 2
        while name in used:
            name, n = f"{base}_{n}", n + 1
        used.add(name)
        examples = _phrasings(history, idx)
        blob = " ".join([name.replace("_", " ")] + examples)
        tags = Counter(g for i in idx for g in history[i].tags if not _GENERIC_TAG.match(g) and g not in MISTAKE_TAGS)
        tag = next((g for g, c in tags.most_common(1) if c >= 0.5 * len(idx) and g not in claimed), None)
        if tag:
            claimed.add(tag)
        scores = article_scores(index, [state["texts"][i] for i in list(idx)[:TYPE_SAMPLE]])
        best = max(scores.items(), key=lambda kv: kv[1], default=(None, 0.0))
        category = guess_category(blob)
        entry = {"name": name, "description": f"TODO: what the customer wants ({len(idx)} tickets in the history)",
                 "kind": guess_kind(blob), "category": category, "tags": [tag] if tag else [],
                 "examples": examples, "articles": [best[0]] if best[1] >= MIN_TYPE_SCORE else [],
                 "escalate": category == "escalation-required", "priority": "normal"}
        note = f"{why}; kind, category, tags and articles are guesses" + \
            ("" if entry["articles"] else "; no article matches: write one or set escalate")
        return note, entry

    for t in report["types"]:
        idx = state["members"][t["type"]]
        it = existing.get(t["type"])
        if it is None:
            entries.append(guessed(t["type"], idx, f"from {t['tickets']} tickets labelled {t['type']!r}"))
            continue
        real = [p for p in _phrasings(history, idx, 8) if p not in it.examples][:max(0, 8 - len(it.examples))]
        entry = {"name": it.name, "description": it.description or "TODO: what the customer wants", "kind": it.kind,
                 "category": it.category, "tags": list(it.tags), "examples": list(it.examples) + real,
                 "articles": [a for a in it.articles if a in published], "ask": it.ask, "escalate": it.escalate,
                 "priority": it.priority, "group": it.group}
        dropped = [a for a in it.articles if a not in published]
        entries.append((f"existing intent, {t['tickets']} tickets; {len(real)} real phrasings added to its examples"
                        + (f"; dropped unpublished articles {', '.join(dropped)}" if dropped else ""),
                        {k: v for k, v in entry.items() if v is not None}))
    for name, it in existing.items():
        if not any(e["name"] == name for _, e in entries):
            entries.append(("existing intent with no ticket in this history",
                            {"name": it.name, "kind": it.kind, "category": it.category, "tags": list(it.tags),
                             "examples": list(it.examples), "articles": [a for a in it.articles if a in published],
                             "escalate": it.escalate, "priority": it.priority}))
    for cand, idx in zip(report["clusters"]["candidates"], state["cluster_members"]):
        entries.append(guessed(cand["name"], idx, f"candidate new type: {cand['tickets']} unlabelled tickets, "
                                                  f"{cand['direction']} ({cand['last_30']} in the last 30 days); "
                                                  f"top terms {', '.join(cand['terms'][:4])}"))
    policy = asdict(config.policy if config else Policy())
    policy["vip_plans"] = list(policy["vip_plans"])
    w = report["window"]
    head = [f"# REVIEW: starter intents written by `bot audit --suggest-intents` from {len(history)} tickets "
            f"({(w['from'] or '?')[:10]} to {(w['to'] or '?')[:10]}).",
            "# REVIEW: every entry is a draft: check names, descriptions (TODO), kind, category, tags, the",
            "# REVIEW: examples (real customer phrasings: remove anything personal), articles and escalation.",
            "# REVIEW: delete these REVIEW lines once checked."]
    parts = ["\n".join(head), yaml.safe_dump({"policy": policy}, sort_keys=False).rstrip(), "intents:"]
    for note, entry in entries:
        parts.append(f"# REVIEW: {note}\n" + yaml.safe_dump([entry], sort_keys=False, allow_unicode=True,
                                                            width=110).rstrip())
    text = "\n".join(parts) + "\n"
    parse_intents(yaml.safe_load(text), "suggested intents", published)  # what we write must load
    return text


# --- files ----------------------------------------------------------------------------------------------

def run_audit(history_path, articles_path, intents_path=None, model_dir=None, stale_days: int = STALE_DAYS,
              top: int = TOP, suggest_path=None) -> dict:
    """Read the files, audit, and write the starter intents file when asked."""
    history = read_history(history_path)
    articles = read_articles(articles_path)
    config = read_intents(intents_path) if intents_path else None
    model = None
    if model_dir:
        if config is None:
            raise BadInput("--model needs --intents: the model's intents are the ticket types")
        from bot.model_store import load_model
        model, _ = load_model(model_dir, config)
    report, state = analyse(history, articles, config, model, stale_days, top)
    report["inputs"] = {"history": str(history_path), "articles": str(articles_path),
                        "intents": str(intents_path) if intents_path else None,
                        "model": str(model_dir) if model_dir else None}
    if suggest_path:
        text = suggest_intents(history, report, state, config)
        write_atomic(suggest_path, text)
        report["suggested_intents"] = {"file": str(suggest_path), "intents": text.count("\n- name: ")}
    return report


def run_audit_files(history_path, articles_path, intents_path, out_dir) -> dict:
    """The audit as `bot demo` writes it: audit.txt, audit.json, audit.html and a starter intents file."""
    from bot.reports.audit_render import render_html, render_text
    out = Path(out_dir)
    report = run_audit(history_path, articles_path, intents_path, suggest_path=out / "intents-suggested.yaml")
    write_atomic(out / "audit.json", json.dumps(report, indent=2, ensure_ascii=False, default=str) + "\n")
    write_atomic(out / "audit.txt", render_text(report) + "\n")
    write_atomic(out / "audit.html", render_html(report))
    report["files"] = ["audit.txt", "audit.json", "audit.html", "intents-suggested.yaml"]
    return report
