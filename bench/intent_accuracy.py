"""Intent accuracy, speed and out-of-scope detection on BANKING77, through the same code path as `bot train`.

    python bench/intent_accuracy.py [--tune] [--shared ../shared]

BANKING77's train split becomes a history file and an intents file, `bot train`'s code trains on them,
and the untouched test split is classified. `--tune` chooses C on a validation split carved from train
(never on test). Decision latency is clean + classify + retrieve + decide over 1,000 test tickets, with a
synthetic article per intent (BANKING77 has no help center) so retrieval does real work.
Targets (2 cores): accuracy >= 91.0%, fit <= 30 s, decision p50 <= 5 ms, p99 <= 20 ms, peak RSS <= 2 GB.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml
from sklearn.metrics import f1_score

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.brain.records import Message, Ticket  # noqa: E402
from bot.model_store import load_brain, load_model  # noqa: E402
from bot.train_command import train_from_files  # noqa: E402
from bot.brain.text import clean_for_model  # noqa: E402


def load_csv(path: Path) -> tuple[list[str], list[str]]:
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [r["text"] for r in rows], [r["category"] for r in rows]


def write_inputs(d: Path, texts, labels, classes) -> tuple[Path, Path, Path]:
    """BANKING77 as the spec's files: history lines labelled by `intent`, one intent per class."""
    hist = d / "history.jsonl"
    with hist.open("w") as f:
        for i, (t, y) in enumerate(zip(texts, labels)):
            f.write(json.dumps({"id": str(i), "vendor": "zendesk", "created_at": "2026-01-01T00:00:00Z",
                                "messages": [{"author": "customer", "body": t, "public": True}],
                                "intent": y}) + "\n")
    by_class: dict[str, list[str]] = {}
    for t, y in zip(texts, labels):
        by_class.setdefault(y, []).append(t)
    arts = d / "articles.jsonl"
    with arts.open("w") as f:
        for k, c in enumerate(classes):
            ex = by_class.get(c, [])[:6]
            body = "".join(f"<h2>{c.replace('_', ' ')} {s}</h2><ol>" + "".join(f"<li>{e}</li>" for e in ex[s::2]) +
                           "</ol>" for s in (0, 1))
            f.write(json.dumps({"id": str(k), "title": c.replace("_", " "), "body_html": body,
                                "url": f"https://help.example/{k}"}) + "\n")
    intents = d / "intents.yaml"
    intents.write_text(yaml.safe_dump({
        "policy": {"target_precision": 0.9},
        "intents": [{"name": c, "kind": "informational", "articles": [str(k)]} for k, c in enumerate(classes)],
    }))
    return hist, intents, arts


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def dir_mb(p: Path) -> float:
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file()) / 1e6


def run(shared: Path, held_out: list[str], label: str) -> dict:
    Xtr, ytr = load_csv(shared / "banking77" / "train.csv")
    Xte, yte = load_csv(shared / "banking77" / "test.csv")
    classes = sorted(set(ytr) - set(held_out))
    keep = [i for i, y in enumerate(ytr) if y not in held_out]
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        hist, intents, arts = write_inputs(d, [Xtr[i] for i in keep], [ytr[i] for i in keep], classes)
        t0 = time.perf_counter()
        report = train_from_files(hist, intents, arts, d / "model")
        fit_s = time.perf_counter() - t0
        model, _ = load_model(d / "model")
        preds = model.predict_many([clean_for_model("", t) for t in Xte])
        out = {"run": label, "train_rows": len(keep), "fit_seconds_total": round(fit_s, 1),
               "fit_seconds_model": report["metrics"]["fit_seconds"], "model_mb": round(dir_mb(d / "model"), 1)}
        inside = np.array([y not in held_out for y in yte])
        gold = np.array(yte)
        pred = np.array([p.intent for p in preds])
        oos = np.array([p.out_of_scope for p in preds])
        out["accuracy"] = round(float((pred[inside] == gold[inside]).mean()), 4)
        out["macro_f1"] = round(float(f1_score(gold[inside], pred[inside], average="macro")), 4)
        answered = inside & ~oos
        out["answered_share"] = round(float(answered.sum() / inside.sum()), 4)
        out["answered_precision"] = round(float((pred[answered] == gold[answered]).mean()), 4)
        if held_out:
            out["heldout_flagged_oos"] = round(float(oos[~inside].mean()), 4)
        else:
            brain = load_brain(d / "model", intents, arts)
            lat = []
            for i, t in enumerate(Xte[:1000]):
                ticket = Ticket(id=str(i), vendor="zendesk", created_at="2026-01-01T00:00:00Z",
                                messages=(Message("customer", t),))
                s = time.perf_counter()
                brain.decide(ticket)
                lat.append((time.perf_counter() - s) * 1000)
            out["decision_ms_p50"] = round(float(np.percentile(lat, 50)), 2)
            out["decision_ms_p99"] = round(float(np.percentile(lat, 99)), 2)
        out["peak_rss_mb"] = round(rss_mb(), 0)
        return out


def tune(shared: Path) -> None:
    """Choose C on a validation split of train (15%, stratified): the test split is never looked at."""
    from sklearn.model_selection import train_test_split
    from bot.brain.classifier import TfidfSvmClassifier
    X, y = load_csv(shared / "banking77" / "train.csv")
    X = [clean_for_model("", t) for t in X]
    Xa, Xv, ya, yv = train_test_split(X, y, test_size=0.15, random_state=0, stratify=y)
    for C in (0.3, 0.6, 1.0, 2.0):
        clf = TfidfSvmClassifier(C=C).fit(Xa, ya)
        pred = [clf.classes[k] for k in clf.scores(Xv).argmax(1)]
        acc = (np.array(pred) == np.array(yv)).mean()
        print(f"C={C}: validation accuracy {acc:.4f}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--tune", action="store_true")
    a = ap.parse_args()
    shared = Path(a.shared)
    if a.tune:
        tune(shared)
        return
    full = run(shared, [], "all 77 intents")
    cats = json.loads((shared / "banking77" / "categories.json").read_text())
    held = sorted(cats)[::8][:10]
    oos = run(shared, held, "10 intents held out")
    for r in (full, oos):
        print(json.dumps(r))
    print(f"\nBANKING77 test: accuracy {full['accuracy']:.2%}, macro-F1 {full['macro_f1']:.4f}, "
          f"fit {full['fit_seconds_model']} s (train command {full['fit_seconds_total']} s), model {full['model_mb']} MB, "
          f"decision p50 {full['decision_ms_p50']} ms / p99 {full['decision_ms_p99']} ms, "
          f"peak RSS {max(full['peak_rss_mb'], oos['peak_rss_mb']):.0f} MB")
    print(f"Out of scope (10 intents held out: {', '.join(held)}): {oos['heldout_flagged_oos']:.1%} of their "
          f"test messages flagged out of scope; accuracy on the other 67: {oos['accuracy']:.2%}; "
          f"answered {oos['answered_share']:.1%} of in-scope at precision {oos['answered_precision']:.1%}")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
