"""The admin dashboard (`GET /`): decisions, escalations, the inbox and parked events, behind a login.

HTTP basic auth with one password from BOT_DASHBOARD_PASSWORD (user name free): the dashboard is read-only
and self-hosted, so a session system would be more to get wrong than it protects. Off (404) until the
password is set. Pages are rendered server-side with bot/reports/html.py: no JavaScript, no assets to fetch.
"""
from __future__ import annotations

import datetime as dt
import hmac
from collections import Counter

from flask import Blueprint, Response, current_app, request
from sqlalchemy import func, select

from bot.db import DecisionLog, InboxEvent, utcnow
from bot.reports.html import badge, bar_chart, page, table

RECENT = 50

dashboard = Blueprint("dashboard", __name__)


def _authorised(password: str) -> bool:
    auth = request.authorization
    given = (auth.password or "") if auth is not None else ""
    return hmac.compare_digest(given.encode(), password.encode())


@dashboard.before_request
def _login():
    service = current_app.extensions["bot"]
    password = service.settings.dashboard_password
    if not password:
        return Response('{"status": "not_found", "reason": "the dashboard is off (BOT_DASHBOARD_PASSWORD unset)"}',
                        404, content_type="application/json")
    if not _authorised(password):
        return Response("login required", 401, {"WWW-Authenticate": 'Basic realm="support bot", charset="UTF-8"'})
    return None


@dashboard.get("/")
def overview():
    service = current_app.extensions["bot"]
    since = utcnow() - dt.timedelta(days=7)
    with service.sessions() as s:
        inbox = dict(s.execute(select(InboxEvent.status, func.count()).group_by(InboxEvent.status)).all())
        week = s.execute(select(DecisionLog.action, DecisionLog.control, DecisionLog.mode)
                         .where(DecisionLog.decided_at >= since)).all()
        recent = s.execute(select(DecisionLog).order_by(DecisionLog.decided_at.desc()).limit(RECENT)).scalars().all()
        parked = s.execute(select(InboxEvent).where(InboxEvent.status == "parked")
                           .order_by(InboxEvent.updated_at.desc()).limit(RECENT)).scalars().all()
        rows = [_decision_row(d) for d in recent]
        escalations = [r for r, d in zip(rows, recent) if d.action == "escalate" and not d.control]
        parked_rows = [(e.id, e.vendor, e.ticket_id, e.attempts, e.updated_at.strftime("%Y-%m-%d %H:%M"),
                        e.last_error or "") for e in parked]
    actions = Counter("control" if c else a for a, c, _ in week)
    headers = ("when", "ticket", "action", "intent", "confidence", "mode", "reasons")
    sections = [
        ("Last 7 days", bar_chart(list(actions), list(actions.values())) if actions
         else '<p class="muted">no decisions in the last 7 days</p>'),
        ("Inbox", table(("status", "events"), sorted(inbox.items()), numeric=(1,)) if inbox
         else '<p class="muted">empty: no webhook received yet</p>'),
        ("Escalations (latest)", table(headers, escalations, numeric=(4,), raw=(2,)) if escalations
         else '<p class="muted">none</p>'),
        ("Decisions (latest)", table(headers, rows, numeric=(4,), raw=(2,))),
        ("Parked events", table(("id", "vendor", "ticket", "attempts", "at", "error"), parked_rows)
         if parked_rows else '<p class="muted">none: run `bot inbox --requeue-parked` after fixing a cause</p>'),
        ("More", '<p><a href="/metrics">metrics</a> · <a href="/healthz">health</a> · '
                 "the readiness checklist: <code>bot checklist --html FILE</code></p>"),
    ]
    return page("Support bot", f"as of {utcnow():%Y-%m-%d %H:%M} UTC", sections)


def _decision_row(d: DecisionLog) -> tuple:
    reasons = "; ".join((d.decision_json or {}).get("reasons") or [])
    action = "control" if d.control else d.action
    return (d.decided_at.strftime("%Y-%m-%d %H:%M"), f"{d.vendor} {d.ticket_id}", badge(action), d.intent or "",
            f"{d.confidence:.2f}", d.mode, reasons[:300])
