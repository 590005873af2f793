"""`bot demo`: the whole job on embedded defaults, no helpdesk account and no Redis.

The sample history is split in time: the model trains on the older tickets and the newest two weeks are
replayed through the pipeline in shadow mode, so the demo's figures are on tickets the model never saw,
the way a real launch meets them.
"""
from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path
from typing import Callable, Optional

from bot.errors import BadInput
from bot.evaluation import evaluate, render_evaluation
from bot.files import read_articles, read_history, read_test_script, write_atomic, write_jsonl
from bot.model_store import load_brain
from bot.replay import replay_shadow
from bot.timeutil import parse_time
from bot.train_command import render_training, train_from_files

REPLAY_DAYS = 14
PROJECT_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _ticket_line(raw: str) -> Optional[str]:
    try:
        return json.loads(raw).get("created_at")
    except (ValueError, AttributeError):
        return None


def split_history(src: Path, out: Path) -> tuple[Path, Path, str]:
    """Older tickets to train on, the newest REPLAY_DAYS to replay; the cut is returned for the report."""
    lines = [ln for ln in src.read_text(encoding="utf-8").split("\n") if ln.strip()]
    stamps = [parse_time(_ticket_line(ln) or "") for ln in lines]
    known = [s for s in stamps if s is not None]
    if not known:
        raise BadInput(f"{src}: no ticket has a readable created_at")
    cut = max(known) - timedelta(days=REPLAY_DAYS)
    train = [ln for ln, s in zip(lines, stamps) if s is None or s < cut]
    replay = [ln for ln, s in zip(lines, stamps) if s is not None and s >= cut]
    train_p, replay_p = out / "history-train.jsonl", out / "history-replay.jsonl"
    write_atomic(train_p, "\n".join(train) + "\n")
    write_atomic(replay_p, "\n".join(replay) + "\n")
    return train_p, replay_p, cut.strftime("%Y-%m-%dT%H:%M:%SZ")


def run_demo(out: Path, fixtures: Optional[Path], progress: Callable[[str], None]) -> dict:
    started = time.perf_counter()
    fx = fixtures or PROJECT_FIXTURES
    for name in ("history.jsonl", "articles.jsonl", "intents.yaml", "test_script.yaml"):
        if not (fx / name).is_file():
            raise BadInput(f"{fx / name}: missing demo fixture")
    out.mkdir(parents=True, exist_ok=True)
    progress("syncing the sample help center")
    articles = [a for a in read_articles(fx / "articles.jsonl") if not a.draft]
    articles_path = out / "articles.jsonl"
    write_jsonl(articles_path, (json.loads(ln) for ln in (fx / "articles.jsonl").read_text(encoding="utf-8").split("\n")
                                if ln.strip() and not json.loads(ln).get("draft")))
    intents_path = fx / "intents.yaml"
    train_p, replay_p, cut = split_history(fx / "history.jsonl", out)
    progress(f"training on tickets before {cut}")
    training = train_from_files(train_p, intents_path, articles_path, out / "model", progress)
    write_atomic(out / "training.txt", render_training(training) + "\n")
    brain = load_brain(out / "model", intents_path, articles_path)
    progress("replaying the newest tickets in shadow mode")
    replay = replay_shadow(brain, read_history(replay_p), out / "demo.db")
    write_atomic(out / "replay.json", json.dumps(replay, indent=2) + "\n")
    progress("running the pre-launch test script")
    evaluation = evaluate(brain, read_test_script(fx / "test_script.yaml"))
    write_atomic(out / "evaluation.json", json.dumps(evaluation, indent=2) + "\n")
    write_atomic(out / "evaluation.txt", render_evaluation(evaluation) + "\n")
    reports = ["training.txt", "replay.json", "evaluation.json", "evaluation.txt", "decisions.jsonl", "demo.db"]
    progress("auditing the knowledge base")
    from bot.audit import run_audit_files
    audit = run_audit_files(fx / "history.jsonl", articles_path, intents_path, out)
    reports += audit["files"]
    progress("writing the launch report over the shadow decision log")
    from bot.launch_report import run_report
    from bot.reports.launch_render import html_report, render_report
    launch = run_report(f"sqlite:///{(out / 'demo.db').resolve()}", fx / "history.jsonl", intents_path)
    write_atomic(out / "launch-report.json", json.dumps(launch, indent=2, default=str) + "\n")
    write_atomic(out / "launch-report.txt", render_report(launch) + "\n")
    write_atomic(out / "launch-report.html", html_report(launch))
    reports += ["launch-report.txt", "launch-report.json", "launch-report.html"]
    return {
        "out": str(out), "seconds": round(time.perf_counter() - started, 1),
        "model_version": training["model_version"], "trained_on": training["labelled"],
        "heldout_accuracy": training["metrics"]["accuracy"], "replay_from": cut, "replay": replay,
        "evaluation": {k: evaluation[k] for k in ("cases", "accuracy", "intent_accuracy", "escalation", "tone",
                                                  "by_kind", "ready", "blockers")},
        "articles": len(articles), "reports": reports,
        "audit": {"top10_covered": audit["coverage"]["covered"], "summary": audit["coverage"]["summary"]},
        "emerging_flagged": launch.get("emerging_flagged"),
    }


def render_summary(s: dict) -> str:
    r, e = s["replay"], s["evaluation"]
    acts = ", ".join(f"{k} {v}" for k, v in r["by_action"].items())
    lines = [
        f"Demo done in {s['seconds']} s -> {s['out']}/",
        f"  model {s['model_version']}: trained on {s['trained_on']} tickets, held-out accuracy "
        f"{s['heldout_accuracy']:.1%}",
        f"  shadow replay of {r['tickets']} tickets since {s['replay_from']}: {acts}",
        f"    answered {r['answered_share']:.1%}; where agents' tags tell the intent, the bot's intent was right "
        f"{r['intent_precision_answered']:.1%} of the answered",
        f"  test script: {e['cases']} cases, accuracy {e['accuracy']:.1%}, escalation recall "
        f"{e['escalation']['recall']:.1%}, precision {e['escalation']['precision']:.1%} -> "
        + ("READY" if e["ready"] else "NOT READY (" + "; ".join(e["blockers"]) + ")"),
        f"  knowledge base: {s['audit']['summary']}",
        f"  emerging ticket types flagged: {s['emerging_flagged']}",
        "  reports: " + ", ".join(s["reports"]),
    ]
    return "\n".join(lines)
