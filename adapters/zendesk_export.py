"""Bulk reads from Zendesk: the ticket history (for training and audits) and the help-center articles.

History uses the cursor-based Incremental Ticket Export (1,000 tickets a page, 10 requests a minute) with
users, groups, organisations and metric sets sideloaded, so CSAT (satisfaction_rating.score), reopens and
solved_at (metric_sets) cost nothing extra; the conversation itself needs one comments call per ticket,
because the ticket export carries no comments. We pace the export endpoint to its own limit rather than
learn it from 429s, and VendorHTTP still honours Retry-After when Zendesk says otherwise.

The cursor we yield with each record means "resume after this record": the page's own cursor (or start time)
plus how many of its tickets are done. Zendesk's after_cursor only moves a whole page at a time, so on its own
it would either repeat or drop part of a page after an interruption.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Iterator, Optional

from adapters.http import VendorError
from adapters.zendesk_map import build_article, build_ticket, by_id, history_record, sid
from bot.brain.records import Article
from bot.errors import BadInput

if TYPE_CHECKING:
    from adapters.zendesk import ZendeskAdapter

EXPORT_PATH = "/api/v2/incremental/tickets/cursor.json"
PER_PAGE = 1000
EXPORT_MIN_INTERVAL_S = 6.0  # 10 requests a minute on the incremental endpoints
EXPORT_BUDGET_S = 180.0  # their Retry-After can approach a minute; give a page room for a couple of waits
SIDELOADS = "users,groups,organizations,metric_sets"
_CURSOR = re.compile(r"(?P<kind>[ct])=(?P<value>[^;]+);skip=(?P<skip>[0-9]{1,7})")


def encode_cursor(kind: str, value: str, skip: int) -> str:
    return f"{kind}={value};skip={skip}"


def decode_cursor(cursor: str) -> tuple[str, str, int]:
    m = _CURSOR.fullmatch(cursor.strip())
    if not m:
        raise BadInput(f"cursor: not a Zendesk history cursor: {cursor[:60]!r}")
    return m["kind"], m["value"], int(m["skip"])


def export_history(adapter: "ZendeskAdapter", days: int, cursor: Optional[str] = None,
                   ) -> Iterator[tuple[dict, Optional[str]]]:
    if cursor:
        kind, value, skip = decode_cursor(cursor)
    else:
        if days < 1:
            raise BadInput(f"days: must be at least 1, not {days}")
        kind, value, skip = "t", str(int(adapter.http.wall() - days * 86400)), 0
    last_call: Optional[float] = None
    while True:
        last_call = _pace(adapter, last_call)
        params: dict[str, Any] = {"per_page": PER_PAGE, "include": SIDELOADS, "exclude_deleted": "true"}
        params["cursor" if kind == "c" else "start_time"] = value
        page = adapter.http.get_json(EXPORT_PATH, params, max_total=EXPORT_BUDGET_S)
        tickets = [t for t in page.get("tickets") or () if isinstance(t, dict)]
        after = page.get("after_cursor")
        users, orgs = by_id(page.get("users")), by_id(page.get("organizations"))
        groups = by_id(page.get("groups"))
        metrics = {sid(m.get("ticket_id")): m for m in page.get("metric_sets") or () if isinstance(m, dict)}
        for index, raw in enumerate(tickets):
            if index < skip:
                continue
            done = index + 1
            if done == len(tickets) and after:
                next_cursor = encode_cursor("c", after, 0)
            else:
                next_cursor = encode_cursor(kind, value, done)
            record = _record(adapter, raw, users, orgs, groups, metrics.get(sid(raw.get("id"))))
            if record is not None:
                yield record, next_cursor
        if page.get("end_of_stream") or not after or not tickets:
            return
        kind, value, skip = "c", after, 0


def _record(adapter: "ZendeskAdapter", raw: dict, users: dict, orgs: dict, groups: dict,
            metric_set: Optional[dict]) -> Optional[dict]:
    if raw.get("status") == "deleted" or raw.get("id") is None:
        return None
    try:
        comments, comment_users = adapter.fetch_comments(str(raw["id"]))
    except VendorError as exc:
        if exc.status == 404:  # deleted or merged away since the export page was cut
            return None
        raise
    if not comments:
        return None
    s = adapter.settings
    ticket = build_ticket(raw, comments, users={**users, **comment_users}, orgs=orgs, groups=groups,
                          bot_user_id=s.bot_user_id, plan_field=s.plan_field, vip_tag=s.vip_tag,
                          page_url_field=s.page_url_field, metric_set=metric_set)
    return history_record(ticket)


def _pace(adapter: "ZendeskAdapter", last_call: Optional[float]) -> float:
    now = adapter.http.clock()
    if last_call is not None and now - last_call < EXPORT_MIN_INTERVAL_S:
        adapter.http.sleep(EXPORT_MIN_INTERVAL_S - (now - last_call))
        now = adapter.http.clock()
    return now


def export_articles(adapter: "ZendeskAdapter") -> Iterator[Article]:
    """Published articles with their section and category names; drafts are left out."""
    sections = by_id(adapter.items("/api/v2/help_center/sections.json", "sections"))
    categories = by_id(adapter.items("/api/v2/help_center/categories.json", "categories"))
    for raw in adapter.items("/api/v2/help_center/articles.json", "articles"):
        if raw.get("draft") or raw.get("id") is None:
            continue
        yield build_article(raw, sections, categories)
