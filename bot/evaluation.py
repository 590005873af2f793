"""`bot evaluate`: the pre-launch test script (method step 5), judged case by case.

Each failure gets the kind that says which fix it needs (cli.md): the intent was not recognised ->
missing_intent (add or split an intent, add examples); recognised but the content is missing or wrong ->
training_data_gap (write or fix the article); recognised with the right content but the wrong action,
priority or tone -> flow_logic_error (the policy or the intent's settings).
"""
from __future__ import annotations

from collections import Counter, defaultdict
from typing import Callable, Iterable, Optional

from bot.brain.decide import Brain
from bot.brain.records import Message, Requester, Ticket

# Sign-off bar for `ready`, per the method: right answers and no customer left without a human.
READY_ACCURACY = 0.85
READY_ESCALATION_RECALL = 0.95
READY_INTENT_ACCURACY = 0.6  # no top-20 type may be mostly wrong, whatever the average says
TOP_TYPES = 20


def case_ticket(case: dict) -> Ticket:
    req = case.get("requester") or {}
    return Ticket(
        id=str(case["id"]), vendor="test", created_at="1970-01-01T00:00:00Z", subject=case.get("subject") or "",
        messages=(Message(author="customer", body=case["text"]),),
        requester=Requester(id=str(req.get("id")) if req.get("id") else None, vip=bool(req.get("vip")),
                            plan=req.get("plan")),
        page_url=case.get("page_url"), attempts=int(case.get("attempts") or 0),
    )


def judge(case: dict, decision, defined: set[str]) -> Optional[tuple[str, str]]:
    """None when the decision meets every expectation, else (kind, why)."""
    exp = case["expect"]
    if exp.get("out_of_scope"):
        if not decision.out_of_scope:
            return ("flow_logic_error", f"out-of-scope question taken as {decision.intent} "
                                        f"({decision.confidence:.2f}): the threshold let it through")
    elif "intent" in exp:
        want = exp["intent"]
        if want not in defined:
            return ("missing_intent", f"intent {want} is not defined in the intents file")
        # An escalation hands over the bot's best guess (it routes the ticket), so the guess is judged;
        # an answer or a question needs the intent to be in scope.
        # A clarifying question is right when it offers the expected goal among the two it names.
        recognised = decision.intent == want and (decision.action == "escalate" or not decision.out_of_scope)
        if exp.get("action") == "clarify" and decision.action == "clarify":
            offered = [decision.intent] + [a.intent for a in decision.alternatives[:1]]
            recognised = want in offered
        if not recognised:
            got = f"{decision.intent} (out of scope)" if decision.out_of_scope else decision.intent
            return ("missing_intent", f"expected {want}, recognised {got} ({decision.confidence:.2f})")
    if exp.get("article") and decision.action == "answer":
        got = decision.article.id if decision.article else None
        if got != str(exp["article"]):
            return ("training_data_gap", f"answered from article {got}, expected {exp['article']}")
    if exp.get("action") == "answer" and decision.action == "escalate" and decision.article is None \
            and any(r.startswith("no help-center section") for r in decision.reasons):
        return ("training_data_gap", "no help-center section answers it, so the bot escalated")
    for key in ("action", "priority", "tone"):
        if exp.get(key) is not None and getattr(decision, key) != exp[key]:
            why = f"{key} {getattr(decision, key)}, expected {exp[key]}"
            if key == "action":
                why += " (" + "; ".join(decision.reasons) + ")"
            return ("flow_logic_error", why)
    return None


def _ratio(a: int, b: int) -> float:
    return round(a / b, 4) if b else 0.0


def evaluate(brain: Brain, cases: Iterable[dict], top_intents: Optional[list[str]] = None,
             progress: Callable[[int, int], None] = lambda i, n: None) -> dict:
    cases = list(cases)
    defined = set(brain.intents)
    failures, by_kind, by_intent = [], Counter(), defaultdict(lambda: {"cases": 0, "correct": 0})
    correct = intent_ok = tp = fp = fn = tone_checked = tone_ok = 0
    for n, case in enumerate(cases, 1):
        d = brain.decide(case_ticket(case))
        exp = case["expect"]
        verdict = judge(case, d, defined)
        key = "out_of_scope" if exp.get("out_of_scope") else exp.get("intent", "unspecified")
        by_intent[key]["cases"] += 1
        if exp.get("out_of_scope"):
            intent_ok += d.out_of_scope
        elif "intent" in exp:
            intent_ok += (not d.out_of_scope and d.intent == exp["intent"])
        want_esc, got_esc = exp.get("action") == "escalate", d.action == "escalate"
        tp += want_esc and got_esc
        fp += got_esc and not want_esc and "action" in exp
        fn += want_esc and not got_esc
        if exp.get("tone"):
            tone_checked += 1
            tone_ok += d.tone == exp["tone"]
        if verdict is None:
            correct += 1
            by_intent[key]["correct"] += 1
        else:
            kind, why = verdict
            by_kind[kind] += 1
            failures.append({"id": str(case["id"]), "kind": kind, "expected": exp,
                             "got": {"intent": d.intent, "confidence": d.confidence, "out_of_scope": d.out_of_scope,
                                     "action": d.action, "priority": d.priority, "tone": d.tone,
                                     "article": d.article.id if d.article else None},
                             "why": why})
        progress(n, len(cases))
    total = len(cases)
    escalation = {"precision": _ratio(tp, tp + fp), "recall": _ratio(tp, tp + fn),
                  "expected": tp + fn, "escalated": tp + fp}
    accuracy = _ratio(correct, total)
    top = top_intents or sorted(k for k in by_intent if k in defined)
    top = [t for t in top if t in by_intent][:TOP_TYPES]
    weak = sorted(t for t in top if _ratio(by_intent[t]["correct"], by_intent[t]["cases"]) < READY_INTENT_ACCURACY)
    blockers = []
    if accuracy < READY_ACCURACY:
        blockers.append(f"accuracy {accuracy:.2f} below {READY_ACCURACY}")
    if tp + fn and escalation["recall"] < READY_ESCALATION_RECALL:
        blockers.append(f"escalation recall {escalation['recall']:.2f} below {READY_ESCALATION_RECALL}")
    if weak:
        blockers.append("weak top types: " + ", ".join(weak))
    return {
        "cases": total, "accuracy": accuracy, "intent_accuracy": _ratio(intent_ok, total),
        "escalation": escalation, "tone": {"checked": tone_checked, "ok": tone_ok},
        "failures": failures,
        "by_kind": {k: by_kind.get(k, 0) for k in ("training_data_gap", "missing_intent", "flow_logic_error")},
        "by_intent": dict(sorted(by_intent.items())), "top_types": top,
        "ready": not blockers, "blockers": blockers, "model_version": brain.model_version,
    }


def render_evaluation(r: dict) -> str:
    lines = [
        f"Pre-launch test script: {r['cases']} cases, model {r['model_version']}",
        f"  accuracy            {r['accuracy']:.1%}",
        f"  intent accuracy     {r['intent_accuracy']:.1%}",
        f"  escalation          precision {r['escalation']['precision']:.1%}, recall {r['escalation']['recall']:.1%}",
        f"  tone                {r['tone']['ok']}/{r['tone']['checked']} as expected",
        "  failures by kind    " + ", ".join(f"{k} {v}" for k, v in r["by_kind"].items()),
        "",
        "  by intent:",
    ]
    for name, v in r["by_intent"].items():
        lines.append(f"    {name:<28} {v['correct']:>3}/{v['cases']:<3}")
    if r["failures"]:
        lines += ["", "  failures:"]
        for f in r["failures"]:
            lines.append(f"    [{f['kind']}] {f['id']}: {f['why']}")
    lines += ["", "READY for the top types" if r["ready"] else "NOT READY: " + "; ".join(r["blockers"])]
    return "\n".join(lines)
