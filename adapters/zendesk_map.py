"""Zendesk JSON -> our records. The one place that knows what Zendesk calls things.

Pure functions over already-fetched JSON, shared by the live path (load_ticket) and the history export, so a
ticket looks the same to the brain whether it arrives by webhook or from last quarter's export.
"""
from __future__ import annotations

import html
import re
from typing import Any, Iterable, Mapping, Optional

from bot.brain.records import Article, Message, Requester, Ticket

VENDOR = "zendesk"
BOT_OFF_TAG = "bot_off"  # an agent sets it to keep the bot away from a ticket
BOT_METADATA_KEY = "supportbot"  # set in the audit metadata of every write we make, read back on comments
STAFF_ROLES = ("agent", "admin")
PRIORITY_RANK = {"low": 0, "normal": 1, "high": 2, "urgent": 3}
_STATUS = {"new": "new", "open": "open", "pending": "pending", "hold": "pending", "solved": "solved",
           "closed": "closed"}
_AUTO_SUBJECT = re.compile(
    r"^\s*(out of (the )?office|automatic reply|auto(matic)?[- ]?reply|autoreply|auto[- ]?response|"
    r"abwesenheitsnotiz|r[ée]ponse automatique|respuesta autom[áa]tica)\b", re.I)
_AUTO_KEY = re.compile(r"auto[-_ ]?submitted", re.I)


def by_id(items: Optional[Iterable[Mapping[str, Any]]]) -> dict[str, Mapping[str, Any]]:
    return {str(i["id"]): i for i in (items or ()) if isinstance(i, Mapping) and i.get("id") is not None}


def sid(value: Any) -> Optional[str]:
    return None if value is None or value == "" else str(value)


# -- comments ---------------------------------------------------------------------------------------------

def is_bot_comment(comment: Mapping[str, Any], bot_user_id: Optional[str]) -> bool:
    """Ours if written by the configured bot user, or carrying our marker in the audit metadata.

    The marker matters when the bot writes through a shared admin token: the author is then a human's user.
    """
    if bot_user_id and sid(comment.get("author_id")) == str(bot_user_id):
        return True
    custom = (comment.get("metadata") or {}).get("custom") or {}
    return isinstance(custom, Mapping) and BOT_METADATA_KEY in custom


def author_of(comment: Mapping[str, Any], users: Mapping[str, Mapping[str, Any]], bot_user_id: Optional[str],
              requester_id: Optional[str]) -> str:
    if is_bot_comment(comment, bot_user_id):
        return "bot"
    uid = sid(comment.get("author_id"))
    user = users.get(uid) if uid else None
    if user is not None:
        return "agent" if user.get("role") in STAFF_ROLES else "customer"
    if uid is not None and uid == requester_id:
        return "customer"
    # End users cannot write private comments, so an unknown author of one is staff.
    return "agent" if comment.get("public") is False else "customer"


def is_auto_submitted(comment: Mapping[str, Any]) -> bool:
    """An auto-reply marker anywhere in the comment's via/metadata (Auto-Submitted other than 'no')."""
    return _has_auto_marker(comment.get("metadata"), 0) or _has_auto_marker(comment.get("via"), 0)


def _has_auto_marker(node: Any, depth: int) -> bool:
    if depth > 6:
        return False
    if isinstance(node, Mapping):
        for key, value in node.items():
            if isinstance(key, str) and _AUTO_KEY.search(key):
                if value not in (None, False, "", "no", "No", "NO"):
                    return True
            if _has_auto_marker(value, depth + 1):
                return True
    elif isinstance(node, list):
        return any(_has_auto_marker(v, depth + 1) for v in node[:50])
    elif isinstance(node, str) and _AUTO_KEY.search(node) and "auto-submitted: no" not in node.lower():
        return True
    return False


def is_auto_subject(subject: Optional[str]) -> bool:
    return bool(subject) and bool(_AUTO_SUBJECT.search(subject))


def comment_text(comment: Mapping[str, Any]) -> str:
    for key in ("plain_body", "body"):
        value = comment.get(key)
        if isinstance(value, str) and value:
            return value
    return html_to_text(comment.get("html_body") or "")


def html_to_text(markup: str) -> str:
    text = re.sub(r"(?i)<br\s*/?>", "\n", markup)
    text = re.sub(r"(?i)</(p|div|li|h[1-6]|tr)>", "\n", text)
    text = re.sub(r"<[^>]+>", "", text)
    return re.sub(r"\n{3,}", "\n\n", html.unescape(text)).strip()


def text_to_html(text: str) -> str:
    """Plain text -> safe HTML paragraphs, with bare http(s) links made clickable."""
    paragraphs = [p for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]
    out = []
    for para in paragraphs:
        escaped = html.escape(para.strip())
        escaped = re.sub(r"(https?://[^\s<>&\"']+[^\s<>&\"'.,;:!?)])",
                         r'<a href="\1">\1</a>', escaped)
        out.append("<p>" + escaped.replace("\n", "<br>") + "</p>")
    return "".join(out)


# -- ticket ---------------------------------------------------------------------------------------------------

def requester_of(raw: Mapping[str, Any], users: Mapping[str, Mapping[str, Any]],
                 orgs: Mapping[str, Mapping[str, Any]], plan_field: Optional[str], vip_tag: str) -> Requester:
    rid = sid(raw.get("requester_id"))
    user = users.get(rid) if rid else None
    org = None
    org_id = sid(raw.get("organization_id")) or (sid(user.get("organization_id")) if user else None)
    if org_id:
        org = orgs.get(org_id)
    plan = None
    if plan_field:
        for source, key in ((user, "user_fields"), (org, "organization_fields")):
            value = ((source or {}).get(key) or {}).get(plan_field)
            if value not in (None, ""):
                plan = str(value).strip().lower()
                break
    tags = set(raw.get("tags") or ()) | set((user or {}).get("tags") or ()) | set((org or {}).get("tags") or ())
    return Requester(id=rid, vip=vip_tag in tags, plan=plan)


def page_url_of(raw: Mapping[str, Any], field_id: Optional[str]) -> Optional[str]:
    if not field_id:
        return None
    for f in raw.get("custom_fields") or raw.get("fields") or ():
        if isinstance(f, Mapping) and sid(f.get("id")) == str(field_id):
            value = f.get("value")
            return str(value) if value not in (None, "") else None
    return None


def build_ticket(raw: Mapping[str, Any], comments: list[Mapping[str, Any]], *,
                 users: Mapping[str, Mapping[str, Any]], orgs: Mapping[str, Mapping[str, Any]],
                 groups: Mapping[str, Mapping[str, Any]], bot_user_id: Optional[str], plan_field: Optional[str],
                 vip_tag: str, page_url_field: Optional[str], metric_set: Optional[Mapping[str, Any]] = None,
                 ) -> Ticket:
    requester_id = sid(raw.get("requester_id"))
    messages = tuple(
        Message(author=author_of(c, users, bot_user_id, requester_id), body=comment_text(c),
                public=c.get("public") is not False, at=c.get("created_at"))
        for c in comments)
    group = groups.get(sid(raw.get("group_id")) or "")
    rating = raw.get("satisfaction_rating") or {}
    score = rating.get("score") if isinstance(rating, Mapping) else None
    metric_set = metric_set or {}
    reopens = metric_set.get("reopens")
    priority = raw.get("priority")
    return Ticket(
        id=str(raw["id"]),
        vendor=VENDOR,
        messages=messages,
        created_at=raw.get("created_at") or "",
        subject=raw.get("subject") or raw.get("raw_subject") or "",
        tags=tuple(raw.get("tags") or ()),
        priority=priority if priority in PRIORITY_RANK else None,
        status=_STATUS.get(raw.get("status") or ""),
        channel=(raw.get("via") or {}).get("channel"),
        group=group.get("name") if group else None,
        solved_at=metric_set.get("solved_at"),
        satisfaction=score if score in ("good", "bad") else None,
        reopened=isinstance(reopens, int) and reopens > 0,
        requester=requester_of(raw, users, orgs, plan_field, vip_tag),
        page_url=page_url_of(raw, page_url_field),
        attempts=sum(1 for m in messages if m.author == "bot" and m.public),
    )


def history_record(ticket: Ticket) -> dict:
    """One line of the history JSON Lines (data.md): vendor-neutral names only."""
    return {
        "id": ticket.id, "vendor": ticket.vendor, "subject": ticket.subject,
        "messages": [{"author": m.author, "body": m.body, "public": m.public, "at": m.at} for m in ticket.messages],
        "tags": list(ticket.tags), "priority": ticket.priority, "status": ticket.status, "channel": ticket.channel,
        "group": ticket.group, "created_at": ticket.created_at, "solved_at": ticket.solved_at,
        "satisfaction": ticket.satisfaction, "reopened": ticket.reopened,
        "requester": {"id": ticket.requester.id, "vip": ticket.requester.vip, "plan": ticket.requester.plan},
        "page_url": ticket.page_url, "intent": ticket.intent,
    }


# -- articles -------------------------------------------------------------------------------------------------

def build_article(raw: Mapping[str, Any], sections: Mapping[str, Mapping[str, Any]],
                  categories: Mapping[str, Mapping[str, Any]]) -> Article:
    section = sections.get(sid(raw.get("section_id")) or "") or {}
    category = categories.get(sid(section.get("category_id")) or "") or {}
    return Article(
        id=str(raw["id"]), title=raw.get("title") or "", body_html=raw.get("body") or "", vendor=VENDOR,
        url=raw.get("html_url") or "", locale=raw.get("locale") or "en-us",
        labels=tuple(raw.get("label_names") or ()), section=section.get("name") or "",
        category=category.get("name") or "", updated_at=raw.get("updated_at") or raw.get("edited_at"),
        draft=bool(raw.get("draft")),
    )
