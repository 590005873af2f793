"""`bot inbox`: what the durable inbox holds, and a way back for parked events.

An event is parked after repeated failures (a rotated API token, a long outage, no model yet) so it is never
retried forever; once the cause is fixed, `--requeue-parked` hands those events back to the sweeper, which
enqueues queued rows older than its deadline. Processing stays idempotent, so requeueing is always safe.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Optional

import click
from sqlalchemy import func, select, update

from bot.cli import emit_json, reasons
from bot.config import load_settings
from bot.db import InboxEvent, session_factory, upgrade, utcnow

SHOWN = 20


def requeue_parked_events(database_url: str, vendor: Optional[str] = None) -> int:
    """Parked -> queued with attempts reset, dated in the past so the next sweep (within a minute) sends them."""
    sessions = session_factory(database_url)
    long_ago = utcnow() - dt.timedelta(days=1)
    where = [InboxEvent.status == "parked"] + ([InboxEvent.vendor == vendor] if vendor else [])
    with sessions.begin() as s:
        done = s.execute(update(InboxEvent).where(*where).values(
            status="queued", attempts=0, retry_at=None, updated_at=long_ago))
        return done.rowcount


def inbox_state(database_url: str) -> dict:
    sessions = session_factory(database_url)
    with sessions() as s:
        counts = dict(s.execute(select(InboxEvent.status, func.count()).group_by(InboxEvent.status)).all())
        parked = s.execute(select(InboxEvent).where(InboxEvent.status == "parked")
                           .order_by(InboxEvent.updated_at.desc()).limit(SHOWN)).scalars().all()
        return {"counts": counts, "parked": [
            {"id": e.id, "vendor": e.vendor, "ticket_id": e.ticket_id, "attempts": e.attempts,
             "error": e.last_error, "at": e.updated_at.isoformat()} for e in parked]}


@click.command()
@click.option("--requeue-parked", is_flag=True, help="Hand parked events back to the sweeper.")
@click.option("--vendor", default=None, help="Only this vendor's events.")
@click.option("--database", "database_url", default=None, help="Database URL (default BOT_DATABASE_URL).")
@click.option("--json", "as_json", is_flag=True)
def inbox(requeue_parked, vendor, database_url, as_json):
    """The inbox by status, the latest parked events and why; optionally requeue the parked ones."""
    with reasons():
        settings = load_settings()
        if database_url:
            settings = replace(settings, database_url=database_url)
        upgrade(settings)
        requeued = requeue_parked_events(settings.database_url, vendor) if requeue_parked else None
        state = {**inbox_state(settings.database_url), "requeued": requeued}
        if as_json:
            emit_json(state)
            return
        click.echo("inbox: " + (", ".join(f"{k} {v}" for k, v in sorted(state["counts"].items())) or "empty"))
        if requeued is not None:
            click.echo(f"requeued {requeued} parked event(s); the sweeper sends them within a minute")
        for e in state["parked"]:
            click.echo(f"  parked #{e['id']} {e['vendor']} ticket {e['ticket_id']} after {e['attempts']} "
                       f"attempt(s) at {e['at']}: {e['error']}")
