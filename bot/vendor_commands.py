"""`bot sync-history`, `bot sync-articles`, `bot install`, `bot uninstall`: the commands that talk to a helpdesk.

sync-history appends to `OUT.partial` and keeps the adapter's cursor in `OUT.cursor` after every ticket, so an
interrupted run (Ctrl-C, a rate-limit budget spent, a crash) resumes where it stopped; only a finished run
is renamed to OUT, de-duplicated by ticket id, so readers never see half an export.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Optional

import click

from bot.cli import cli, emit_json, reasons
from bot.config import VENDORS, load_settings
from bot.errors import BadInput
from bot.files import write_atomic, write_jsonl

VENDOR = click.Choice(VENDORS)


def _adapter(vendor: str):
    from adapters.registry import get_adapter
    return get_adapter(vendor, load_settings())


def sync_history(adapter, days: int, out: Path, tick=lambda n: None) -> dict:
    partial, cursor_file = out.with_name(out.name + ".partial"), out.with_name(out.name + ".cursor")
    cursor = cursor_file.read_text().strip() if cursor_file.exists() and partial.exists() else None
    if cursor is None:
        partial.unlink(missing_ok=True)
    n = 0
    with partial.open("a", encoding="utf-8") as f:
        for record, next_cursor in adapter.export_history(days, cursor):
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
            f.flush()
            if next_cursor:
                cursor_file.write_text(next_cursor)
            n += 1
            tick(n)
    latest: dict[str, str] = {}
    for line in partial.read_text(encoding="utf-8").splitlines():
        if line.strip():
            latest[str(json.loads(line).get("id"))] = line
    write_atomic(out, "".join(line + "\n" for line in latest.values()))
    partial.unlink(missing_ok=True)
    cursor_file.unlink(missing_ok=True)
    return {"out": str(out), "tickets": len(latest), "fetched_this_run": n, "resumed": cursor is not None}


@cli.command("sync-history")
@click.option("--vendor", type=VENDOR, required=True)
@click.option("--days", type=click.IntRange(1, 3650), default=90, show_default=True)
@click.option("--out", required=True, help="History JSON Lines to write.")
@click.option("--json", "as_json", is_flag=True)
def sync_history_cmd(vendor, days, out, as_json):
    """Pull the ticket history (incremental export, resumable, rate limits honoured)."""
    with reasons():
        tty = sys.stderr.isatty()
        result = sync_history(_adapter(vendor), days, Path(out),
                              tick=(lambda n: click.echo(f"\r  {n} tickets", err=True, nl=False)) if tty else (lambda n: None))
        if tty:
            click.echo("", err=True)
        emit_json(result) if as_json else click.echo(
            f"{result['tickets']} tickets -> {out}" + (" (resumed)" if result["resumed"] else ""))


@cli.command("sync-articles")
@click.option("--vendor", type=VENDOR, required=True)
@click.option("--out", required=True, help="Articles JSON Lines to write.")
@click.option("--json", "as_json", is_flag=True)
def sync_articles_cmd(vendor, out, as_json):
    """Pull the published help-center articles."""
    from dataclasses import asdict
    with reasons():
        rows = [{**asdict(a), "labels": list(a.labels)} for a in _adapter(vendor).export_articles() if not a.draft]
        n = write_jsonl(out, rows)
        emit_json({"out": out, "articles": n}) if as_json else click.echo(f"{n} articles -> {out}")


def store_secret(path: Path, name: str, secret: str) -> None:
    """The secret goes to a 0600 file for the operator's environment, never to stdout or a log."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [ln for ln in (path.read_text().splitlines() if path.exists() else []) if not ln.startswith(name + "=")]
    lines.append(f"{name}={secret}")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.chmod(path, 0o600)


@cli.command()
@click.argument("vendor", type=VENDOR)
@click.option("--url", help="The bot's public base URL (https://bot.example.com).")
@click.option("--check", is_flag=True, help="Verify credentials, webhook, triggers and secret; change nothing.")
@click.option("--secret-file", default=".env.bot", show_default=True,
              help="Where the webhook signing secret is stored (mode 0600).")
@click.option("--json", "as_json", is_flag=True)
def install(vendor, url, check, secret_file, as_json):
    """Connect the bot to the helpdesk account (idempotent: a rerun changes nothing)."""
    with reasons():
        adapter = _adapter(vendor)
        if check:
            problems = adapter.check(url)
            if as_json:
                emit_json({"vendor": vendor, "ok": not problems, "problems": problems})
            else:
                click.echo("\n".join(f"PROBLEM {p}" for p in problems) or f"{vendor}: installation OK")
            sys.exit(1 if problems else 0)
        if not url:
            raise BadInput("--url: required to install (the address the helpdesk will call)")
        done = adapter.install(url)
        secret: Optional[str] = done.pop("signing_secret", None)
        if secret:
            store_secret(Path(secret_file), f"{vendor.upper()}_WEBHOOK_SECRET", secret)
            done["secret_stored_in"] = secret_file
        if as_json:
            emit_json(done)
            return
        click.echo(f"{vendor}: webhook {done['webhook']['id']} {done['webhook']['action']} -> {done['endpoint']}")
        for t in done.get("triggers", []):
            click.echo(f"{vendor}: trigger {t['id']} '{t['title']}' {t['action']}")
        if secret:
            state = "matches" if done.get("secret_matches_settings") else "set it in the environment of web"
            click.echo(f"{vendor}: signing secret stored in {secret_file} ({state})")


@cli.command()
@click.argument("vendor", type=VENDOR)
@click.option("--json", "as_json", is_flag=True)
def uninstall(vendor, as_json):
    """Remove exactly what `bot install` created."""
    with reasons():
        done = _adapter(vendor).uninstall()
        if as_json:
            emit_json(done)
            return
        for t in done.get("triggers", []):
            click.echo(f"{vendor}: trigger {t['id']} '{t['title']}' deleted")
        click.echo(f"{vendor}: webhook {done['webhook']['id']} deleted" if done.get("webhook")
                   else f"{vendor}: no webhook of ours to delete")
