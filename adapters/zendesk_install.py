"""`bot install zendesk`: the webhook and the two triggers that send new customer activity to the bot.

Everything we create is found again by its name or title ("Support bot ..."), so a rerun changes nothing, a
changed URL updates the one webhook instead of adding a second, and uninstall deletes exactly what install
made. The webhook is connected to triggers ("conditional_ticket_events"): Zendesk only sends ticket activity
to webhooks wired that way, and the triggers' JSON body is our TRIGGER_TEMPLATE_V1, ids only.

Trigger conditions: a ticket created (update_type Create) or a public comment added (update_type Change +
comment_is_public) by someone whose role is end user, on a ticket not tagged bot_off. The role condition
keeps the bot's own writes (it is an agent) and agents' replies from waking it up.

Doc sources: "Webhooks" API (create, list, update, delete, signing secret), "Triggers" API, "Conditions
reference", "Actions reference" (notification_webhook).
"""
from __future__ import annotations

import hmac
import json
from typing import TYPE_CHECKING, Any, Optional
from urllib.parse import urlparse

from adapters.http import VendorError
from adapters.zendesk_map import BOT_OFF_TAG
from adapters.zendesk_webhook import render_trigger_body
from bot.errors import BadInput

if TYPE_CHECKING:
    from adapters.zendesk import ZendeskAdapter

WEBHOOK_NAME = "Support bot webhook"
WEBHOOK_PATH = "/webhooks/zendesk"
TRIGGER_TITLES = {
    "ticket_created": "Support bot: new ticket from an end user",
    "comment_added": "Support bot: public comment from an end user",
}


def webhook_endpoint(url: str) -> str:
    parsed = urlparse(url.strip())
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise BadInput(f"--url: not an http(s) URL: {url!r}")
    base = url.strip().rstrip("/")
    return base if base.endswith(WEBHOOK_PATH) else base + WEBHOOK_PATH


def webhook_spec(endpoint: str) -> dict:
    return {"name": WEBHOOK_NAME, "status": "active", "endpoint": endpoint, "http_method": "POST",
            "request_format": "json", "subscriptions": ["conditional_ticket_events"],
            "description": "Sends new end-user tickets and public comments to the self-hosted support bot."}


def trigger_spec(kind: str, webhook_id: str) -> dict:
    conditions = [{"field": "update_type", "operator": "is", "value": "Create" if kind == "ticket_created"
                   else "Change"}]
    if kind == "comment_added":
        conditions.append({"field": "comment_is_public", "operator": "is", "value": "true"})
    conditions += [{"field": "role", "operator": "is", "value": "end_user"},
                   {"field": "current_tags", "operator": "not_includes", "value": BOT_OFF_TAG}]
    return {
        "title": TRIGGER_TITLES[kind], "active": True,
        "description": "Created by `bot install zendesk`; removed by `bot uninstall zendesk`.",
        "conditions": {"all": conditions, "any": []},
        "actions": [{"field": "notification_webhook", "value": [webhook_id, render_trigger_body(kind)]}],
    }


# -- finding what is there ------------------------------------------------------------------------------------

def find_webhook(a: "ZendeskAdapter") -> Optional[dict]:
    for wh in a.items("/api/v2/webhooks", "webhooks", {"filter[name_contains]": "Support bot"}):
        if wh.get("name") == WEBHOOK_NAME:
            return wh
    return None


def find_triggers(a: "ZendeskAdapter") -> dict[str, dict]:
    by_title = {title: kind for kind, title in TRIGGER_TITLES.items()}
    found: dict[str, dict] = {}
    for trig in a.items("/api/v2/triggers.json", "triggers"):
        kind = by_title.get(trig.get("title"))
        if kind and kind not in found:
            found[kind] = trig
    return found


def _signing_secret(a: "ZendeskAdapter", webhook_id: str) -> Optional[str]:
    data = a.http.get_json(f"/api/v2/webhooks/{webhook_id}/signing_secret")
    return ((data or {}).get("signing_secret") or {}).get("secret")


def _norm_trigger(trig: dict) -> tuple:
    """Comparable form: Zendesk echoes values back as strings and may re-indent our JSON body."""
    conds = tuple((c.get("field"), c.get("operator"), str(c.get("value")).lower())
                  for c in (trig.get("conditions") or {}).get("all") or ())
    actions = []
    for act in trig.get("actions") or ():
        value = act.get("value")
        if isinstance(value, list) and len(value) == 2:
            try:
                value = [str(value[0]), json.loads(value[1])]
            except (TypeError, ValueError):
                value = [str(v) for v in value]
        actions.append((act.get("field"), json.dumps(value, sort_keys=True)))
    return bool(trig.get("active")), conds, tuple(actions)


# -- install / check / uninstall ------------------------------------------------------------------------------

def install(a: "ZendeskAdapter", url: str) -> dict:
    endpoint = webhook_endpoint(url)
    spec = webhook_spec(endpoint)
    done: dict[str, Any] = {"vendor": "zendesk", "endpoint": endpoint}
    webhook = find_webhook(a)
    if webhook is None:
        webhook = a.http.send_json("POST", "/api/v2/webhooks", {"webhook": spec})["webhook"]
        done["webhook"] = {"id": str(webhook["id"]), "action": "created"}
    elif webhook.get("endpoint") != endpoint or webhook.get("status") != "active" \
            or "conditional_ticket_events" not in (webhook.get("subscriptions") or ()):
        a.http.send_json("PUT", f"/api/v2/webhooks/{webhook['id']}", {"webhook": spec})
        done["webhook"] = {"id": str(webhook["id"]), "action": "updated"}
    else:
        done["webhook"] = {"id": str(webhook["id"]), "action": "unchanged"}
    webhook_id = str(webhook["id"])
    existing = find_triggers(a)
    done["triggers"] = []
    for kind in TRIGGER_TITLES:
        want = trigger_spec(kind, webhook_id)
        have = existing.get(kind)
        if have is None:
            made = a.http.send_json("POST", "/api/v2/triggers.json", {"trigger": want})["trigger"]
            done["triggers"].append({"id": str(made["id"]), "title": want["title"], "action": "created"})
        elif _norm_trigger(have) != _norm_trigger(want):
            a.http.send_json("PUT", f"/api/v2/triggers/{have['id']}.json", {"trigger": want})
            done["triggers"].append({"id": str(have["id"]), "title": want["title"], "action": "updated"})
        else:
            done["triggers"].append({"id": str(have["id"]), "title": want["title"], "action": "unchanged"})
    secret = _signing_secret(a, webhook_id)
    # The operator needs the secret once, to set ZENDESK_WEBHOOK_SECRET; it is returned, never logged.
    done["signing_secret"] = secret
    done["secret_matches_settings"] = bool(secret and a.settings.webhook_secret
                                           and hmac.compare_digest(secret, a.settings.webhook_secret))
    return done


def check(a: "ZendeskAdapter", url: Optional[str] = None) -> list[str]:
    """Problems with the installation, each a one-line reason; an empty list means all is well."""
    problems: list[str] = []
    try:
        me = (a.http.get_json("/api/v2/users/me.json") or {}).get("user") or {}
    except VendorError as exc:
        return [f"credentials: Zendesk refused them ({exc.reason}); check ZENDESK_EMAIL and ZENDESK_API_TOKEN"]
    if me.get("id") is None:
        return ["credentials: Zendesk answered as the anonymous user; check ZENDESK_EMAIL and ZENDESK_API_TOKEN"]
    if me.get("role") not in ("agent", "admin"):
        problems.append(f"credentials: the API user's role is {me.get('role')!r}; it cannot update tickets")
    webhook = find_webhook(a)
    if webhook is None:
        problems.append(f"webhook: {WEBHOOK_NAME!r} not found; run `bot install zendesk --url URL`")
    else:
        if webhook.get("status") != "active":
            problems.append(f"webhook: {WEBHOOK_NAME!r} is {webhook.get('status')!r}, not active")
        if url and webhook.get("endpoint") != webhook_endpoint(url):
            problems.append(f"webhook: endpoint is {webhook.get('endpoint')!r}, expected {webhook_endpoint(url)!r}")
        if "conditional_ticket_events" not in (webhook.get("subscriptions") or ()):
            problems.append("webhook: not connected to triggers (subscriptions lack conditional_ticket_events)")
        secret = _signing_secret(a, str(webhook["id"]))
        if not a.settings.webhook_secret:
            problems.append("secret: ZENDESK_WEBHOOK_SECRET is not set")
        elif not secret or not hmac.compare_digest(secret, a.settings.webhook_secret):
            problems.append("secret: ZENDESK_WEBHOOK_SECRET does not match the webhook's signing secret")
    triggers = find_triggers(a)
    for kind, title in TRIGGER_TITLES.items():
        trig = triggers.get(kind)
        if trig is None:
            problems.append(f"trigger: {title!r} not found; run `bot install zendesk --url URL`")
            continue
        if not trig.get("active"):
            problems.append(f"trigger: {title!r} is inactive")
        if webhook is not None and _norm_trigger(trig) != _norm_trigger(trigger_spec(kind, str(webhook["id"]))):
            problems.append(f"trigger: {title!r} differs from what install sets up; rerun `bot install zendesk`")
    return problems


def uninstall(a: "ZendeskAdapter") -> dict:
    """Delete our triggers first (Zendesk keeps a webhook that triggers still use), then our webhook."""
    deleted: dict[str, Any] = {"vendor": "zendesk", "triggers": [], "webhook": None}
    for kind, trig in find_triggers(a).items():
        _delete(a, f"/api/v2/triggers/{trig['id']}.json")
        deleted["triggers"].append({"id": str(trig["id"]), "title": TRIGGER_TITLES[kind]})
    webhook = find_webhook(a)
    if webhook is not None:
        _delete(a, f"/api/v2/webhooks/{webhook['id']}")
        deleted["webhook"] = {"id": str(webhook["id"]), "name": WEBHOOK_NAME}
    return deleted


def _delete(a: "ZendeskAdapter", path: str) -> None:
    try:
        a.http.send_json("DELETE", path)
    except VendorError as exc:
        if exc.status != 404:  # already gone is what we wanted
            raise
