"""`bot train` from files to a model directory, with the report the admin reads."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

from bot.files import read_articles, read_history, read_intents
from bot.model_store import save_model
from bot.training import build_training_set, data_hash, fit_model


def train_from_files(history_path, intents_path, articles_path: Optional[str], out,
                     progress: Callable[[str], None] = lambda m: None) -> dict:
    article_ids = {a.id for a in read_articles(articles_path)} if articles_path else None
    config = read_intents(intents_path, article_ids)
    progress(f"reading {history_path}")
    history = read_history(history_path)
    ts = build_training_set(history, config)
    progress(f"{ts.from_history} labelled tickets, {ts.from_examples} intent examples, {ts.unlabelled} unlabelled")
    model, metrics = fit_model(ts, config.policy.target_precision, progress)
    by_intent = {}
    for label in ts.labels[: ts.from_history]:
        by_intent[label] = by_intent.get(label, 0) + 1
    untrained = sorted(i.name for i in config.intents if i.name not in by_intent)
    h = data_hash(Path(history_path).read_bytes(), config)
    report = {
        "tickets": len(history), "labelled": ts.from_history, "unlabelled": ts.unlabelled,
        "examples": ts.from_examples, "filtered": ts.filtered, "filtered_total": sum(ts.filtered.values()),
        "by_intent": dict(sorted(by_intent.items(), key=lambda kv: -kv[1])),
        "intents_without_history": untrained, "metrics": metrics,
    }
    meta = save_model(out, model, config, h, metrics, {"training": {k: v for k, v in report.items()
                                                                     if k != "metrics"}})
    report["model"] = str(out)
    report["model_version"] = meta["version"]
    return report


def render_training(r: dict) -> str:
    m = r["metrics"]
    filtered = ", ".join(f"{k} {v}" for k, v in sorted(r["filtered"].items())) or "none"
    lines = [
        f"Trained model {r['model_version']} -> {r['model']}",
        f"  tickets {r['tickets']}: {r['labelled']} labelled, {r['unlabelled']} unlabelled, "
        f"{r['filtered_total']} left out by the quality filter ({filtered})",
        f"  intent examples added: {r['examples']}",
        f"  held-out ({m['heldout']} tickets): accuracy {m['accuracy']:.1%}, macro-F1 {m['macro_f1']:.3f}; "
        f"answered {m['answered_share']:.1%} at precision {m['answered_precision']:.1%}",
        f"  fit {m['fit_seconds']} s",
    ]
    if r["intents_without_history"]:
        lines.append("  intents with no history (examples only): " + ", ".join(r["intents_without_history"]))
    return "\n".join(lines)
