"""Shadow replay: past tickets through the brain as they looked when they arrived, recorded, touching nothing.

A ticket is cut back to its first customer message (what the bot would have seen), and the agents'
outcome (the intent their tags say) is kept beside the decision, so the replay tells what the bot would
have done and how often it would have been right.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Iterable

from bot.brain.decide import Brain
from bot.brain.records import Ticket
from bot.files import write_jsonl
from bot.training import label_of


def arrival_view(t: Ticket) -> Ticket:
    first = next((i for i, m in enumerate(t.messages) if m.author == "customer" and m.public), 0)
    return replace(t, messages=t.messages[: first + 1], attempts=0, status="new", solved_at=None,
                   satisfaction=None, tags=())


def replay_shadow(brain: Brain, tickets: Iterable[Ticket], db_path: Path) -> dict:
    names = set(brain.intents)
    tag_map = {tag: i.name for i in brain.config.intents for tag in i.tags}
    rows, by_action, by_intent = [], Counter(), {}
    answered = answered_known = answered_right = 0
    for t in tickets:
        d = brain.decide(arrival_view(t), mode="shadow")
        truth = label_of(t, names, tag_map)
        by_action[d.action] += 1
        stats = by_intent.setdefault(d.intent or "out_of_scope", Counter())
        stats[d.action] += 1
        if d.action == "answer":
            answered += 1
            if truth is not None:
                answered_known += 1
                answered_right += truth == d.intent
        rows.append({"ticket_id": t.id, "vendor": t.vendor, "created_at": t.created_at, "agents_intent": truth,
                     **d.to_json()})
    write_jsonl(db_path.with_name("decisions.jsonl"), rows)
    n = len(rows)
    from bot.decision_log import record_replay  # the SQLite decision log the launch report reads
    record_replay(db_path, rows)
    return {
        "tickets": n, "by_action": dict(by_action),
        "answered_share": round(answered / n, 4) if n else 0.0,
        "intent_precision_answered": round(answered_right / answered_known, 4) if answered_known else 0.0,
        "by_intent": {k: dict(v) for k, v in sorted(by_intent.items())},
    }
