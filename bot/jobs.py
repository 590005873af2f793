"""The scheduled jobs Celery beat runs: article sync (hourly), history sync (nightly), retrain (weekly).

Each takes the Settings and returns a short, loggable summary, and runs the same code as its command
(`bot sync-articles`, `bot sync-history`, `bot train`). With the vendor or file settings absent it logs
"not configured" and returns, so a fresh installation's beat does not fill the log with tracebacks.

Retraining never makes things worse by itself: the candidate replaces the live model only when its
held-out accuracy is not lower, the swap is a directory rename (workers reload on the next task), and the
replaced model is kept beside it as `MODEL.previous-<version>` for `mv` back (the newest KEEP_PREVIOUS).
"""
from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import asdict
from pathlib import Path

from bot.config import VENDORS, Settings
from bot.errors import BadInput

log = logging.getLogger("bot.jobs")
KEEP_PREVIOUS = 3
HISTORY_DAYS = 90


def _vendors(settings: Settings) -> list[str]:
    return [v for v in VENDORS if settings.vendor_enabled(v)]


def _skip(job: str, why: str) -> str:
    log.info("%s: not configured (%s)", job, why)
    return f"not configured: {why}"


def _adapter(settings: Settings, vendor: str):
    from adapters.registry import get_adapter
    from bot.metrics import record_vendor_call
    return get_adapter(vendor, settings, on_call=record_vendor_call)


def sync_articles(settings: Settings) -> str:
    vendors = _vendors(settings)
    if not vendors:
        return _skip("sync_articles", "no helpdesk vendor is enabled")
    if not settings.articles_path:
        return _skip("sync_articles", "BOT_ARTICLES is not set")
    from bot.files import write_jsonl
    rows = [{**asdict(a), "labels": list(a.labels)} for a in _adapter(settings, vendors[0]).export_articles()
            if not a.draft]
    if not rows:  # an empty help center is more likely an API hiccup than a deleted one: keep the old file
        log.warning("sync_articles: the helpdesk returned no published article; %s kept", settings.articles_path)
        return "no articles returned; kept the previous file"
    n = write_jsonl(settings.articles_path, rows)
    log.info("sync_articles: %d articles -> %s", n, settings.articles_path)
    return f"{n} articles"


def sync_history(settings: Settings) -> str:
    vendors = _vendors(settings)
    if not vendors:
        return _skip("sync_history", "no helpdesk vendor is enabled")
    if not settings.history_path:
        return _skip("sync_history", "BOT_HISTORY is not set")
    from bot.vendor_commands import sync_history as run
    result = run(_adapter(settings, vendors[0]), HISTORY_DAYS, Path(settings.history_path))
    log.info("sync_history: %d tickets -> %s", result["tickets"], settings.history_path)
    return f"{result['tickets']} tickets"


def retrain(settings: Settings) -> str:
    s = settings
    if not (s.model_dir and s.intents_path and s.history_path):
        return _skip("retrain", "BOT_MODEL, BOT_INTENTS and BOT_HISTORY must be set")
    return retrain_and_swap(Path(s.model_dir), s.history_path, s.intents_path, s.articles_path)


def retrain_and_swap(model_dir: Path, history_path, intents_path, articles_path=None) -> str:
    from bot.model_store import META_FILE
    from bot.train_command import train_from_files
    candidate = model_dir.with_name(model_dir.name + ".candidate")
    shutil.rmtree(candidate, ignore_errors=True)
    try:
        report = train_from_files(history_path, intents_path, articles_path, candidate)
    except BadInput as e:
        log.error("retrain: refused: %s", e)
        return f"refused: {e}"
    new_acc = report["metrics"]["accuracy"]
    old_acc = None
    if (model_dir / META_FILE).is_file():
        old = json.loads((model_dir / META_FILE).read_text())
        old_acc = (old.get("metrics") or {}).get("accuracy")
        if old_acc is not None and new_acc < old_acc:
            shutil.rmtree(candidate, ignore_errors=True)
            log.warning("retrain: candidate %s held-out accuracy %.4f is worse than live %s %.4f; kept the live model",
                        report["model_version"], new_acc, old.get("version"), old_acc)
            return f"kept {old.get('version')}: candidate accuracy {new_acc:.4f} < {old_acc:.4f}"
        previous = model_dir.with_name(f"{model_dir.name}.previous-{old.get('version', 'unknown').replace(':', '')}")
        shutil.rmtree(previous, ignore_errors=True)
        os.replace(model_dir, previous)
    os.replace(candidate, model_dir)
    _prune_previous(model_dir)
    log.info("retrain: swapped in model %s (held-out accuracy %.4f, was %s)", report["model_version"], new_acc,
             "none" if old_acc is None else f"{old_acc:.4f}")
    return f"swapped in {report['model_version']}"


def _prune_previous(model_dir: Path) -> None:
    olds = sorted(model_dir.parent.glob(model_dir.name + ".previous-*"), key=lambda p: p.stat().st_mtime)
    for p in olds[:-KEEP_PREVIOUS]:
        shutil.rmtree(p, ignore_errors=True)


def weekly_report(settings: Settings) -> str:
    """The launch report for the weekly review, written where the team reads it (BOT_REPORTS_DIR)."""
    if not settings.history_path:
        return _skip("weekly_report", "BOT_HISTORY is not set")
    from bot.files import write_atomic
    from bot.launch_report import run_report
    from bot.reports.launch_render import html_report
    from bot.timeutil import iso, utcnow
    report = run_report(settings.database_url, settings.history_path, settings.intents_path)
    out = Path(settings.reports_dir)
    stamp = iso(utcnow())[:10]
    write_atomic(out / f"launch-report-{stamp}.json", json.dumps(report, indent=2, default=str) + "\n")
    write_atomic(out / f"launch-report-{stamp}.html", html_report(report))
    log.info("weekly_report: written to %s (launch-report-%s.*)", out, stamp)
    return f"launch-report-{stamp}"
