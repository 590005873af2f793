"""The vendor-neutral records the brain works on.

Adapters turn vendor JSON into these at the boundary and nothing past them sees a vendor field name.
They are frozen so that a decision can never be influenced by something mutating a ticket mid-way.
"""
from __future__ import annotations

from dataclasses import dataclass, field, asdict
from typing import Optional

AUTHORS = ("customer", "agent", "bot")
PRIORITIES = ("low", "normal", "high", "urgent")
STATUSES = ("new", "open", "pending", "solved", "closed")
ACTIONS = ("answer", "clarify", "escalate")
KINDS = ("informational", "transactional")
CATEGORIES = ("how-to", "billing-account", "troubleshooting", "escalation-required")
MODES = ("shadow", "draft", "auto")


@dataclass(frozen=True)
class Message:
    author: str  # customer | agent | bot
    body: str
    public: bool = True
    at: Optional[str] = None


@dataclass(frozen=True)
class Requester:
    id: Optional[str] = None
    vip: bool = False
    plan: Optional[str] = None


@dataclass(frozen=True)
class Ticket:
    id: str
    vendor: str
    messages: tuple[Message, ...]
    created_at: str
    subject: str = ""
    tags: tuple[str, ...] = ()
    priority: Optional[str] = None
    status: Optional[str] = None
    channel: Optional[str] = None
    group: Optional[str] = None
    solved_at: Optional[str] = None
    satisfaction: Optional[str] = None
    reopened: bool = False
    requester: Requester = field(default_factory=Requester)
    page_url: Optional[str] = None
    intent: Optional[str] = None
    attempts: int = 0  # bot answers already given on this ticket (not part of the history format)

    def customer_messages(self) -> tuple[Message, ...]:
        return tuple(m for m in self.messages if m.author == "customer" and m.public)

    def first_customer_text(self) -> str:
        msgs = self.customer_messages()
        return msgs[0].body if msgs else ""

    def latest_customer_text(self) -> str:
        msgs = self.customer_messages()
        return msgs[-1].body if msgs else ""


@dataclass(frozen=True)
class Article:
    id: str
    title: str
    body_html: str
    vendor: str = ""
    url: str = ""
    locale: str = "en-us"
    labels: tuple[str, ...] = ()
    section: str = ""
    category: str = ""
    updated_at: Optional[str] = None
    draft: bool = False


@dataclass(frozen=True)
class Intent:
    name: str
    description: str = ""
    kind: str = "informational"
    category: str = "how-to"
    tags: tuple[str, ...] = ()
    examples: tuple[str, ...] = ()
    articles: tuple[str, ...] = ()
    ask: Optional[str] = None
    escalate: bool = False
    priority: str = "normal"
    group: Optional[str] = None


@dataclass(frozen=True)
class Policy:
    mode: str = "shadow"
    rollout_percent: int = 10
    target_precision: float = 0.95
    negative_sentiment: float = -0.5
    max_attempts: int = 2
    vip_plans: tuple[str, ...] = ("enterprise",)
    escalation_group: str = "Tier 2"


@dataclass(frozen=True)
class IntentsConfig:
    policy: Policy
    intents: tuple[Intent, ...]

    def by_name(self) -> dict[str, Intent]:
        return {i.name: i for i in self.intents}


@dataclass(frozen=True)
class Alternative:
    intent: str
    confidence: float


@dataclass(frozen=True)
class Prediction:
    intent: str
    confidence: float
    out_of_scope: bool
    alternatives: tuple[Alternative, ...]
    threshold: float


@dataclass(frozen=True)
class ArticleHit:
    id: str
    title: str
    section: str
    score: float
    url: str = ""
    text: str = ""  # the section's plain text, used to draft the reply


@dataclass(frozen=True)
class Decision:
    ticket_id: str
    action: str
    intent: Optional[str]
    confidence: float
    out_of_scope: bool
    sentiment: float
    tone: str
    reasons: tuple[str, ...]
    article: Optional[ArticleHit]
    reply: Optional[str]
    note: str
    priority: str
    group: Optional[str]
    tags: tuple[str, ...]
    mode: str
    model_version: str
    alternatives: tuple[Alternative, ...] = ()

    def to_json(self) -> dict:
        """The spec's decision object (data.md)."""
        d = asdict(self)
        d["reasons"] = list(self.reasons)
        d["tags"] = list(self.tags)
        d["alternatives"] = [asdict(a) for a in self.alternatives]
        if self.article is not None:
            d["article"] = {k: d["article"][k] for k in ("id", "title", "section", "score", "url")}
        return d
