"""Zendesk deliveries: proving they come from Zendesk, and reducing them to ids the queue can act on.

Two shapes arrive at POST /webhooks/zendesk:
  * a trigger-connected webhook whose JSON body is our own template (TRIGGER_TEMPLATE_V1), which is what
    `bot install zendesk` sets up: Zendesk only sends ticket activity through triggers for webhooks created
    with the "conditional_ticket_events" subscription;
  * an event-subscription webhook (`zen:event-type:ticket.created` / `ticket.comment_added`, "Ticket events"
    reference), for accounts that wired one by hand.
Both carry no customer text that we read: the worker loads the ticket itself, so a forged or replayed body
can at worst make us look at a ticket, never make us say something.

Doc sources: "Verifying webhook authenticity" (signature), "Ticket events" (event payloads),
"Zendesk placeholders reference" (template placeholders).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from datetime import datetime, timezone
from typing import Any, Mapping, Optional

from adapters.base import Ignored, WebhookEvent, WebhookRejected

VENDOR = "zendesk"
SIGNATURE_HEADER = "X-Zendesk-Webhook-Signature"
TIMESTAMP_HEADER = "X-Zendesk-Webhook-Signature-Timestamp"
INVOCATION_HEADER = "X-Zendesk-Webhook-Invocation-Id"
REPLAY_WINDOW_S = 300.0

# The body our two triggers send. Every value is a quoted string so the JSON stays valid whatever a
# placeholder renders to (an empty string when there is no comment). Only ids, flags and the role: no
# subject or comment text, so the webhook never carries customer words. "event" is filled per trigger.
TRIGGER_TEMPLATE_V1: dict[str, Any] = {
    "bot_template": 1,
    "event": "comment_added",  # ticket_created | comment_added, set by render_trigger_body()
    "ticket_id": "{{ticket.id}}",
    "comment_id": "{{ticket.latest_comment.id}}",
    "comment_author_id": "{{ticket.latest_comment.author.id}}",
    "comment_public": "{{ticket.latest_comment.is_public}}",
    "updater_id": "{{current_user.id}}",
    "updater_role": "{{current_user.role}}",
}
TEMPLATE_EVENTS = ("ticket_created", "comment_added")

EVENT_TYPES = {
    "zen:event-type:ticket.created": "ticket_created",
    "zen:event-type:ticket.comment_added": "comment_added",
}

_ID = re.compile(r"[0-9]{1,20}")


def render_trigger_body(kind: str) -> str:
    """The JSON text a trigger's notification_webhook action carries for one event kind."""
    if kind not in TEMPLATE_EVENTS:
        raise ValueError(f"unknown trigger event {kind!r}")
    return json.dumps({**TRIGGER_TEMPLATE_V1, "event": kind}, indent=2)


# -- signature ----------------------------------------------------------------------------------------------

def verify_zendesk_signature(secret: str, timestamp: Optional[str], body: bytes, signature: Optional[str],
                             now: float) -> None:
    """Raise WebhookRejected(401) unless signature == base64(HMAC-SHA256(secret, timestamp + body)).

    The timestamp is signed byte for byte as sent, and must be within 5 minutes of `now` either way, so a
    captured delivery cannot be replayed later and a clock-skewed forgery cannot be pre-dated.
    """
    if not secret:
        raise WebhookRejected(401, "no Zendesk signing secret is configured")
    if not timestamp:
        raise WebhookRejected(401, f"missing {TIMESTAMP_HEADER} header")
    if not signature:
        raise WebhookRejected(401, f"missing {SIGNATURE_HEADER} header")
    when = _parse_iso(timestamp)
    if when is None:
        raise WebhookRejected(401, "signature timestamp is not an ISO-8601 time")
    skew = now - when
    if skew > REPLAY_WINDOW_S:
        raise WebhookRejected(401, "signature timestamp is older than 5 minutes")
    if skew < -REPLAY_WINDOW_S:
        raise WebhookRejected(401, "signature timestamp is more than 5 minutes in the future")
    digest = hmac.new(secret.encode("utf-8"), timestamp.encode("utf-8") + body, hashlib.sha256).digest()
    expected = base64.b64encode(digest)
    if not hmac.compare_digest(expected, signature.strip().encode("utf-8", "replace")):
        raise WebhookRejected(401, "signature does not match")


def header(headers: Mapping[str, str], name: str) -> Optional[str]:
    """Case-insensitive header lookup that works for plain dicts as well as framework header objects."""
    value = headers.get(name)
    if value is None:
        lowered = name.lower()
        for key, val in headers.items():
            if isinstance(key, str) and key.lower() == lowered:
                return val
    return value


def _parse_iso(text: str) -> Optional[float]:
    try:
        dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    try:
        return dt.timestamp()
    except (OverflowError, OSError, ValueError):
        return None


# -- parsing ------------------------------------------------------------------------------------------------

def parse_zendesk_webhook(headers: Mapping[str, str], body: bytes,
                          bot_user_id: Optional[str]) -> WebhookEvent | Ignored:
    """A verified body -> WebhookEvent, Ignored(reason), or WebhookRejected(400) naming the missing field.

    Never raises anything else, whatever the bytes: the web handler turns only WebhookRejected into an answer.
    """
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise WebhookRejected(400, "body is not JSON") from None
    if not isinstance(data, dict):
        raise WebhookRejected(400, "body is not a JSON object")
    auto = header(headers, "Auto-Submitted")
    auto_submitted = bool(auto) and auto.strip().lower() != "no"
    invocation = header(headers, INVOCATION_HEADER)
    if "bot_template" in data:
        event = _from_template(data, invocation, auto_submitted)
    elif "type" in data:
        event = _from_event(data, invocation, auto_submitted)
    else:
        raise WebhookRejected(400, "missing field: bot_template (trigger template) or type (Zendesk event)")
    if isinstance(event, Ignored):
        return event
    return _guard(event, bot_user_id)


def _guard(event: WebhookEvent, bot_user_id: Optional[str]) -> WebhookEvent | Ignored:
    if event.auto_submitted:
        return Ignored("auto-reply (Auto-Submitted)")
    if bot_user_id and event.author_id == str(bot_user_id):
        return Ignored("the bot's own update")
    if event.author_role in ("agent", "admin", "bot"):
        return Ignored(f"update by an {event.author_role}, not the customer")
    if event.kind == "comment_added" and event.public is False:
        return Ignored("private comment")
    return event


def _from_template(data: dict, invocation: Optional[str], auto_submitted: bool) -> WebhookEvent | Ignored:
    version = data.get("bot_template")
    if isinstance(version, bool) or version not in (1, "1"):
        raise WebhookRejected(400, f"bot_template: unsupported version {_short(version)}")
    kind = data.get("event")
    if not isinstance(kind, str) or not kind:
        raise WebhookRejected(400, "missing field: event")
    ticket_id = _id(data.get("ticket_id"), "ticket_id", required=True)
    if kind not in TEMPLATE_EVENTS:
        return Ignored(f"unknown event {_short(kind)}")
    comment_id = _id(data.get("comment_id"), "comment_id")
    author_id = _id(data.get("comment_author_id"), "comment_author_id") or _id(data.get("updater_id"), "updater_id")
    role = _role(data.get("updater_role"))
    public = _flag(data.get("comment_public"))
    delivery = invocation or f"{ticket_id}:{comment_id or kind}"
    return WebhookEvent(vendor=VENDOR, delivery_id=str(delivery)[:200], ticket_id=ticket_id, kind=kind,
                        comment_id=comment_id, author_id=author_id, author_role=role, public=public,
                        auto_submitted=auto_submitted)


def _from_event(data: dict, invocation: Optional[str], auto_submitted: bool) -> WebhookEvent | Ignored:
    etype = data.get("type")
    if not isinstance(etype, str) or not etype:
        raise WebhookRejected(400, "missing field: type")
    detail = data.get("detail")
    if detail is not None and not isinstance(detail, dict):
        raise WebhookRejected(400, "detail: not an object")
    detail = detail or {}
    ticket_id = _id(detail.get("id"), "detail.id")
    subject = data.get("subject")
    if ticket_id is None and isinstance(subject, str) and subject.startswith("zen:ticket:"):
        ticket_id = _id(subject[len("zen:ticket:"):], "subject")
    kind = EVENT_TYPES.get(etype)
    if kind is None:
        return Ignored(f"event type {_short(etype)} is not handled")
    if ticket_id is None:
        raise WebhookRejected(400, "missing field: detail.id (or subject zen:ticket:<id>)")
    event = data.get("event")
    if event is not None and not isinstance(event, dict):
        raise WebhookRejected(400, "event: not an object")
    event = event or {}
    comment_id = author_id = role = None
    public: Optional[bool] = None
    if kind == "comment_added":
        comment = event.get("comment")
        if not isinstance(comment, dict):
            raise WebhookRejected(400, "missing field: event.comment")
        comment_id = _id(comment.get("id"), "event.comment.id", required=True)
        public = _flag(comment.get("is_public"))
        author = comment.get("author")
        if isinstance(author, dict):
            author_id = _id(author.get("id"), "event.comment.author.id")
            staff = _flag(author.get("is_staff"))
            role = "agent" if staff else ("end-user" if staff is False else None)
    else:
        author_id = _id(detail.get("actor_id"), "detail.actor_id") or _id(detail.get("submitter_id"),
                                                                          "detail.submitter_id")
    event_id = data.get("id")
    delivery = invocation or (event_id if isinstance(event_id, str) and event_id else None) \
        or f"{ticket_id}:{comment_id or kind}"
    return WebhookEvent(vendor=VENDOR, delivery_id=str(delivery)[:200], ticket_id=ticket_id, kind=kind,
                        comment_id=comment_id, author_id=author_id, author_role=role, public=public,
                        auto_submitted=auto_submitted)


def _id(value: Any, name: str, required: bool = False) -> Optional[str]:
    """A Zendesk id as a string of ASCII digits; empty means absent (placeholders render empty)."""
    if isinstance(value, bool):
        raise WebhookRejected(400, f"{name}: not an id")
    if isinstance(value, int):
        if value <= 0 or value >= 10 ** 20:
            raise WebhookRejected(400, f"{name}: not an id")
        return str(value)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise WebhookRejected(400, f"missing field: {name}")
        return None
    if isinstance(value, str) and _ID.fullmatch(value.strip()) and int(value.strip()) > 0:
        return str(int(value.strip()))
    raise WebhookRejected(400, f"{name}: not an id")


def _role(value: Any) -> Optional[str]:
    """{{current_user.role}} renders a label ("End-user", "Agent", "Admin", or a custom agent role's name).

    Unknown labels stay unknown rather than counting as staff: the triggers already require an end user,
    and wrongly dropping every customer event would be worse than letting the worker's guards decide.
    """
    if not isinstance(value, str):
        return None
    v = re.sub(r"[\s_]+", "-", value.strip().lower())
    if "admin" in v:
        return "admin"
    if "agent" in v:
        return "agent"
    if v.replace("-", "") == "enduser":
        return "end-user"
    return None


def _flag(value: Any) -> Optional[bool]:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        v = value.strip().lower()
        if v in ("true", "1", "yes"):
            return True
        if v in ("false", "0", "no"):
            return False
    return None


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else type(value).__name__
    return repr(text[:60])
