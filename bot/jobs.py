"""The scheduled jobs Celery beat runs: article sync (hourly), history sync (nightly), retrain (weekly).

Each takes the Settings and returns a short, loggable summary. They are placeholders that are safe to
schedule today: with the vendor or model settings absent they log "not configured" and return, so a fresh
installation's beat does not fill the log with tracebacks. The real work (the same code paths as
`bot sync-articles`, `bot sync-history`, `bot train`) is wired in when those commands exist.
"""
from __future__ import annotations

import logging

from bot.config import VENDORS, Settings

log = logging.getLogger("bot.jobs")


def _vendors(settings: Settings) -> list[str]:
    return [v for v in VENDORS if settings.vendor_enabled(v)]


def _skip(job: str, why: str) -> str:
    log.info("%s: not configured (%s)", job, why)
    return f"not configured: {why}"


def sync_articles(settings: Settings) -> str:
    if not _vendors(settings):
        return _skip("sync_articles", "no helpdesk vendor is enabled")
    if not settings.articles_path:
        return _skip("sync_articles", "BOT_ARTICLES is not set")
    log.info("sync_articles: not wired to the article sync yet; nothing done")
    return "not implemented yet"


def sync_history(settings: Settings) -> str:
    if not _vendors(settings):
        return _skip("sync_history", "no helpdesk vendor is enabled")
    log.info("sync_history: not wired to the history sync yet; nothing done")
    return "not implemented yet"


def retrain(settings: Settings) -> str:
    if not (settings.model_dir and settings.intents_path):
        return _skip("retrain", "BOT_MODEL and BOT_INTENTS must be set")
    log.info("retrain: not wired to training yet; nothing done")
    return "not implemented yet"
