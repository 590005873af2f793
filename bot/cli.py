"""The `bot` command (spec cli.md). click gives us help, usage errors with exit 2 and typed options for free.

Every command body runs inside `reasons()`, which turns BadInput (and the few OS errors a user can cause)
into a one-line reason and exit 2, so no input ever shows a traceback.
"""
from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from pathlib import Path

import click

from bot.errors import BadInput, VendorFailure


def emit_json(obj) -> None:
    click.echo(json.dumps(obj, ensure_ascii=False, indent=None, default=str))


def progress(msg: str) -> None:
    if sys.stderr.isatty():
        click.echo(f"  .. {msg}", err=True)


@contextmanager
def reasons():
    try:
        yield
    except BadInput as e:
        click.echo(f"bot: {e}", err=True)
        sys.exit(2)
    except VendorFailure as e:  # the helpdesk refused or is unreachable after the capped retries
        click.echo(f"bot: {e}", err=True)
        sys.exit(2)
    except OSError as e:  # a path the user gave that cannot be read or written: their input, not our bug
        where = f"{e.filename}: " if e.filename else ""
        click.echo(f"bot: {where}{e.strerror or e}", err=True)
        sys.exit(2)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli():
    """Self-hosted AI support bot that lives inside the helpdesk."""


@cli.command()
@click.option("--history", "history_path", required=True, help="Ticket history, JSON Lines (data.md).")
@click.option("--intents", "intents_path", required=True, help="Intents and policy, YAML.")
@click.option("--articles", "articles_path", help="Articles, JSON Lines: checks the intents' article ids.")
@click.option("--out", required=True, help="Model directory to write.")
@click.option("--json", "as_json", is_flag=True, help="Print the training report as JSON.")
def train(history_path, intents_path, articles_path, out, as_json):
    """Quality-filter the history, train and calibrate the intent model, write MODEL."""
    from bot.train_command import train_from_files
    with reasons():
        report = train_from_files(history_path, intents_path, articles_path, out, progress)
        if as_json:
            emit_json(report)
        else:
            from bot.train_command import render_training
            click.echo(render_training(report))


@cli.command()
@click.option("--model", "model_dir", required=True)
@click.argument("texts", nargs=-1)
def classify(model_dir, texts):
    """One JSON line per text (or per line of stdin)."""
    from bot.brain.decide import Brain
    from bot.brain.articles import ArticleIndex
    from bot.brain.records import IntentsConfig, Policy
    from bot.model_store import load_model
    with reasons():
        model, meta = load_model(model_dir)
        brain = Brain(model, IntentsConfig(Policy(), ()), ArticleIndex([]), meta["version"])
        source = texts or (line.rstrip("\n") for line in sys.stdin)
        for text in source:
            if not text.strip():
                continue
            p, mood = brain.classify(text)
            emit_json({"text": text, "intent": p.intent, "confidence": p.confidence, "out_of_scope": p.out_of_scope,
                       "sentiment": mood,
                       "alternatives": [{"intent": a.intent, "confidence": a.confidence} for a in p.alternatives]})


@cli.command()
@click.option("--model", "model_dir", required=True)
@click.option("--intents", "intents_path", required=True)
@click.option("--articles", "articles_path", required=True)
@click.option("--json", "as_json", is_flag=True, help="Accepted for symmetry: the decision is always JSON.")
@click.argument("ticket_file", required=False)
def decide(model_dir, intents_path, articles_path, as_json, ticket_file):
    """The decision for one ticket given as a history record (stdin if no file)."""
    from bot.files import _read_text, ticket_from_json
    from bot.model_store import load_brain
    with reasons():
        brain = load_brain(model_dir, intents_path, articles_path)
        raw = _read_text(ticket_file) if ticket_file else sys.stdin.read()
        where = ticket_file or "stdin"
        try:
            ticket = ticket_from_json(json.loads(raw))
        except json.JSONDecodeError as e:
            raise BadInput(f"{where}: not valid JSON (line {e.lineno})") from None
        except (ValueError, TypeError) as e:
            raise BadInput(f"{where}: {e}") from None
        emit_json(brain.decide(ticket).to_json())


@cli.command()
@click.option("--model", "model_dir", required=True)
@click.option("--intents", "intents_path", required=True)
@click.option("--articles", "articles_path", required=True)
@click.option("--script", "script_path", required=True, help="Pre-launch test script, YAML.")
@click.option("--require-ready", is_flag=True, help="Exit 1 unless the report says ready.")
@click.option("--json", "as_json", is_flag=True)
def evaluate(model_dir, intents_path, articles_path, script_path, require_ready, as_json):
    """Run the pre-launch test script and say whether the bot is ready."""
    from bot.evaluation import evaluate as run, render_evaluation
    from bot.files import read_test_script
    from bot.model_store import load_brain
    with reasons():
        brain = load_brain(model_dir, intents_path, articles_path)
        cases = read_test_script(script_path)
        report = run(brain, cases, progress=lambda i, n: progress(f"case {i}/{n}") if i % 20 == 0 else None)
        emit_json(report) if as_json else click.echo(render_evaluation(report))
        if require_ready and not report["ready"]:
            sys.exit(1)


@cli.command()
@click.option("--out", default="demo-out", show_default=True, help="Where the reports go.")
@click.option("--fixtures", "fixtures_dir", default=None, help="Fixture folder (default: the project's).")
@click.option("--json", "as_json", is_flag=True)
def demo(out, fixtures_dir, as_json):
    """The main job on embedded defaults: train, replay the sample tickets in shadow mode, write the reports."""
    from bot.demo import run_demo, render_summary
    with reasons():
        summary = run_demo(Path(out), Path(fixtures_dir) if fixtures_dir else None, progress)
        emit_json(summary) if as_json else click.echo(render_summary(summary))


def _register() -> None:
    """Commands that live in their own modules attach themselves to `cli` on import."""
    import importlib
    for module in ("bot.vendor_commands", "bot.report_commands_audit", "bot.report_commands", "bot.inbox_commands"):
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as e:
            if e.name != module:
                raise
            continue
        for obj in vars(mod).values():
            if isinstance(obj, click.Command) and obj is not cli and obj.name not in cli.commands:
                cli.add_command(obj)


def main() -> None:
    _register()
    cli(prog_name="bot")


if __name__ == "__main__":
    main()
