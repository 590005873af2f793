"""`bot train`: quality-filter the history, label it, fit, calibrate on held-out tickets, refit on all.

Calibration needs tickets the model did not see, so the model is fitted twice: once on 80% to fit the
temperature and thresholds on the other 20%, then on everything for the model that ships. The shipped
model is a little stronger than the calibrated one, so its thresholds err on the safe side.
"""
from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

import numpy as np
from sklearn.metrics import f1_score
from sklearn.model_selection import train_test_split

from bot.brain.classifier import IntentModel, TfidfSvmClassifier
from bot.brain.records import IntentsConfig, Ticket
from bot.brain.text import clean_for_model
from bot.errors import BadInput

# Tags a team puts on tickets that must not teach the model: the outcome was wrong, so the label may be.
MISTAKE_TAGS = frozenset({"misrouted", "reassigned_by_mistake", "wrong_group", "agent_error"})
HELDOUT_SHARE = 0.2
SEED = 13


def quality_reason(t: Ticket) -> Optional[str]:
    if t.reopened:
        return "reopened"
    if t.satisfaction == "bad":
        return "rated_bad"
    if MISTAKE_TAGS.intersection(t.tags):
        return "reassigned_by_mistake"
    return None


def label_of(t: Ticket, names: set[str], tag_map: dict[str, str]) -> Optional[str]:
    """The explicit label when it names a known intent, else the first tag an intent claims."""
    if t.intent:
        return t.intent if t.intent in names else None
    for tag in t.tags:
        if tag in tag_map:
            return tag_map[tag]
    return None


def ticket_text(t: Ticket) -> str:
    return clean_for_model(t.subject, t.first_customer_text())


@dataclass
class TrainingSet:
    texts: list[str]
    labels: list[str]
    from_history: int
    from_examples: int
    unlabelled: int
    filtered: dict[str, int] = field(default_factory=dict)
    tickets: list[Ticket] = field(default_factory=list)  # the labelled tickets, aligned with the first rows


def build_training_set(history: Sequence[Ticket], config: IntentsConfig) -> TrainingSet:
    if not history:
        raise BadInput("history: no tickets to train on")
    names = {i.name for i in config.intents}
    tag_map = {tag: i.name for i in config.intents for tag in i.tags}
    filtered: Counter = Counter()
    texts, labels, tickets, unlabelled = [], [], [], 0
    for t in history:
        reason = quality_reason(t)
        if reason:
            filtered[reason] += 1
            continue
        label = label_of(t, names, tag_map)
        if label is None:
            unlabelled += 1
            continue
        text = ticket_text(t)
        if text.strip(" ."):
            texts.append(text)
            labels.append(label)
            tickets.append(t)
    n_hist = len(texts)
    for intent in config.intents:
        for ex in intent.examples:
            texts.append(clean_for_model("", ex))
            labels.append(intent.name)
    distinct = set(labels[:n_hist])
    if n_hist == 0:
        raise BadInput("history: no ticket maps to an intent (set 'intent' or tags that an intent claims)")
    if len(distinct) < 2:
        raise BadInput(f"history: every labelled ticket has the one intent {next(iter(distinct))!r}; "
                       "training needs at least two")
    return TrainingSet(texts, labels, n_hist, len(texts) - n_hist, unlabelled, dict(filtered), tickets)


def split_heldout(labels: Sequence[str], n_history: int, share: float = HELDOUT_SHARE):
    """Indices (fit, heldout): held-out rows come from history only, stratified; examples always fit."""
    hist_idx = np.arange(n_history)
    counts = Counter(labels[:n_history])
    strat_ok = [i for i in hist_idx if counts[labels[i]] >= 2]
    rare = [i for i in hist_idx if counts[labels[i]] < 2]
    if len(strat_ok) < 10:
        raise BadInput(f"history: only {n_history} labelled tickets; calibration needs at least 10")
    n_classes = len({labels[i] for i in strat_ok})
    n_held = max(int(round(len(strat_ok) * share)), 1)
    can_stratify = n_held >= n_classes and len(strat_ok) - n_held >= n_classes
    stratify = [labels[i] for i in strat_ok] if can_stratify else None
    fit, held = train_test_split(strat_ok, test_size=n_held, random_state=SEED, stratify=stratify)
    fit = list(fit) + rare + list(range(n_history, len(labels)))
    return fit, list(held)


def fit_model(ts: TrainingSet, target_precision: float, progress: Callable[[str], None] = lambda m: None,
              C: float = 1.0) -> tuple[IntentModel, dict]:
    fit_idx, held_idx = split_heldout(ts.labels, ts.from_history)
    progress(f"fitting on {len(fit_idx)} rows, calibrating on {len(held_idx)} held-out tickets")
    t0 = time.perf_counter()
    calib = IntentModel(TfidfSvmClassifier(C=C).fit([ts.texts[i] for i in fit_idx], [ts.labels[i] for i in fit_idx]))
    held_texts, held_labels = [ts.texts[i] for i in held_idx], [ts.labels[i] for i in held_idx]
    metrics = calib.calibrate(held_texts, held_labels, target_precision)
    pred = [p.intent for p in calib.predict_many(held_texts)]
    metrics["macro_f1"] = float(f1_score(held_labels, pred, average="macro", zero_division=0))
    progress(f"held-out accuracy {metrics['accuracy']:.3f}; refitting on all {len(ts.texts)} rows")
    final = IntentModel(TfidfSvmClassifier(C=C).fit(ts.texts, ts.labels), temperature=calib.temperature,
                        thresholds=dict(calib.thresholds), default_threshold=calib.default_threshold)
    metrics["fit_seconds"] = round(time.perf_counter() - t0, 2)
    return final, metrics


def data_hash(history_bytes: bytes, config: IntentsConfig) -> str:
    h = hashlib.sha256(history_bytes)
    h.update(intents_fingerprint(config).encode())
    return h.hexdigest()


def intents_fingerprint(config: IntentsConfig) -> str:
    """What training depended on: names, tags and examples. Articles, asks, escalation and the policy can
    change without retraining (they are read at decision time), so they are not part of it."""
    payload = [(i.name, sorted(i.tags), list(i.examples)) for i in sorted(config.intents, key=lambda i: i.name)]
    return hashlib.sha256(json.dumps(payload).encode()).hexdigest()
