"""The Brain: ticket in, decision out. Pure: everything it needs is handed to it, it touches nothing.

Order of judgement: classify, then let the escalation policy speak (any trigger wins, all are named), then
out of scope asks a clarifying question, then an answer only when a help-center section supports it.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Optional

from bot.brain.articles import ArticleIndex
from bot.brain.classifier import IntentModel
from bot.brain.policy import EscalationPolicy
from bot.brain.records import Decision, IntentsConfig, Prediction, Ticket
from bot.brain.reply import agent_note, clarifying_question, draft_reply
from bot.brain.sentiment import EMPATHY_BELOW, sentiment as score_sentiment
from bot.brain.text import clean_for_model


class Brain:
    def __init__(self, model: IntentModel, config: IntentsConfig, index: ArticleIndex, model_version: str):
        self.model = model
        self.config = config
        self.index = index
        self.model_version = model_version
        self.intents = config.by_name()
        self.escalation = EscalationPolicy(config.policy)

    @property
    def policy(self):
        return self.config.policy

    def text_of(self, ticket: Ticket) -> str:
        """What the model reads: the subject and the customer's first message, or the latest one once
        someone has replied (then the follow-up is what the customer is asking now)."""
        replied = ticket.attempts or any(m.author in ("bot", "agent") and m.public for m in ticket.messages)
        body = ticket.latest_customer_text() if replied else ticket.first_customer_text()
        return clean_for_model(ticket.subject, body)

    @staticmethod
    def retrieval_request(ticket: Ticket, intent) -> tuple[str, tuple, Optional[str]]:
        """(query, article ids, page) for ArticleIndex.search: the customer's words plus what the intent is
        about, within the intent's articles, boosted by the page they were on."""
        return (f"{ticket.subject} {ticket.latest_customer_text()} {intent.description}", tuple(intent.articles),
                ticket.page_url)

    def classify(self, text: str, subject: str = "") -> tuple[Prediction, float]:
        return self.model.predict(clean_for_model(subject, text)), score_sentiment(text)

    def decide(self, ticket: Ticket, mode: Optional[str] = None) -> Decision:
        # Attempts: what the caller counted (the test script, the adapter), or the bot's public answers
        # on the ticket, whichever is more, so `bot decide` on a history record counts them too.
        answered = sum(1 for m in ticket.messages if m.author == "bot" and m.public)
        if answered > ticket.attempts:
            ticket = replace(ticket, attempts=answered)
        prediction = self.model.predict(self.text_of(ticket))
        mood = score_sentiment(ticket.latest_customer_text())
        intent = self.intents.get(prediction.intent)
        hit = None
        if intent is not None and not prediction.out_of_scope:
            hit = self.index.search(*self.retrieval_request(ticket, intent))
        verdict = self.escalation.assess(ticket, prediction, intent, mood, has_article=hit is not None)
        empathetic = mood <= EMPATHY_BELOW
        reasons = list(verdict.reasons)
        reply = None
        if verdict.escalate:
            action = "escalate"
        elif prediction.out_of_scope:
            action = "clarify"
            reasons.append(f"out of scope: confidence {prediction.confidence:.2f} below {prediction.threshold:.2f}"
                           f" for {prediction.intent}; asking a clarifying question")
            reply = clarifying_question(prediction, self.intents, empathetic)
        else:
            action = "answer"
            reasons.append(f"intent {prediction.intent} at {prediction.confidence:.2f} (threshold "
                           f"{prediction.threshold:.2f}) answered from article {hit.id} section '{hit.section}'")
            reply = draft_reply(hit, empathetic)
        tags = ["bot_" + {"answer": "answered", "clarify": "clarified", "escalate": "escalated"}[action]]
        if action == "escalate" or not prediction.out_of_scope:
            tags.append(f"intent_{prediction.intent}")
        if prediction.out_of_scope:
            tags.append("bot_out_of_scope")
        note = agent_note(ticket, action, prediction, mood, reasons, hit, verdict.priority,
                          verdict.group if action == "escalate" else None)
        return Decision(
            ticket_id=ticket.id, action=action, intent=prediction.intent, confidence=prediction.confidence,
            out_of_scope=prediction.out_of_scope, sentiment=mood, tone="empathetic" if empathetic else "neutral",
            reasons=tuple(reasons), article=hit, reply=reply, note=note, priority=verdict.priority,
            group=verdict.group if action == "escalate" else None, tags=tuple(tags),
            mode=mode or self.policy.mode, model_version=self.model_version,
            alternatives=prediction.alternatives,
        )

    def with_policy(self, **changes) -> "Brain":
        """A brain with policy overrides (BOT_MODE, BOT_ROLLOUT_PERCENT) and the same model."""
        config = replace(self.config, policy=replace(self.config.policy, **changes))
        return Brain(self.model, config, self.index, self.model_version)
