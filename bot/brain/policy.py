"""EscalationPolicy: when a human must take over, and how urgently (method step 4).

Every trigger is checked, not just the first, so the agent sees all the reasons at once and the
evaluation can tell a right escalation for the wrong reason from a right one.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from bot.brain.records import Intent, Policy, Prediction, Ticket

# An explicit ask for a person, in the usual phrasings (not "agent" alone: "my agent code" is not an ask).
_PERSON = r"(?:human|person|agent|representative|rep|operator|someone|somebody|manager|supervisor)"
HUMAN_ASK = re.compile(
    # "talk to a human", "speak with someone", "put me through to an agent"
    r"\b(?:talk|speak|chat|connect|transfer|put)\w*\s+(?:me\s+)?(?:to|with|through\s+to)\s+"
    r"(?:a\s+|an\s+|some\s*one\s*|somebody\s*|your\s+)?(?:real\s+|live\s+|actual\s+)?" + _PERSON + r"\b"
    # "I want a human", "need a real person", "get me an agent", "can I have a representative"
    r"|\b(?:want|need|get\s+me|give\s+me|request)\s+(?:a|an|to\s+(?:talk|speak)\s+to\s+a)\s+"
    r"(?:real\s+|live\s+|actual\s+)?(?:human|person|agent|representative|operator|manager|supervisor)\b"
    r"|\bcan\s+(?:a|an)\s+(?:human|person|agent|real\s+person)\s+(?:look|help|check|call)"
    r"|\breal\s+person,?\s+please\b"
    # "live agent", "human support" (not "a real person?" about someone else, not "a representative example")
    r"|\b(?:human|live)\s+(?:agent|support|representative|operator)\b|\breal\s+(?:agent|human)\b"
    r"|\b(?:agent|human|representative),?\s+please\b|\bescalate\s+(?:this|my)\b|\bstop\s+(?:the\s+)?bot\b",
    re.IGNORECASE,
)

PRIORITY_ORDER = ("low", "normal", "high", "urgent")


def asks_for_human(text: str) -> bool:
    return bool(HUMAN_ASK.search(text or ""))


def _raise_to(current: str, floor: str) -> str:
    return max(current, floor, key=PRIORITY_ORDER.index)


@dataclass(frozen=True)
class Assessment:
    reasons: tuple[str, ...]
    priority: str
    group: Optional[str]
    vip: bool

    @property
    def escalate(self) -> bool:
        return bool(self.reasons)


class EscalationPolicy:
    def __init__(self, policy: Policy):
        self.policy = policy

    def is_vip(self, ticket: Ticket) -> bool:
        plan = (ticket.requester.plan or "").lower()
        return ticket.requester.vip or plan in {p.lower() for p in self.policy.vip_plans}

    def assess(self, ticket: Ticket, prediction: Prediction, intent: Optional[Intent], sentiment: float,
               has_article: bool) -> Assessment:
        p = self.policy
        reasons: list[str] = []
        vip = self.is_vip(ticket)
        text = ticket.latest_customer_text()
        asked_before = any(m.author == "bot" and m.public for m in ticket.messages)  # a note asks nothing
        if sentiment <= p.negative_sentiment:
            reasons.append(f"negative sentiment {sentiment:.2f} (at or below {p.negative_sentiment})")
        if ticket.attempts >= p.max_attempts:
            reasons.append(f"{ticket.attempts} bot answers already on this ticket (max_attempts {p.max_attempts})")
        if vip:
            reasons.append("requester is marked VIP" if ticket.requester.vip
                           else f"requester plan {ticket.requester.plan} is a VIP plan")
        if asks_for_human(text):
            reasons.append("customer asked for a person")
        if intent is not None and not prediction.out_of_scope:
            if intent.escalate:
                reasons.append(f"intent {intent.name} always escalates")
            elif intent.kind == "transactional" and not intent.articles:
                reasons.append(f"transactional intent {intent.name} needs a human (no self-service article)")
            elif not has_article:
                reasons.append(f"no help-center section answers intent {intent.name}")
        if prediction.out_of_scope and asked_before:
            reasons.append(f"out of scope after a clarifying question (low confidence {prediction.confidence:.2f}"
                           f" < {prediction.threshold:.2f} for {prediction.intent})")
        # Out of scope, the predicted intent is the one the model rejected: its group would be a guess.
        routed = None if prediction.out_of_scope else intent
        return Assessment(tuple(reasons), self.priority(ticket, routed, sentiment, vip), self.group(routed), vip)

    def priority(self, ticket: Ticket, intent: Optional[Intent], sentiment: float, vip: bool) -> str:
        """Business value and urgency: a frustrated enterprise customer is not a calm free-tier how-to."""
        prio = intent.priority if intent is not None and intent.priority in PRIORITY_ORDER else "normal"
        negative = sentiment <= self.policy.negative_sentiment
        if vip:
            prio = _raise_to(prio, "high")
        if negative:
            prio = _raise_to(prio, "high")
        if vip and negative:
            prio = "urgent"
        return prio

    def group(self, intent: Optional[Intent]) -> Optional[str]:
        if intent is not None and intent.group:
            return intent.group
        return self.policy.escalation_group
