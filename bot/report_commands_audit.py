"""`bot audit` (cli.md): the knowledge-base audit. Register with `cli.add_command(audit)`.

Prints the readable report, or the report object with `--json`; `--html FILE` also writes the page;
`--suggest-intents FILE` also writes a starter intents file. Bad input: one line on stderr, exit 2.
"""
from __future__ import annotations

import click

from bot.audit import STALE_DAYS, TOP, run_audit
from bot.errors import BadInput


@click.command("audit")
@click.option("--history", "history_path", required=True, help="Ticket history, JSON Lines (data.md).")
@click.option("--articles", "articles_path", required=True, help="Help-center articles, JSON Lines.")
@click.option("--intents", "intents_path", help="Intents and policy, YAML: labels come from its tags.")
@click.option("--suggest-intents", "suggest_path", metavar="FILE", help="Write a starter intents file here.")
@click.option("--model", "model_dir", help="Model directory: labels the unlabelled tickets, measures confusions.")
@click.option("--stale-days", type=click.IntRange(min=1), default=STALE_DAYS, show_default=True,
              help="An article older than this is outdated while its type still gets tickets.")
@click.option("--top", type=click.IntRange(min=1), default=TOP, show_default=True, help="Ticket types to audit.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--html", "html_path", metavar="FILE", help="Also write the report as one self-contained HTML page.")
def audit(history_path, articles_path, intents_path, suggest_path, model_dir, stale_days, top, as_json, html_path):
    """Knowledge-base audit: ticket types by volume, each with its articles and a verdict."""
    from bot.cli import emit_json, progress, reasons  # here, not at the top: bot.cli registers this command
    from bot.files import write_atomic
    from bot.reports.audit_render import render_html, render_text
    with reasons():
        if html_path and suggest_path and html_path == suggest_path:
            raise BadInput("--html and --suggest-intents name the same file")
        progress("auditing the knowledge base")
        report = run_audit(history_path, articles_path, intents_path, model_dir, stale_days, top, suggest_path)
        if html_path:
            write_atomic(html_path, render_html(report))
            report["html"] = str(html_path)
        if as_json:
            emit_json(report)
        else:
            click.echo(render_text(report))
            if html_path:
                click.echo(f"\nHTML report: {html_path}")
