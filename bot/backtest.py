"""`bot backtest`: what the bot would have done on the newest weeks of history, trained only on the older ones.

The history is cut by `created_at`: tickets created before the cut train a fresh model with the training code
of `bot train` (quality filter, held-out calibration, refit), the newest `weeks` are replayed as they
arrived (`arrival_view`) through `Brain.decide`. Because the backtest trains its own model, nothing the
MODEL directory saw can leak into the figures; MODEL is what `--apply` updates and what the report names.

What the agents did is the yardstick: the intent their tags (or the explicit label) say, the article a
public agent reply linked, and tags no intent claims (a topic the bot has no intent for: any answer there is
wrong). Per intent the report gives the share of its tickets the bot would have answered, clarified and
escalated (with the escalation reasons counted), the precision of the answers given as that intent, and the
threshold that reaches the policy's `target_precision` on the replayed weeks.

Predictions are made in batches (one `predict_many` per few thousand tickets) and handed to the brain
through a lookup, so each decision runs the brain's own policy, retrieval and wording code unchanged
without a model call of its own.
"""
from __future__ import annotations

import re
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable, Optional, Sequence

import numpy as np

from bot.brain.articles import ArticleIndex
from bot.brain.classifier import MIN_CONFIDENCE, MIN_SUPPORT, IntentModel, precision_threshold
from bot.brain.decide import Brain
from bot.brain.records import Article, Decision, IntentsConfig, Prediction, Ticket
from bot.errors import BadInput
from bot.replay import arrival_view
from bot.timeutil import iso, parse_time
from bot.training import MISTAKE_TAGS, build_training_set, fit_model, label_of, quality_reason

BATCH = 4096
OTHER_TOPIC = "_other_topic"  # agents tagged a topic that no intent claims: out of the bot's scope
UNKNOWN = "_unlabelled"  # no label and no topic tag: what the agents thought is not known
PSEUDO = (OTHER_TOPIC, UNKNOWN)

# Reasons the brain writes (bot/brain/policy.py, decide.py), reduced to stable keys for counting.
REASON_KINDS = (
    ("negative_sentiment", re.compile(r"^negative sentiment")),
    ("max_attempts", re.compile(r"bot answers already on this ticket")),
    ("vip", re.compile(r"^requester\b.*\bVIP\b|\bis VIP$")),
    ("asked_for_human", re.compile(r"^customer asked for a person")),
    ("intent_always_escalates", re.compile(r"always escalates$")),
    ("transactional_needs_human", re.compile(r"^transactional intent .* needs a human")),
    ("no_article", re.compile(r"^no help-center section answers")),
    ("out_of_scope_after_question", re.compile(r"^out of scope after a clarifying question")),
)
ARTICLE_REF = re.compile(r"/articles/(\d+)|\b(\d{5,})\b")


def reason_kind(reason: str) -> str:
    for key, rx in REASON_KINDS:
        if rx.search(reason):
            return key
    return re.sub(r"[-\d.]+", "#", reason)[:60]


def is_meta_tag(tag: str) -> bool:
    """Tags that say how a ticket came in or was handled, not what it is about."""
    t = tag.lower()
    return (t in MISTAKE_TAGS or t == "vip" or t.startswith(("channel_", "bot_", "intent_", "via_"))
            or t in {"reopened", "escalated", "urgent", "spam"})


def topic_tags(t: Ticket, claimed: set[str]) -> list[str]:
    return [x for x in t.tags if x not in claimed and not is_meta_tag(x)]


def truth_of(t: Ticket, names: set[str], tag_map: dict[str, str]) -> Optional[str]:
    """The agents' verdict: an intent name, OTHER_TOPIC (a topic no intent claims) or None (unknown)."""
    label = label_of(t, names, tag_map)
    if label is not None:
        return label
    if t.intent and t.intent not in names:
        return OTHER_TOPIC  # labelled by the team with an intent the bot does not have
    return OTHER_TOPIC if topic_tags(t, set(tag_map)) else None


def agents_article(t: Ticket, known: dict[str, Article]) -> Optional[str]:
    """The help-center article a public agent reply linked (by its URL or its id), if any."""
    urls = {a.url.rstrip("/"): a.id for a in known.values() if a.url}
    for m in t.messages:
        if m.author != "agent" or not m.public:
            continue
        for url, aid in urls.items():
            if url and url in m.body:
                return aid
        for a, b in ARTICLE_REF.findall(m.body):
            if (a or b) in known:
                return a or b
    return None


# --- the time split ------------------------------------------------------------------------------------

@dataclass
class Split:
    train: list[Ticket]
    replay: list[Ticket]
    cut: datetime
    undated: int
    dropped_duplicates: int  # ids in both parts (a re-synced ticket): kept only in the replay


def split_by_time(history: Sequence[Ticket], weeks: int) -> Split:
    if weeks < 1:
        raise BadInput(f"--weeks: must be 1 or more, not {weeks}")
    stamped = [(parse_time(t.created_at), t) for t in history]
    dated = [(s, t) for s, t in stamped if s is not None]
    if not dated:
        raise BadInput("history: no ticket has a readable created_at")
    cut = max(s for s, _ in dated) - timedelta(days=7 * weeks)
    replay = [t for s, t in dated if s >= cut]
    replay_ids = {t.id for t in replay}
    older = [t for s, t in dated if s < cut]
    train = [t for t in older if t.id not in replay_ids]
    first = min(s for s, _ in dated)
    if not train:
        days = (max(s for s, _ in dated) - first).days
        raise BadInput(f"history: covers {days} days; --weeks {weeks} leaves no older tickets to train on")
    return Split(train, replay, cut, len(stamped) - len(dated), len(older) - len(train))


# --- replay ------------------------------------------------------------------------------------------

class _Predicted:
    """An IntentModel stand-in that answers from predictions made in batches (same objects, same order)."""

    def __init__(self, model: IntentModel, cache: dict[str, Prediction]):
        self._model, self._cache = model, cache

    def predict(self, text: str) -> Prediction:
        p = self._cache.get(text)
        return p if p is not None else self._model.predict(text)

    def __getattr__(self, name):
        return getattr(self._model, name)


class _Searched:
    """An ArticleIndex stand-in that answers from searches made in one batch; anything not in the batch
    (a query the brain builds differently one day) goes to the real index, so it can be slower, never wrong."""

    def __init__(self, index: ArticleIndex, cache: dict):
        self._index, self._cache = index, cache

    def search(self, query, article_ids=(), page_url=None, min_score=None):
        key = (query, tuple(article_ids), page_url)
        if min_score is None and key in self._cache:
            return self._cache[key]
        return self._index.search(query, article_ids, page_url, min_score)

    def __getattr__(self, name):
        return getattr(self._index, name)


def decide_all(brain: Brain, tickets: Sequence[Ticket], progress: Callable[[str], None] = lambda m: None
               ) -> list[Decision]:
    """Decisions for arrival views of `tickets`, identical to brain.decide one by one, with the model's
    predictions and the article searches made in batches."""
    views = [arrival_view(t) for t in tickets]
    texts = [brain.text_of(v) for v in views]
    unique = list(dict.fromkeys(texts))
    cache: dict[str, Prediction] = {}
    for i in range(0, len(unique), BATCH):
        chunk = unique[i:i + BATCH]
        cache.update(zip(chunk, brain.model.predict_many(chunk)))
    requests = []
    for v, text in zip(views, texts):  # the searches Brain.decide will make
        p = cache[text]
        intent = brain.intents.get(p.intent)
        if intent is not None and not p.out_of_scope:
            requests.append(brain.retrieval_request(v, intent))
    progress(f"searching articles for {len(requests)} tickets")
    unique_requests = list(dict.fromkeys(requests))
    hits = dict(zip(unique_requests, brain.index.search_many(unique_requests)))
    fast = Brain(_Predicted(brain.model, cache), brain.config, _Searched(brain.index, hits), brain.model_version)
    out = []
    for n, v in enumerate(views, 1):
        out.append(fast.decide(v, mode="shadow"))
        if n % 2000 == 0:
            progress(f"replayed {n}/{len(views)}")
    return out


# --- figures -----------------------------------------------------------------------------------------

def _ratio(a: float, b: float) -> Optional[float]:
    return round(a / b, 4) if b else None


@dataclass
class _Row:
    tickets: int = 0
    actions: Counter = field(default_factory=Counter)
    reasons: Counter = field(default_factory=Counter)
    answered_right: int = 0  # its tickets answered with this intent
    answers: int = 0  # answers the bot gave as this intent
    judged: int = 0
    right: int = 0
    to_other_topic: int = 0  # answers given as this intent on tickets of a topic no intent claims
    article_checked: int = 0
    article_agree: int = 0


def _row_json(r: _Row) -> dict:
    n = r.tickets
    return {
        "tickets": n,
        "answered": r.actions["answer"], "answered_share": _ratio(r.actions["answer"], n),
        "answered_right_share": _ratio(r.answered_right, n),
        "clarify_share": _ratio(r.actions["clarify"], n),
        "escalated": r.actions["escalate"], "escalate_share": _ratio(r.actions["escalate"], n),
        "escalation_reasons": dict(r.reasons.most_common()),
        "answers": r.answers, "judged": r.judged, "precision": _ratio(r.right, r.judged),
        "answers_on_other_topics": r.to_other_topic,
        "article": {"checked": r.article_checked, "agree": r.article_agree,
                    "agreement": _ratio(r.article_agree, r.article_checked)},
    }


def summarise(decisions: Sequence[Decision], truths: Sequence[Optional[str]],
              agent_articles: Sequence[Optional[str]], intent_names: Sequence[str]) -> tuple[dict, dict]:
    """(overall, by_intent): rows by the agents' verdict for shares, by the bot's intent for precision."""
    rows: dict[str, _Row] = {name: _Row() for name in intent_names}
    total = _Row()
    for d, truth, linked in zip(decisions, truths, agent_articles):
        key = truth if truth is not None else UNKNOWN
        for r in (rows.setdefault(key, _Row()), total):
            r.tickets += 1
            r.actions[d.action] += 1
            if d.action == "escalate":
                r.reasons.update({reason_kind(x) for x in d.reasons})
            if d.action == "answer" and d.intent == truth:
                r.answered_right += 1
        if d.action != "answer":
            continue
        for r in (rows.setdefault(d.intent, _Row()), total):
            r.answers += 1
            if truth is not None:
                r.judged += 1
                r.right += d.intent == truth
                r.to_other_topic += truth == OTHER_TOPIC
            if linked is not None and d.article is not None:
                r.article_checked += 1
                r.article_agree += d.article.id == linked
    by_intent = {k: _row_json(v) for k, v in rows.items() if v.tickets or v.answers or k in intent_names}
    order = sorted(by_intent, key=lambda k: (k in PSEUDO, -by_intent[k]["tickets"], k))
    return _row_json(total), {k: by_intent[k] for k in order}


def suggest_thresholds(decisions: Sequence[Decision], truths: Sequence[Optional[str]], target: float,
                       replay_model: IntentModel, current: dict[str, float], current_default: float) -> dict:
    """Per intent the bot predicted: the confidence threshold that reaches `target` on the replayed weeks.

    Judged on the tickets whose truth is known (an intent, or a topic no intent claims, which is always
    wrong), with calibration's own rule (bot.brain.classifier): too few -> no suggestion, all right -> the
    floor, never reachable -> 1.0 (never answer automatically).
    """
    out = {}
    for name in replay_model.classes:
        idx = [i for i, d in enumerate(decisions) if d.intent == name and truths[i] is not None]
        conf = np.array([decisions[i].confidence for i in idx], dtype=float)
        correct = np.array([truths[i] == name for i in idx], dtype=bool)
        now_t = replay_model.threshold(name)
        entry = {"current": round(current.get(name, current_default), 4), "replay_model": round(now_t, 4),
                 "support": len(idx), "suggested": None,
                 "precision_all": _ratio(int(correct.sum()), len(idx)),
                 "precision_at_replay_model": None, "precision_at_suggested": None,
                 "share_at_suggested": None}
        above = conf >= now_t
        if above.any():
            entry["precision_at_replay_model"] = round(float(correct[above].mean()), 4)
        if len(idx) < MIN_SUPPORT:
            entry["why"] = f"only {len(idx)} judged predictions in the replayed weeks (needs {MIN_SUPPORT})"
            out[name] = entry
            continue
        t = precision_threshold(conf, correct, target)
        if t is None:
            t = MIN_CONFIDENCE
            entry["why"] = f"all {len(idx)} judged predictions together reach {target:.0%}: the floor is enough"
        elif t >= 1.0:
            entry["why"] = f"even the most confident predictions fall short of {target:.0%}: never answer"
        else:
            entry["why"] = f"lowest confidence at which answers reach {target:.0%}"
        t = max(MIN_CONFIDENCE, float(t))
        cur = entry["current"]
        at_cur = conf >= cur
        if t > cur and at_cur.any() and correct[at_cur].mean() >= target:
            # the search stops at an observed confidence; MODEL's lower threshold already reaches the target
            t = cur
            entry["why"] = f"MODEL's threshold already reaches {target:.0%} on the replayed weeks"
        sel = conf >= t
        entry["suggested"] = round(t, 4)
        entry["share_at_suggested"] = round(float(sel.mean()), 4)
        entry["precision_at_suggested"] = round(float(correct[sel].mean()), 4) if sel.any() else None
        out[name] = entry
    return out


def quality_counts(tickets: Sequence[Ticket]) -> dict:
    c = Counter(r for r in (quality_reason(t) for t in tickets) if r)
    return {k: c.get(k, 0) for k in ("reopened", "rated_bad", "reassigned_by_mistake")}


# --- applying the thresholds -------------------------------------------------------------------------

def apply_thresholds(model_dir, config: IntentsConfig, thresholds: dict, provenance: dict) -> dict:
    """Write the suggested thresholds into MODEL, keeping its metadata; atomically (save_model's rename)."""
    from bot.model_store import load_model, now_iso, save_model

    model, meta = load_model(model_dir, config)
    changed = {}
    for name, entry in thresholds.items():
        new = entry.get("suggested")
        if new is None or name not in model.classes:
            continue
        old = model.thresholds.get(name, model.default_threshold)
        if round(old, 4) != round(new, 4):
            changed[name] = {"from": round(old, 4), "to": new}
        model.thresholds[name] = float(new)
    if not changed:  # nothing to write: the model stays as it is, version and all
        return {"model": str(model_dir), "version": meta.get("version"), "previous_version": meta.get("version"),
                "changed": {}, "unchanged": sorted(thresholds)}
    base_version = str(meta.get("version", "")).split("+t", 1)[0]
    stamp = now_iso()
    version = f"{base_version}+t{stamp.replace('-', '').replace(':', '')}"
    keep = {k: v for k, v in meta.items()
            if k not in ("thresholds", "sklearn_version", "python_version", "intents", "intents_fingerprint")}
    keep["version"] = version
    keep["thresholds_applied_from"] = {**provenance, "applied_at": stamp, "previous_version": meta.get("version"),
                                       "changed": changed}
    save_model(model_dir, model, config, meta.get("data_hash", ""), meta.get("metrics", {}), keep)
    return {"model": str(model_dir), "version": version, "previous_version": meta.get("version"),
            "changed": changed, "unchanged": sorted(n for n in thresholds if n not in changed)}


# --- the command's work ------------------------------------------------------------------------------

def run_backtest(model_dir, intents_path, articles_path, history_path, weeks: int = 2, apply: bool = False,
                 progress: Callable[[str], None] = lambda m: None) -> dict:
    from bot.files import read_articles, read_history, read_intents
    from bot.model_store import read_metadata
    from bot.training import intents_fingerprint

    started = time.perf_counter()
    meta = read_metadata(model_dir)
    articles = read_articles(articles_path)
    config = read_intents(intents_path, {a.id for a in articles})
    progress(f"reading {history_path}")
    history = read_history(history_path)
    split = split_by_time(history, weeks)
    if not split.replay:
        raise BadInput("history: no ticket in the replayed weeks")
    progress(f"training on {len(split.train)} tickets before {iso(split.cut)}")
    ts = build_training_set(split.train, config)
    model, metrics = fit_model(ts, config.policy.target_precision, progress)
    index = ArticleIndex(articles)
    brain = Brain(model, config, index, f"backtest-{iso(split.cut)}")
    progress(f"replaying {len(split.replay)} tickets")
    decisions = decide_all(brain, split.replay, progress)
    names = {i.name for i in config.intents}
    tag_map = {tag: i.name for i in config.intents for tag in i.tags}
    truths = [truth_of(t, names, tag_map) for t in split.replay]
    live = {a.id: a for a in articles if not a.draft}
    linked = [agents_article(t, live) for t in split.replay]
    overall, by_intent = summarise(decisions, truths, linked, [i.name for i in config.intents])
    target = config.policy.target_precision
    thresholds = suggest_thresholds(decisions, truths, target, model, meta.get("thresholds") or {},
                                    float(meta.get("default_threshold", MIN_CONFIDENCE)))
    for name, entry in by_intent.items():
        entry["threshold"] = thresholds.get(name)
    replay_times = [parse_time(t.created_at) for t in split.replay]
    train_times = [parse_time(t.created_at) for t in split.train]
    report = {
        "model": str(model_dir), "model_version": meta.get("version"),
        "model_matches_intents": meta.get("intents_fingerprint") == intents_fingerprint(config),
        "history": str(history_path), "tickets": len(history), "target_precision": target,
        "split": {
            "weeks": weeks, "cut": iso(split.cut), "undated": split.undated,
            "duplicate_ids_dropped_from_training": split.dropped_duplicates,
            "train": {"tickets": len(split.train), "from": iso(min(train_times)), "to": iso(max(train_times))},
            "replay": {"tickets": len(split.replay), "from": iso(min(replay_times)), "to": iso(max(replay_times))},
        },
        "training": {"labelled": ts.from_history, "unlabelled": ts.unlabelled, "examples": ts.from_examples,
                     "heldout": {k: (round(v, 4) if isinstance(v, float) else v) for k, v in metrics.items()}},
        "quality_filter": {"train": {**quality_counts(split.train), "total": sum(ts.filtered.values())},
                           "replay": {**quality_counts(split.replay),
                                      "total": sum(1 for t in split.replay if quality_reason(t))}},
        "overall": overall,
        "by_intent": by_intent,
        "thresholds": thresholds,
        "applied": None,
    }
    if apply:
        provenance = {"history": str(history_path), "weeks": weeks, "cut": iso(split.cut),
                      "replayed": len(split.replay), "target_precision": target}
        report["applied"] = apply_thresholds(model_dir, config, thresholds, provenance)
    report["seconds"] = round(time.perf_counter() - started, 1)
    report["_train_ids"] = [t.id for t in ts.tickets]  # for tests; removed by the command before printing
    return report


def public(report: dict) -> dict:
    return {k: v for k, v in report.items() if not k.startswith("_")}
