"""Audit + backtest on a 100,000-ticket history generated from the fixtures.

    python bench/reports_scale.py [--tickets 100000]

The fixture history (1,515 tickets over 90 days) is repeated with fresh ids and small shifts in time until it
holds --tickets lines, so volumes, labels and trends keep the fixtures' shape. Then `bot audit` and
`bot backtest` run through their command functions. Target on 2 cores: audit + backtest under 120 s and peak
RSS under 2 GB (ru_maxrss of this process, which runs both).
"""
from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.timeutil import iso, parse_time  # noqa: E402

FIX = ROOT / "fixtures"


def generate(n: int, out: Path) -> None:
    rng = random.Random(7)
    base = [json.loads(x) for x in (FIX / "history.jsonl").read_text().split("\n") if x.strip()]
    with out.open("w") as f:
        for i in range(n):
            t = dict(base[i % len(base)])
            shift = timedelta(minutes=rng.randint(-720, 720))
            t["id"] = str(1_000_000 + i)
            for key in ("created_at", "solved_at"):
                if t.get(key):
                    t[key] = iso(parse_time(t[key]) + shift)
            t["messages"] = [{**m, "at": iso(parse_time(m["at"]) + shift)} if m.get("at") else m
                             for m in t["messages"]]
            f.write(json.dumps(t) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tickets", type=int, default=100_000)
    a = ap.parse_args()
    from bot.audit import run_audit
    from bot.backtest import run_backtest
    from bot.train_command import train_from_files
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        hist = d / "history.jsonl"
        t0 = time.perf_counter()
        generate(a.tickets, hist)
        gen_s = time.perf_counter() - t0
        model = d / "model"
        train_from_files(FIX / "history.jsonl", FIX / "intents.yaml", FIX / "articles.jsonl", model)
        t0 = time.perf_counter()
        run_audit(hist, FIX / "articles.jsonl", FIX / "intents.yaml")
        audit_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        back = run_backtest(model, FIX / "intents.yaml", FIX / "articles.jsonl", hist)
        back_s = time.perf_counter() - t0
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    figures = {"tickets": a.tickets, "generate_s": round(gen_s, 1), "audit_s": round(audit_s, 1),
               "backtest_s": round(back_s, 1), "audit_plus_backtest_s": round(audit_s + back_s, 1),
               "peak_rss_mb": round(rss), "replayed": back["split"]["replay"],
               "answered_share": back["overall"].get("answered_share"),
               "precision": back["overall"].get("precision")}
    print(json.dumps(figures))
    print(f"{a.tickets} tickets: audit {audit_s:.1f} s + backtest {back_s:.1f} s = {audit_s + back_s:.1f} s "
          f"(target < 120 s), peak RSS {rss:.0f} MB (target < 2048 MB)")


if __name__ == "__main__":
    main()
