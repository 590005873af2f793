"""`bot backtest`, `bot report`, `bot checklist`: the launch reports (cli.md).

Each prints a readable report, `--json` prints the object, `--html FILE` writes one self-contained page.
Defined here as plain click commands; bot/cli.py registers them on the `bot` group.
"""
from __future__ import annotations

import sys

import click

from bot.cli import emit_json, progress, reasons
from bot.errors import BadInput


def _settings():
    from bot.config import load_settings
    return load_settings()


def _write_html(path: str, html: str) -> None:
    from bot.files import write_atomic
    write_atomic(path, html)
    click.echo(f"wrote {path}", err=True)


def _emit(report: dict, as_json: bool, html_path, text_fn, html_fn) -> None:
    if html_path:
        _write_html(html_path, html_fn(report))
    if as_json:
        emit_json(report)
    else:
        click.echo(text_fn(report))


@click.command()
@click.option("--model", "model_dir", required=True, help="Model directory: what --apply updates.")
@click.option("--intents", "intents_path", required=True, help="Intents and policy, YAML.")
@click.option("--articles", "articles_path", required=True, help="Articles, JSON Lines.")
@click.option("--history", "history_path", required=True, help="Ticket history, JSON Lines.")
@click.option("--weeks", type=int, default=2, show_default=True, help="Newest weeks to replay.")
@click.option("--apply", "apply_", is_flag=True, help="Write the suggested thresholds into MODEL.")
@click.option("--json", "as_json", is_flag=True)
@click.option("--html", "html_path", default=None, help="Write the report as a self-contained HTML page.")
def backtest(model_dir, intents_path, articles_path, history_path, weeks, apply_, as_json, html_path):
    """Train on the older history, replay the newest weeks: answered share, precision, escalations, thresholds."""
    from bot.backtest import public, run_backtest
    from bot.reports.launch_render import html_backtest, render_backtest
    with reasons():
        report = public(run_backtest(model_dir, intents_path, articles_path, history_path, weeks, apply_, progress))
        _emit(report, as_json, html_path, render_backtest, html_backtest)


@click.command()
@click.option("--since", default=None, help="Only decisions from this date (YYYY-MM-DD or ISO time).")
@click.option("--database", "database_url", default=None, help="Database URL (default BOT_DATABASE_URL).")
@click.option("--history", "history_path", envvar="BOT_HISTORY", default=None,
              help="Synced ticket history with the outcomes (default BOT_HISTORY).")
@click.option("--intents", "intents_path", default=None,
              help="Intents file, to match the baseline's types and find unlabelled tickets (default BOT_INTENTS).")
@click.option("--json", "as_json", is_flag=True)
@click.option("--html", "html_path", default=None, help="Write the report as a self-contained HTML page.")
def report(since, database_url, history_path, intents_path, as_json, html_path):
    """Launch metrics week by week against the baseline and the control group; emerging types; review list."""
    from bot.launch_report import run_report
    from bot.reports.launch_render import html_report, render_report
    with reasons():
        if not database_url or not intents_path:
            settings = _settings()
            database_url = database_url or settings.database_url
            intents_path = intents_path or settings.intents_path
        if not history_path:
            raise BadInput("no ticket history: pass --history FILE (what `bot sync-history` wrote) or set BOT_HISTORY")
        result = run_report(database_url, history_path, intents_path, since)
        _emit(result, as_json, html_path, render_report, html_report)


@click.command()
@click.option("--intents", "intents_path", default=None, help="Intents file (default BOT_INTENTS).")
@click.option("--articles", "articles_path", default=None, help="Articles file (default BOT_ARTICLES).")
@click.option("--history", "history_path", envvar="BOT_HISTORY", default=None,
              help="Ticket history (default BOT_HISTORY).")
@click.option("--model", "model_dir", default=None, help="Model directory (default BOT_MODEL).")
@click.option("--script", "script_path", default=None, help="Pre-launch test script, YAML.")
@click.option("--database", "database_url", default=None, help="Database URL (default BOT_DATABASE_URL).")
@click.option("--metrics-url", envvar="BOT_METRICS_URL", default="http://127.0.0.1:8000/metrics",
              show_default=True, help="The bot's /metrics (env BOT_METRICS_URL).")
@click.option("--require-ready", is_flag=True, help="Exit 1 unless every item passes.")
@click.option("--json", "as_json", is_flag=True)
@click.option("--html", "html_path", default=None, help="Write the checklist as a self-contained HTML page.")
def checklist(intents_path, articles_path, history_path, model_dir, script_path, database_url, metrics_url,
              require_ready, as_json, html_path):
    """The readiness checklist: each item's state and the evidence behind it."""
    from bot.checklist import run_checklist
    from bot.reports.launch_render import html_checklist, render_checklist
    with reasons():
        settings = _settings()
        result = run_checklist(
            intents_path=intents_path or settings.intents_path,
            articles_path=articles_path or settings.articles_path,
            history_path=history_path, model_dir=model_dir or settings.model_dir, script_path=script_path,
            database_url=database_url or settings.database_url, metrics_url=metrics_url, progress=progress)
        _emit(result, as_json, html_path, render_checklist, html_checklist)
        if require_ready and not result["ready"]:
            sys.exit(1)
