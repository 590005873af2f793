"""The Zendesk adapter: the live path of one ticket (verify, parse, load, write back) in three API calls.

Per ticket: GET the ticket with its users, groups and organisations sideloaded, GET its comments (authors
sideloaded), and one PUT that carries the comment, tags, priority and group together with safe_update, so a
ticket that changed under us is refused (409 -> Conflict) rather than overwritten. Group names are resolved to
ids once per adapter instance. History and article exports live in zendesk_export.py, the account set-up
(webhook, triggers) in zendesk_install.py, webhook parsing in zendesk_webhook.py, JSON mapping in zendesk_map.py.
"""
from __future__ import annotations

import html
import re
from typing import Any, Iterator, Optional

from requests.auth import HTTPBasicAuth

from adapters.base import Capabilities, Conflict, Ignored, LoadedTicket, WebhookEvent, WriteResult
from adapters.http import OnCall, VendorError, VendorHTTP
from adapters.zendesk_map import (BOT_METADATA_KEY, BOT_OFF_TAG, PRIORITY_RANK, VENDOR, author_of, build_ticket, by_id,
                                  is_auto_subject, is_auto_submitted, sid, text_to_html)
from adapters.zendesk_webhook import (SIGNATURE_HEADER, TIMESTAMP_HEADER, TRIGGER_TEMPLATE_V1, header,
                                      parse_zendesk_webhook, render_trigger_body, verify_zendesk_signature)
from bot.brain.records import MODES, Article, Decision
from bot.config import ZendeskSettings
from bot.errors import BadInput

__all__ = ["ZendeskAdapter", "TRIGGER_TEMPLATE_V1", "render_trigger_body", "verify_zendesk_signature",
           "CAPABILITIES", "BOT_OFF_TAG"]

CAPABILITIES = Capabilities(combined_write=True, internal_notes=True, priority=True, groups=True,
                            tags_by_id=False, signed_webhooks=True, optimistic_locking=True)
_DIGITS = re.compile(r"[0-9]{1,20}")


class ZendeskAdapter:
    vendor = VENDOR
    capabilities = CAPABILITIES

    def __init__(self, settings: ZendeskSettings, *, http: Optional[VendorHTTP] = None,
                 on_call: Optional[OnCall] = None, **http_options: Any):
        self.settings = settings
        self.http = http or VendorHTTP(
            VENDOR, settings.base_url, auth=HTTPBasicAuth(f"{settings.email}/token", settings.api_token),
            on_call=on_call, **http_options)
        self._groups: Optional[dict[str, str]] = None  # lower-cased name -> id, loaded once

    def __repr__(self) -> str:
        return f"ZendeskAdapter({self.settings.base_url!r})"

    @property
    def bot_user_id(self) -> Optional[str]:
        return self.settings.bot_user_id

    # -- webhooks -----------------------------------------------------------------------------------------

    def verify_webhook(self, headers: dict, body: bytes, now: float) -> None:
        verify_zendesk_signature(self.settings.webhook_secret, header(headers, TIMESTAMP_HEADER), body,
                                 header(headers, SIGNATURE_HEADER), now)

    def parse_webhook(self, headers: dict, body: bytes) -> WebhookEvent | Ignored:
        return parse_zendesk_webhook(headers, body, self.bot_user_id)

    # -- reading ------------------------------------------------------------------------------------------

    def load_ticket(self, ticket_id: str, trigger_comment_id: Optional[str] = None) -> LoadedTicket:
        tid = _ticket_id(ticket_id)
        shown = self.http.get_json(f"/api/v2/tickets/{tid}.json", {"include": "users,groups,organizations"})
        raw = shown["ticket"]
        comments, comment_users = self.fetch_comments(tid)
        users = {**by_id(shown.get("users")), **comment_users}
        ticket = build_ticket(
            raw, comments, users=users, orgs=by_id(shown.get("organizations")), groups=by_id(shown.get("groups")),
            bot_user_id=self.bot_user_id, plan_field=self.settings.plan_field, vip_tag=self.settings.vip_tag,
            page_url_field=self.settings.page_url_field)
        requester_id = sid(raw.get("requester_id"))
        authors = [author_of(c, users, self.bot_user_id, requester_id) for c in comments]
        customer = [c for c, a in zip(comments, authors) if a == "customer" and c.get("public") is not False]
        latest_customer = customer[-1] if customer else None
        public = [(c, a) for c, a in zip(comments, authors) if c.get("public") is not False]
        assignee = sid(raw.get("assignee_id"))
        assignee_is_human = assignee is not None and assignee != (self.bot_user_id or "")
        skip = _skip_reason(
            raw, ticket.tags, assignee_is_human, latest_customer, public[-1] if public else None,
            sid(trigger_comment_id))
        return LoadedTicket(
            ticket=ticket, latest_customer_comment_id=sid(latest_customer.get("id")) if latest_customer else None,
            current_tags=ticket.tags, assignee_is_human=assignee_is_human, version=raw.get("updated_at"),
            bot_attempts=ticket.attempts, skip_reason=skip)

    def fetch_comments(self, tid: str) -> tuple[list[dict], dict]:
        """All comments, oldest first, with their authors; one call unless the ticket has over 100 comments."""
        comments: list[dict] = []
        users: dict = {}
        page: Optional[str] = f"/api/v2/tickets/{tid}/comments.json"
        params: Optional[dict] = {"include": "users"}
        for _ in range(100):  # a ticket holds at most 5,000 comments
            data = self.http.get_json(page, params)
            comments.extend(c for c in data.get("comments") or () if isinstance(c, dict))
            users.update(by_id(data.get("users")))
            page = data.get("next_page") or ((data.get("links") or {}).get("next")
                                             if (data.get("meta") or {}).get("has_more") else None)
            params = None
            if not page:
                break
        comments.sort(key=lambda c: (c.get("created_at") or "", c.get("id") or 0))
        return comments, users

    # -- writing ------------------------------------------------------------------------------------------

    def apply(self, loaded: LoadedTicket, decision: Decision, mode: str) -> WriteResult:
        """Write a decision back in one PUT; shadow writes nothing, draft only internal notes.

        auto + answer/clarify with a reply -> public reply; everything else (draft, escalation, a reply-less
        answer) -> internal note for the agents. Tags are the ticket's current tags plus the decision's.
        """
        if mode not in MODES:
            raise BadInput(f"mode: must be one of {', '.join(MODES)}, not {mode!r}")
        base_sent = {"vendor": VENDOR, "ticket_id": loaded.ticket.id, "mode": mode, "action": decision.action}
        if mode == "shadow":
            return WriteResult(calls=0, sent={**base_sent, "written": False})
        if loaded.skip_reason:
            return WriteResult(calls=0, sent={**base_sent, "written": False, "skipped": loaded.skip_reason})
        before = self.http.calls
        public = mode == "auto" and decision.action in ("answer", "clarify") and bool(decision.reply)
        html_body = text_to_html(decision.reply or "") if public else _note_html(decision, mode)
        comment: dict[str, Any] = {"html_body": html_body, "public": public}
        if self.bot_user_id and _DIGITS.fullmatch(str(self.bot_user_id)):
            comment["author_id"] = int(self.bot_user_id)
        added = [t for t in _clean_tags(decision.tags) if t not in loaded.current_tags]
        body: dict[str, Any] = {
            "comment": comment,
            "tags": list(loaded.current_tags) + added,
            "metadata": {BOT_METADATA_KEY: {"v": 1, "mode": mode, "action": decision.action,
                                            "model_version": decision.model_version}},
        }
        # Priority routes a handoff; an answer or a question leaves the ticket's priority as the team set it.
        priority = _raised_priority(loaded.ticket.priority, decision.priority) if decision.action == "escalate" else None
        if priority:
            body["priority"] = priority
        sent: dict[str, Any] = {**base_sent, "written": True, "public": public, "tags_added": added,
                                "priority": priority, "comment_chars": len(html_body)}
        if decision.group:
            group_id = self.group_id(decision.group)
            sent["group"] = decision.group
            if group_id is None:
                sent["group_unknown"] = True
            else:
                body["group_id"] = int(group_id)
                sent["group_id"] = group_id
        if loaded.version:
            body["safe_update"] = True
            body["updated_stamp"] = loaded.version
        try:
            answer = self.http.send_json("PUT", f"/api/v2/tickets/{_ticket_id(loaded.ticket.id)}.json",
                                         {"ticket": body}, idempotent=bool(loaded.version))
        except VendorError as exc:
            if exc.status == 409:
                raise Conflict(f"zendesk ticket {loaded.ticket.id} changed since it was loaded") from None
            raise
        audit = (answer or {}).get("audit") or {}
        ids = [str(audit["id"])] if audit.get("id") is not None else []
        ids += [str(e["id"]) for e in audit.get("events") or () if e.get("type") == "Comment" and e.get("id")]
        return WriteResult(calls=self.http.calls - before, response_ids=tuple(ids), sent=sent)

    def group_id(self, name: str) -> Optional[str]:
        """Group name -> id, from one groups listing per adapter instance (an id given as digits passes)."""
        if _DIGITS.fullmatch(name.strip()):
            return name.strip()
        if self._groups is None:
            groups: dict[str, str] = {}
            for g in self.items("/api/v2/groups.json", "groups"):
                if g.get("name") and not g.get("deleted"):
                    groups.setdefault(str(g["name"]).strip().lower(), str(g["id"]))
            self._groups = groups
        return self._groups.get(name.strip().lower())

    def items(self, path: str, key: str, params: Optional[dict] = None) -> Iterator[dict]:
        """Every item of a list endpoint, following cursor (links.next) or offset (next_page) pagination."""
        page: Optional[str] = path
        query: Optional[dict] = {"page[size]": 100, **(params or {})}
        for _ in range(10_000):
            data = self.http.get_json(page, query)
            yield from (i for i in data.get(key) or () if isinstance(i, dict))
            meta, links = data.get("meta") or {}, data.get("links") or {}
            page = links.get("next") if meta.get("has_more") else data.get("next_page")
            query = None
            if not page:
                return

    # -- exports and installation (separate modules, same adapter) ----------------------------------------

    def export_history(self, days: int, cursor: Optional[str] = None) -> Iterator[tuple[dict, Optional[str]]]:
        from adapters.zendesk_export import export_history
        return export_history(self, days, cursor)

    def export_articles(self) -> Iterator[Article]:
        from adapters.zendesk_export import export_articles
        return export_articles(self)

    def install(self, url: str) -> dict:
        from adapters.zendesk_install import install
        return install(self, url)

    def check(self, url: Optional[str] = None) -> list[str]:
        from adapters.zendesk_install import check
        return check(self, url)

    def uninstall(self) -> dict:
        from adapters.zendesk_install import uninstall
        return uninstall(self)


# -- helpers ------------------------------------------------------------------------------------------------

def _ticket_id(value: Any) -> str:
    text = str(value).strip()
    if not _DIGITS.fullmatch(text):
        raise BadInput(f"ticket id: not a Zendesk ticket id: {text[:40]!r}")
    return text


def _skip_reason(raw: dict, tags: tuple[str, ...], assignee_is_human: bool, latest_customer: Optional[dict],
                 latest_public: Optional[tuple[dict, str]], trigger_comment_id: Optional[str]) -> Optional[str]:
    """The loop guards: reasons not to touch a ticket at all, first match wins."""
    if BOT_OFF_TAG in tags:
        return f"ticket tagged {BOT_OFF_TAG}"
    if raw.get("status") in ("closed", "deleted"):
        return f"ticket is {raw.get('status')}"
    if assignee_is_human:
        return "a human agent is assigned"
    if latest_customer is None:
        return "no public customer comment"
    if latest_public is not None and latest_public[1] in ("agent", "bot"):
        who = "the bot" if latest_public[1] == "bot" else "an agent"
        return f"latest public comment is by {who}"
    if trigger_comment_id and trigger_comment_id != sid(latest_customer.get("id")):
        return "stale: the triggering comment is not the latest customer comment"
    if is_auto_submitted(latest_customer) or is_auto_submitted(raw) or is_auto_subject(raw.get("subject")):
        return "auto-reply (Auto-Submitted or out-of-office subject)"
    return None


def _clean_tags(tags: tuple[str, ...]) -> list[str]:
    """Zendesk tags are lower-case and space-free (a space would split one tag into two)."""
    out: list[str] = []
    for tag in tags:
        t = re.sub(r"\s+", "_", str(tag).strip().lower())
        if t and t not in out:
            out.append(t)
    return out


def _raised_priority(current: Optional[str], wanted: Optional[str]) -> Optional[str]:
    """Only ever raise priority: an escalation must not downgrade an urgent ticket to high."""
    if wanted not in PRIORITY_RANK:
        return None
    if current in PRIORITY_RANK and PRIORITY_RANK[wanted] <= PRIORITY_RANK[current]:
        return None
    return wanted


def _note_html(decision: Decision, mode: str) -> str:
    heading = "Support bot: escalated to a human" if decision.action == "escalate" else \
        f"Support bot ({mode}): suggested {decision.action}"
    parts = [f"<p><strong>{heading}</strong></p>", text_to_html(decision.note or "")]
    if decision.reasons:
        items = "".join(f"<li>{html.escape(r)}</li>" for r in decision.reasons)
        parts.append(f"<p>Reasons:</p><ul>{items}</ul>")
    if decision.article is not None:
        link = decision.article.url
        title = html.escape(decision.article.title)
        parts.append(f'<p>Article: <a href="{html.escape(link)}">{title}</a></p>' if link else f"<p>Article: {title}</p>")
    if decision.reply and decision.action != "escalate":
        parts.append("<p><strong>Proposed reply</strong> (not sent):</p>" + text_to_html(decision.reply))
    return "".join(p for p in parts if p)

