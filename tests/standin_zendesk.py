"""A stand-in for the slice of Zendesk the bot talks to, on 127.0.0.1, keeping ticket state in memory.

Zendesk is never reachable from tests, and `responses` only checks what one process sends. End-to-end tests
(gunicorn web + Celery worker with ZENDESK_URL pointing here) need a server that remembers: a PUT appends the
comment and bumps updated_at so safe_update can refuse a stale write with 409, install creates webhooks and
triggers that a rerun must find again, and every request is counted (the "3 API calls per ticket" bench).
It can also be told to answer 429 (with Retry-After) or 5xx for the next N requests, or to answer them slowly
(`delay`, so a worker can be killed mid-call), and, like Zendesk,
it fires active triggers: when an end user opens a ticket or comments, a matching trigger's webhook body is
rendered (placeholders filled) and POSTed, signed, to the webhook endpoint.

Shapes follow the Zendesk docs as the fixtures in fixtures/zendesk/ do; only what the bot uses is here.
"""
from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import itertools
import json
import re
import secrets as _secrets
import threading
import time
from collections import deque
from datetime import datetime, timedelta, timezone
from typing import Any, Optional

import requests
from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

PRIORITIES = ("low", "normal", "high", "urgent")
ROLE_LABEL = {"end-user": "End-user", "agent": "Agent", "admin": "Admin"}
ROLE_CONDITION = {"end-user": "end_user", "agent": "agent", "admin": "admin"}


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


def _iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


class StandinZendesk:
    def __init__(self, *, email: str = "bot@example.com", token: str = "test-token",
                 signing_secret: Optional[str] = None, fire_triggers: bool = True, host: str = "127.0.0.1",
                 port: int = 0):
        self.email, self.token = email, token
        self.signing_secret = signing_secret  # None: a random secret per webhook, like Zendesk
        self.fire_triggers = fire_triggers
        self.host, self.port = host, port
        self.lock = threading.RLock()
        self._ids = itertools.count(100001)
        self._now = datetime(2026, 9, 1, 10, 0, 0, tzinfo=timezone.utc)
        self.users: dict[int, dict] = {}
        self.orgs: dict[int, dict] = {}
        self.groups: dict[int, dict] = {}
        self.tickets: dict[int, dict] = {}
        self.comments: dict[int, list[dict]] = {}
        self.webhooks: dict[str, dict] = {}
        self.webhook_secrets: dict[str, str] = {}
        self.triggers: dict[int, dict] = {}
        self.articles: list[dict] = []
        self.sections: list[dict] = []
        self.categories: list[dict] = []
        self.calls: list[tuple[str, str]] = []
        self.deliveries: list[dict] = []
        self._faults: deque = deque()
        self._delays: dict[tuple[str, str], deque] = {}
        self.me_id = self.add_user("Support Bot", role="admin", email=email)
        self._server = None
        self._thread: Optional[threading.Thread] = None
        self._routes = Map([
            Rule("/api/v2/users/me.json", endpoint="me", methods=["GET"]),
            Rule("/api/v2/tickets/<int:tid>.json", endpoint="ticket", methods=["GET", "PUT"]),
            Rule("/api/v2/tickets/<int:tid>/comments.json", endpoint="comments", methods=["GET"]),
            Rule("/api/v2/groups.json", endpoint="groups", methods=["GET"]),
            Rule("/api/v2/webhooks", endpoint="webhooks", methods=["GET", "POST"]),
            Rule("/api/v2/webhooks/<wid>", endpoint="webhook", methods=["GET", "PUT", "PATCH", "DELETE"]),
            Rule("/api/v2/webhooks/<wid>/signing_secret", endpoint="signing_secret", methods=["GET"]),
            Rule("/api/v2/triggers.json", endpoint="triggers", methods=["GET", "POST"]),
            Rule("/api/v2/triggers/<int:trid>.json", endpoint="trigger", methods=["GET", "PUT", "DELETE"]),
            Rule("/api/v2/incremental/tickets/cursor.json", endpoint="export", methods=["GET"]),
            Rule("/api/v2/help_center/articles.json", endpoint="articles", methods=["GET"]),
            Rule("/api/v2/help_center/sections.json", endpoint="sections", methods=["GET"]),
            Rule("/api/v2/help_center/categories.json", endpoint="categories", methods=["GET"]),
        ])

    # -- life cycle -------------------------------------------------------------------------------------------

    def start(self) -> "StandinZendesk":
        self._server = make_server(self.host, self.port, self._wsgi, threaded=True, request_handler=_QuietHandler)
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, name="standin-zendesk", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = None

    def __enter__(self) -> "StandinZendesk":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # -- seeding and inspection (test side) ----------------------------------------------------------------------

    def _tick(self) -> str:
        self._now += timedelta(seconds=1)  # every change moves time on, so updated_at always differs
        return _iso(self._now)

    def add_user(self, name: str, *, role: str = "end-user", email: Optional[str] = None,
                 organization_id: Optional[int] = None, tags: tuple = (), user_fields: Optional[dict] = None) -> int:
        with self.lock:
            uid = next(self._ids)
            self.users[uid] = {"id": uid, "name": name, "email": email or f"user{uid}@example.org", "role": role,
                               "organization_id": organization_id, "tags": list(tags),
                               "user_fields": dict(user_fields or {}), "active": True}
            return uid

    def add_org(self, name: str, *, tags: tuple = (), organization_fields: Optional[dict] = None) -> int:
        with self.lock:
            oid = next(self._ids)
            self.orgs[oid] = {"id": oid, "name": name, "tags": list(tags),
                              "organization_fields": dict(organization_fields or {})}
            return oid

    def add_group(self, name: str) -> int:
        with self.lock:
            gid = next(self._ids)
            self.groups[gid] = {"id": gid, "name": name, "deleted": False}
            return gid

    def add_article(self, title: str, body: str, *, section: str = "General", category: str = "Help",
                    draft: bool = False, labels: tuple = ()) -> int:
        with self.lock:
            cat = next((c for c in self.categories if c["name"] == category), None)
            if cat is None:
                cat = {"id": next(self._ids), "name": category, "locale": "en-us"}
                self.categories.append(cat)
            sec = next((s for s in self.sections if s["name"] == section), None)
            if sec is None:
                sec = {"id": next(self._ids), "name": section, "category_id": cat["id"], "locale": "en-us"}
                self.sections.append(sec)
            aid = next(self._ids)
            self.articles.append({"id": aid, "title": title, "body": body, "section_id": sec["id"], "draft": draft,
                                  "locale": "en-us", "label_names": list(labels), "updated_at": _iso(self._now),
                                  "html_url": f"{self.url}/hc/en-us/articles/{aid}"})
            return aid

    def create_ticket(self, requester_id: int, subject: str, body: str, *, tags: tuple = (),
                      priority: Optional[str] = None, group_id: Optional[int] = None, channel: str = "web",
                      custom_fields: Optional[list] = None, organization_id: Optional[int] = None) -> int:
        with self.lock:
            tid = next(self._ids)
            now = self._tick()
            self.tickets[tid] = {
                "id": tid, "url": f"{self.url}/api/v2/tickets/{tid}.json", "subject": subject,
                "raw_subject": subject, "description": body, "status": "new", "priority": priority,
                "requester_id": requester_id, "submitter_id": requester_id, "assignee_id": None,
                "organization_id": organization_id or self.users[requester_id].get("organization_id"),
                "group_id": group_id, "tags": list(tags), "custom_fields": list(custom_fields or []),
                "via": {"channel": channel}, "created_at": now, "updated_at": now,
                "satisfaction_rating": {"score": "unoffered"}}
            self.comments[tid] = []
            comment = self._add_comment(tid, requester_id, body, True, {}, now)
        self._fire(tid, "Create", comment, requester_id, sync=True)
        return tid

    def add_comment(self, ticket_id: int, author_id: int, body: str, *, public: bool = True,
                    metadata: Optional[dict] = None) -> int:
        with self.lock:
            ticket = self.tickets[ticket_id]
            now = self._tick()
            comment = self._add_comment(ticket_id, author_id, body, public, metadata or {}, now)
            ticket["updated_at"] = now
            if self.users.get(author_id, {}).get("role") == "end-user" and ticket["status"] in ("solved", "pending"):
                ticket["status"] = "open"
        self._fire(ticket_id, "Change", comment, author_id, sync=True)
        return comment["id"]

    def update(self, ticket_id: int, **fields: Any) -> None:
        """Change a ticket as an agent would in the UI (assignee_id, status, tags...), bumping updated_at."""
        with self.lock:
            self.tickets[ticket_id].update(fields)
            self.tickets[ticket_id]["updated_at"] = self._tick()

    def _add_comment(self, tid: int, author_id: int, body: str, public: bool, custom: dict, now: str) -> dict:
        cid = next(self._ids)
        text = re.sub(r"<[^>]+>", "", body)
        comment = {"id": cid, "type": "Comment", "author_id": author_id, "body": text, "plain_body": text,
                   "html_body": body if body.lstrip().startswith("<") else f"<p>{body}</p>", "public": public,
                   "attachments": [], "audit_id": next(self._ids), "via": {"channel": "web"}, "created_at": now,
                   "metadata": {"system": {}, "custom": copy.deepcopy(custom)}}
        self.comments[tid].append(comment)
        return comment

    def fail_next(self, n: int = 1, status: int = 429, retry_after: Optional[str] = None) -> None:
        """The next n requests get `status` (with Retry-After when given) instead of an answer."""
        with self.lock:
            for _ in range(n):
                self._faults.append((status, retry_after))

    def delay(self, seconds: float, *, method: str = "GET", path: str, n: int = 1) -> None:
        """The next n `method` requests on exactly `path` wait `seconds` before being answered: a slow vendor,
        so a test can kill a worker while it waits on a call (the wait does not hold the stand-in's lock)."""
        with self.lock:
            self._delays.setdefault((method.upper(), path), deque()).extend([float(seconds)] * n)

    def delay_ticket(self, ticket_id: int, seconds: float, n: int = 1) -> None:
        """The next n GETs of ticket `ticket_id` (the worker's first call for an event) are slow."""
        self.delay(seconds, method="GET", path=f"/api/v2/tickets/{ticket_id}.json", n=n)

    def count(self, method: Optional[str] = None, prefix: str = "") -> int:
        with self.lock:
            return sum(1 for m, p in self.calls if (method is None or m == method) and p.startswith(prefix))

    def reset_counts(self) -> None:
        with self.lock:
            self.calls.clear()

    def snapshot(self) -> dict:
        """What install/uninstall touch, for comparing account state before and after."""
        with self.lock:
            return copy.deepcopy({"webhooks": self.webhooks, "triggers": self.triggers})

    def secret_of(self, webhook_id: str) -> str:
        return self.webhook_secrets[webhook_id]

    @staticmethod
    def sign(secret: str, body: bytes, timestamp: Optional[str] = None) -> dict:
        ts = timestamp or _iso(datetime.now(timezone.utc))
        sig = base64.b64encode(hmac.new(secret.encode(), ts.encode() + body, hashlib.sha256).digest()).decode()
        return {"X-Zendesk-Webhook-Signature": sig, "X-Zendesk-Webhook-Signature-Timestamp": ts,
                "Content-Type": "application/json"}

    # -- triggers -> webhooks ---------------------------------------------------------------------------------

    def _fire(self, tid: int, update_type: str, comment: Optional[dict], updater_id: int, sync: bool) -> None:
        if not self.fire_triggers:
            return
        jobs = []
        with self.lock:
            ticket = self.tickets[tid]
            updater = self.users.get(updater_id, {"id": updater_id, "role": "agent"})
            for trig in sorted(self.triggers.values(), key=lambda t: t["position"]):
                if not trig.get("active") or not self._matches(trig, ticket, update_type, comment, updater):
                    continue
                for action in trig.get("actions") or ():
                    if action.get("field") != "notification_webhook":
                        continue
                    wid, template = action["value"][0], action["value"][1]
                    hook = self.webhooks.get(str(wid))
                    if hook is None or hook.get("status") != "active":
                        continue
                    body = self._render(template, ticket, comment, updater).encode()
                    jobs.append((hook["endpoint"], self.webhook_secrets[hook["id"]], body, hook["id"], trig["id"]))
        threads = [threading.Thread(target=self._deliver, args=job, daemon=True) for job in jobs]
        for t in threads:
            t.start()
        if sync:
            for t in threads:
                t.join(timeout=30)

    def _deliver(self, endpoint: str, secret: str, body: bytes, webhook_id: str, trigger_id: int) -> None:
        headers = self.sign(secret, body)
        headers["X-Zendesk-Webhook-Id"] = webhook_id
        headers["X-Zendesk-Webhook-Invocation-Id"] = f"inv-{_secrets.token_hex(8)}"
        try:
            status: Any = requests.post(endpoint, data=body, headers=headers, timeout=10).status_code
        except requests.RequestException as exc:
            status = type(exc).__name__
        with self.lock:
            self.deliveries.append({"webhook_id": webhook_id, "trigger_id": trigger_id, "status": status,
                                    "body": body.decode()})

    def _matches(self, trig: dict, ticket: dict, update_type: str, comment: Optional[dict], updater: dict) -> bool:
        conds = trig.get("conditions") or {}
        def one(c: dict) -> bool:
            field, op, value = c.get("field"), c.get("operator", "is"), str(c.get("value")).lower()
            if field == "update_type":
                got = update_type.lower() == value
            elif field == "comment_is_public":
                got = comment is not None and str(bool(comment["public"])).lower() == value
            elif field == "role":
                got = ROLE_CONDITION.get(updater.get("role"), "agent") == value
            elif field == "current_tags":
                got = value in ticket["tags"]
                return got if op == "includes" else not got
            else:
                return False
            return got if op == "is" else not got
        return all(one(c) for c in conds.get("all") or ()) and \
            (not conds.get("any") or any(one(c) for c in conds["any"]))

    def _render(self, template: str, ticket: dict, comment: Optional[dict], updater: dict) -> str:
        values = {"ticket.id": ticket["id"], "ticket.title": ticket["subject"],
                  "current_user.id": updater["id"], "current_user.role": ROLE_LABEL.get(updater.get("role"), "Agent")}
        if comment is not None:
            values.update({"ticket.latest_comment.id": comment["id"],
                           "ticket.latest_comment.author.id": comment["author_id"],
                           "ticket.latest_comment.is_public": str(comment["public"]).lower()})
        return re.sub(r"\{\{\s*([\w.]+)\s*\}\}", lambda m: str(values.get(m.group(1), "")), template)

    # -- HTTP -----------------------------------------------------------------------------------------------

    def _wsgi(self, environ: dict, start_response: Any) -> Any:
        request = Request(environ)
        with self.lock:
            self.calls.append((request.method, request.path))
            fault = self._faults.popleft() if self._faults else None
            waits = self._delays.get((request.method, request.path))
            wait = waits.popleft() if waits else 0.0
        if wait > 0:
            time.sleep(wait)
        if fault is not None:
            status, retry_after = fault
            headers = {"Retry-After": retry_after} if retry_after is not None else {}
            return Response(json.dumps({"error": "fault injected"}), status=status, headers=headers,
                            mimetype="application/json")(environ, start_response)
        if not self._authorised(request):
            return _json({"error": "Couldn't authenticate you"}, 401)(environ, start_response)
        try:
            endpoint, args = self._routes.bind_to_environ(environ).match()
            response = getattr(self, f"_h_{endpoint}")(request, **args)
        except HTTPException as exc:
            response = _json({"error": exc.name}, exc.code or 500)
        return response(environ, start_response)

    def _authorised(self, request: Request) -> bool:
        auth = request.authorization
        return auth is not None and auth.username == f"{self.email}/token" and auth.password == self.token

    def _sideload(self, include: str, tickets: list[dict]) -> dict:
        wanted = {w.strip() for w in include.split(",") if w.strip()}
        out: dict[str, list] = {}
        if "users" in wanted:
            ids = {t.get(k) for t in tickets for k in ("requester_id", "submitter_id", "assignee_id")}
            out["users"] = [self.users[i] for i in sorted(i for i in ids if i in self.users)]
        if "groups" in wanted:
            out["groups"] = [self.groups[t["group_id"]] for t in tickets if t.get("group_id") in self.groups]
        if "organizations" in wanted:
            out["organizations"] = [self.orgs[t["organization_id"]] for t in tickets
                                    if t.get("organization_id") in self.orgs]
        if "metric_sets" in wanted:
            out["metric_sets"] = [{"ticket_id": t["id"], "reopens": t.get("_reopens", 0),
                                   "solved_at": t.get("_solved_at")} for t in tickets]
        return out

    def _h_me(self, request: Request) -> Response:
        return _json({"user": self.users[self.me_id]})

    def _h_ticket(self, request: Request, tid: int) -> Response:
        with self.lock:
            if tid not in self.tickets:
                raise NotFound()
            if request.method == "GET":
                ticket = self.tickets[tid]
                return _json({"ticket": ticket, **self._sideload(request.args.get("include", ""), [ticket])})
            return self._put_ticket(request, tid)

    def _put_ticket(self, request: Request, tid: int) -> Response:
        body = (request.get_json(silent=True) or {}).get("ticket")
        if not isinstance(body, dict):
            return _json({"error": "RecordInvalid", "description": "ticket missing"}, 400)
        ticket = self.tickets[tid]
        if ticket["status"] == "closed":
            return _json({"error": "RecordInvalid", "description": "Status: closed prevents ticket update"}, 422)
        if body.get("safe_update") and body.get("updated_stamp") != ticket["updated_at"]:
            return _json({"error": "UpdateConflict", "description": "Safe Update prevented the update due to "
                          "outdated ticket data. Please fetch the latest ticket data and try again."}, 409)
        if "priority" in body and body["priority"] not in PRIORITIES + (None,):
            return _json({"error": "RecordInvalid", "description": "Priority: is invalid"}, 422)
        if body.get("group_id") is not None and body["group_id"] not in self.groups:
            return _json({"error": "RecordInvalid", "description": "Group: is invalid"}, 422)
        now = self._tick()
        audit_id = next(self._ids)
        custom = body.get("metadata") or {}
        events = []
        comment = None
        if isinstance(body.get("comment"), dict):
            c = body["comment"]
            author = int(c.get("author_id") or self.me_id)
            comment = self._add_comment(tid, author, c.get("html_body") or c.get("body") or "",
                                        c.get("public", True) is not False, custom, now)
            comment["audit_id"] = audit_id
            events.append({k: comment[k] for k in ("id", "type", "author_id", "body", "html_body", "public")})
        if "tags" in body:
            ticket["tags"] = list(dict.fromkeys(body["tags"]))
        for tag in body.get("additional_tags") or ():
            if tag not in ticket["tags"]:
                ticket["tags"].append(tag)
        for field in ("priority", "group_id", "status", "assignee_id", "subject"):
            if field in body and ticket.get(field) != body[field]:
                events.append({"id": next(self._ids), "type": "Change", "field_name": field, "value": body[field],
                               "previous_value": ticket.get(field)})
                ticket[field] = body[field]
        if comment is not None and ticket["status"] == "new":
            ticket["status"] = "open"
        ticket["updated_at"] = now
        audit = {"id": audit_id, "ticket_id": tid, "created_at": now, "author_id": self.me_id,
                 "metadata": {"system": {}, "custom": custom}, "events": events}
        self._fire(tid, "Change", comment, self.me_id, sync=False)
        return _json({"ticket": ticket, "audit": audit})

    def _h_comments(self, request: Request, tid: int) -> Response:
        with self.lock:
            if tid not in self.tickets:
                raise NotFound()
            comments = self.comments[tid]
            out: dict[str, Any] = {"comments": comments, "next_page": None, "previous_page": None,
                                   "count": len(comments)}
            if "users" in request.args.get("include", ""):
                ids = sorted({c["author_id"] for c in comments})
                out["users"] = [self.users[i] for i in ids if i in self.users]
            return _json(out)

    def _h_groups(self, request: Request) -> Response:
        with self.lock:
            return _json(_page("groups", list(self.groups.values())))

    def _h_webhooks(self, request: Request) -> Response:
        with self.lock:
            if request.method == "GET":
                name = request.args.get("filter[name_contains]", "")
                hooks = [w for w in self.webhooks.values() if name.lower() in w["name"].lower()]
                return _json(_page("webhooks", hooks))
            spec = (request.get_json(silent=True) or {}).get("webhook") or {}
            missing = [k for k in ("name", "endpoint", "http_method", "request_format", "status") if not spec.get(k)]
            if missing or not spec.get("subscriptions"):
                return _json({"errors": [{"code": "InvalidInput", "title": f"missing {missing or 'subscriptions'}"}]},
                             400)
            wid = "01J" + "".join(_secrets.choice("0123456789ABCDEFGHJKMNPQRSTVWXYZ") for _ in range(23))
            hook = {**spec, "id": wid, "created_at": self._tick(), "created_by": str(self.me_id)}
            self.webhooks[wid] = hook
            self.webhook_secrets[wid] = self.signing_secret or _secrets.token_urlsafe(32)
            return _json({"webhook": hook}, 201)

    def _h_webhook(self, request: Request, wid: str) -> Response:
        with self.lock:
            if wid not in self.webhooks:
                raise NotFound()
            if request.method == "GET":
                return _json({"webhook": self.webhooks[wid]})
            if request.method == "DELETE":
                used = [t["id"] for t in self.triggers.values()
                        if any(a.get("field") == "notification_webhook" and str(a["value"][0]) == wid
                               for a in t.get("actions") or ())]
                if used:
                    return _json({"errors": [{"code": "WebhookInUse", "title": f"used by triggers {used}"}]}, 400)
                del self.webhooks[wid]
                del self.webhook_secrets[wid]
                return Response(status=204)
            spec = (request.get_json(silent=True) or {}).get("webhook") or {}
            self.webhooks[wid].update({k: v for k, v in spec.items() if k not in ("id", "created_at", "created_by")})
            return Response(status=204)

    def _h_signing_secret(self, request: Request, wid: str) -> Response:
        with self.lock:
            if wid not in self.webhooks:
                raise NotFound()
            return _json({"signing_secret": {"algorithm": "SHA256", "secret": self.webhook_secrets[wid]}})

    def _h_triggers(self, request: Request) -> Response:
        with self.lock:
            if request.method == "GET":
                return _json(_page("triggers", sorted(self.triggers.values(), key=lambda t: t["position"])))
            spec = (request.get_json(silent=True) or {}).get("trigger") or {}
            if not spec.get("title") or not spec.get("actions") or not spec.get("conditions"):
                return _json({"error": "RecordInvalid", "description": "title, conditions and actions required"}, 422)
            trid = next(self._ids)
            now = self._tick()
            trig = {"active": True, **copy.deepcopy(spec), "id": trid, "position": len(self.triggers) + 1,
                    "created_at": now, "updated_at": now}
            self.triggers[trid] = trig
            return _json({"trigger": trig}, 201)

    def _h_trigger(self, request: Request, trid: int) -> Response:
        with self.lock:
            if trid not in self.triggers:
                raise NotFound()
            if request.method == "GET":
                return _json({"trigger": self.triggers[trid]})
            if request.method == "DELETE":
                del self.triggers[trid]
                return Response(status=204)
            spec = (request.get_json(silent=True) or {}).get("trigger") or {}
            self.triggers[trid].update({k: copy.deepcopy(v) for k, v in spec.items() if k != "id"})
            self.triggers[trid]["updated_at"] = self._tick()
            return _json({"trigger": self.triggers[trid]})

    def _h_export(self, request: Request) -> Response:
        with self.lock:
            ordered = sorted(self.tickets.values(), key=lambda t: (t["updated_at"], t["id"]))
            per_page = min(int(request.args.get("per_page", 1000)), 1000)
            if "cursor" in request.args:
                start = int(base64.urlsafe_b64decode(request.args["cursor"].encode()).decode())
            else:
                since = int(request.args.get("start_time", 0))
                start = next((i for i, t in enumerate(ordered)
                              if datetime.strptime(t["updated_at"], "%Y-%m-%dT%H:%M:%SZ")
                              .replace(tzinfo=timezone.utc).timestamp() >= since), len(ordered))
            page = ordered[start:start + per_page]
            end = start + len(page)
            cursor = base64.urlsafe_b64encode(str(end).encode()).decode()
            return _json({"tickets": page, **self._sideload(request.args.get("include", ""), page),
                          "after_cursor": cursor,
                          "after_url": f"{self.url}/api/v2/incremental/tickets/cursor.json?cursor={cursor}",
                          "end_of_stream": end >= len(ordered)})

    def _h_articles(self, request: Request) -> Response:
        with self.lock:
            return _json(_page("articles", self.articles))

    def _h_sections(self, request: Request) -> Response:
        with self.lock:
            return _json(_page("sections", self.sections))

    def _h_categories(self, request: Request) -> Response:
        with self.lock:
            return _json(_page("categories", self.categories))


def _page(key: str, items: list) -> dict:
    return {key: items, "meta": {"has_more": False, "after_cursor": None, "before_cursor": None},
            "links": {"next": None, "prev": None}, "next_page": None, "count": len(items)}


def _json(obj: Any, status: int = 200) -> Response:
    return Response(json.dumps(obj), status=status, mimetype="application/json")


if __name__ == "__main__":  # run it by hand: python -m tests.standin_zendesk --port 8443
    import argparse
    import time

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8443)
    parser.add_argument("--email", default="bot@example.com")
    parser.add_argument("--token", default="test-token")
    args = parser.parse_args()
    server = StandinZendesk(email=args.email, token=args.token, port=args.port).start()
    print(f"stand-in Zendesk on {server.url} (email {args.email}, token {args.token}); Ctrl-C to stop", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()
