"""The one small interface every helpdesk adapter implements, and the records that cross it.

Drawn against all three vendors: Zendesk writes comment + tags + priority + group in one PUT; Freshdesk needs
a reply (or note) call and a separate ticket update; Intercom replies on a conversation, tags by tag id
(one call per tag) and has no priority field beyond a flag. The capability flags let the worker and the
reports say what a vendor can and cannot do, instead of `if vendor == ...` outside this package.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator, Optional, Protocol

from bot.brain.records import Article, Decision, Ticket


@dataclass(frozen=True)
class Capabilities:
    combined_write: bool  # reply/note, tags, priority and group in one call
    internal_notes: bool
    priority: bool
    groups: bool
    tags_by_id: bool  # tags must be created/looked up and attached by id
    signed_webhooks: bool  # the vendor signs deliveries (else a shared token)
    optimistic_locking: bool  # a write can be refused when the ticket changed since it was read


@dataclass(frozen=True)
class WebhookEvent:
    """A verified delivery, reduced to what the queue needs: ids, never customer text."""
    vendor: str
    delivery_id: str  # the vendor's delivery id, or one derived from ticket + comment
    ticket_id: str
    kind: str  # ticket_created | comment_added
    comment_id: Optional[str] = None
    author_id: Optional[str] = None
    author_role: Optional[str] = None  # end-user | agent | admin | bot
    public: Optional[bool] = None
    auto_submitted: bool = False


@dataclass(frozen=True)
class Ignored:
    """A valid delivery the bot does not act on; reason is safe to log and to answer with."""
    reason: str


class WebhookRejected(Exception):
    """Raised by verify/parse with the HTTP status and a one-line reason for the vendor."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class LoadedTicket:
    """A ticket as loaded for a decision: the neutral Ticket plus what the write-back needs."""
    ticket: Ticket
    latest_customer_comment_id: Optional[str]
    current_tags: tuple[str, ...]
    assignee_is_human: bool
    version: Optional[str]  # updated_stamp (Zendesk) or equivalent, for optimistic locking
    bot_attempts: int = 0
    skip_reason: Optional[str] = None  # set when a loop guard says do not touch this ticket


@dataclass(frozen=True)
class WriteResult:
    calls: int
    response_ids: tuple[str, ...] = ()
    sent: dict = field(default_factory=dict)  # what was sent, secrets and customer text excluded


class Conflict(Exception):
    """The ticket changed since it was loaded (Zendesk 409 with safe_update): re-load and decide again."""


class HelpdeskAdapter(Protocol):
    vendor: str
    capabilities: Capabilities

    def verify_webhook(self, headers: dict, body: bytes, now: float) -> None: ...

    def parse_webhook(self, headers: dict, body: bytes) -> WebhookEvent | Ignored: ...

    def load_ticket(self, ticket_id: str, trigger_comment_id: Optional[str] = None) -> LoadedTicket: ...

    def apply(self, loaded: LoadedTicket, decision: Decision, mode: str) -> WriteResult: ...

    def export_history(self, days: int, cursor: Optional[str] = None) -> Iterator[tuple[dict, Optional[str]]]:
        """Yields (history record per data.md, cursor to resume after it)."""
        ...

    def export_articles(self) -> Iterator[Article]: ...

    # `bot install V` / `bot install V --check` / `bot uninstall V`. Plain dicts and lists so the CLI can print
    # them as they are (or as JSON); each vendor does what its API allows and lists manual steps for the rest.
    def install(self, url: str) -> dict:
        """Idempotently connects the account to the bot at `url`; says what was created, updated or unchanged."""
        ...

    def check(self, url: Optional[str] = None) -> list[str]:
        """One-line problems with credentials, webhook, rules and secret; empty when all is well."""
        ...

    def uninstall(self) -> dict:
        """Removes exactly what install created; says what was removed."""
        ...
