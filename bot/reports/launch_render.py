"""Text and HTML renderings of `bot backtest`, `bot report` and `bot checklist`.

The text is for the terminal (fixed columns, the worst news first); the HTML is one self-contained page with
inline SVG charts (bot.reports.html) that a manager can forward as it is.
"""
from __future__ import annotations

from html import escape
from typing import Optional

from bot.reports.html import bar_chart, badge, line_chart, page, table

NAMES = {"resolution_rate": "resolution rate", "escalation_rate": "escalation rate", "csat": "CSAT",
         "ttr_median_hours": "time to resolution, median", "ttr_p90_hours": "time to resolution, p90"}
REASON_NAMES = {"negative_sentiment": "negative sentiment", "max_attempts": "too many bot attempts",
                "vip": "VIP requester", "asked_for_human": "asked for a person",
                "intent_always_escalates": "intent always escalates",
                "transactional_needs_human": "transactional, needs a human", "no_article": "no article answers it",
                "out_of_scope_after_question": "out of scope after a question"}
PSEUDO_NAMES = {"_other_topic": "(topics no intent claims)", "_unlabelled": "(unlabelled)"}


def pct(x: Optional[float], digits: int = 1) -> str:
    return "-" if x is None else f"{x:.{digits}%}"


def hours(x: Optional[float]) -> str:
    return "-" if x is None else f"{x:.1f} h"


def fmt_metric(metric: str, v: Optional[float]) -> str:
    return hours(v) if metric.startswith("ttr") else pct(v)


def _intent_name(k: str) -> str:
    return PSEUDO_NAMES.get(k, k)


def _verdict_badge(v: str) -> str:
    cls = {"better": "ok", "same": "ok", "worse": "bad"}.get(v, "warn")
    return f'<span class="badge {cls}">{escape(v)}</span>'


# --- backtest ---------------------------------------------------------------------------------------------

def _threshold_cell(t: Optional[dict]) -> str:
    if not t:
        return "-"
    now = f"{t['current']:.2f}"
    return f"{now} -> {t['suggested']:.2f}" if t.get("suggested") is not None else f"{now} (keep)"


def render_backtest(r: dict) -> str:
    s, o, tr = r["split"], r["overall"], r["training"]
    qf = r["quality_filter"]
    qtrain = ", ".join(f"{k} {v}" for k, v in qf["train"].items() if k != "total")
    qrep = ", ".join(f"{k} {v}" for k, v in qf["replay"].items() if k != "total")
    lines = [
        f"Backtest of model {r['model_version']} ({r['model']}) on {r['history']}",
        f"  trained a fresh model on {s['train']['tickets']} tickets {s['train']['from'][:10]} .. "
        f"{s['train']['to'][:10]} ({tr['labelled']} labelled, {tr['unlabelled']} unlabelled, "
        f"held-out accuracy {pct(tr['heldout'].get('accuracy'))})",
        f"  replayed the newest {s['weeks']} weeks: {s['replay']['tickets']} tickets {s['replay']['from'][:10]} .. "
        f"{s['replay']['to'][:10]}, as they arrived, none of them seen in training",
        f"  quality filter, left out of training: {qf['train']['total']} ({qtrain}); "
        f"in the replayed weeks: {qf['replay']['total']} ({qrep})",
    ]
    if not r["model_matches_intents"]:
        lines.append("  note: MODEL was trained for other intents than the intents file; --apply will refuse it")
    lines += [
        "",
        f"  overall: answered {pct(o['answered_share'])} at precision {pct(o['precision'])} "
        f"({o['judged']} answers judged against the agents), clarified {pct(o['clarify_share'])}, "
        f"escalated {pct(o['escalate_share'])}",
    ]
    if o["answers_on_other_topics"]:
        lines.append(f"  {o['answers_on_other_topics']} answers went to tickets of topics no intent claims")
    if o["article"]["checked"]:
        lines.append(f"  article: where an agent linked one, the bot chose the same in {o['article']['agree']} of "
                     f"{o['article']['checked']}")
    else:
        lines.append("  article: no agent reply in the replayed weeks links a help-center article")
    if o["escalation_reasons"]:
        lines.append("  escalations by reason: " + ", ".join(
            f"{REASON_NAMES.get(k, k)} {v}" for k, v in o["escalation_reasons"].items()))
    lines += ["", f"  {'intent':<28}{'tickets':>8}{'answer':>8}{'clarify':>8}{'escal.':>8}{'prec.':>8}"
                  f"{'judged':>7}  threshold (target {r['target_precision']:.0%})"]
    for name, v in r["by_intent"].items():
        lines.append(f"  {_intent_name(name)[:27]:<28}{v['tickets']:>8}{pct(v['answered_share'], 0):>8}"
                     f"{pct(v['clarify_share'], 0):>8}{pct(v['escalate_share'], 0):>8}{pct(v['precision'], 0):>8}"
                     f"{v['judged']:>7}  {_threshold_cell(v.get('threshold'))}")
    changes = [(n, t) for n, t in r["thresholds"].items()
               if t.get("suggested") is not None and round(t["suggested"], 2) != round(t["current"], 2)]
    lines.append("")
    if changes:
        lines.append(f"  thresholds that reach {r['target_precision']:.0%} on the replayed weeks "
                     f"({len(changes)} differ from MODEL):")
        for n, t in changes:
            lines.append(f"    {n:<28} {t['current']:.2f} -> {t['suggested']:.2f}  ({t['why']}; "
                         f"{t['support']} judged, precision there {pct(t['precision_at_suggested'], 0)})")
    else:
        lines.append("  thresholds: MODEL's already match what the replayed weeks support")
    if r.get("applied"):
        a = r["applied"]
        lines.append(f"  applied to {a['model']}: version {a['version']} ({len(a['changed'])} thresholds changed)")
    elif changes:
        lines.append("  (run with --apply to write them into the model)")
    return "\n".join(lines)


def html_backtest(r: dict) -> str:
    s, o = r["split"], r["overall"]
    intents = [(k, v) for k, v in r["by_intent"].items() if v["tickets"]]
    summary = table(["figure", "value"], [
        ["tickets replayed", f"{s['replay']['tickets']} ({s['replay']['from'][:10]} .. {s['replay']['to'][:10]})"],
        ["trained on", f"{s['train']['tickets']} older tickets ({r['training']['labelled']} labelled)"],
        ["answered", pct(o["answered_share"])], ["precision of the answers", pct(o["precision"])],
        ["clarified", pct(o["clarify_share"])], ["escalated", pct(o["escalate_share"])],
        ["left out by the quality filter (training)", r["quality_filter"]["train"]["total"]],
    ])
    bars = bar_chart([_intent_name(k) for k, _ in intents], [v["answered_share"] or 0 for _, v in intents],
                     fmt="{:.0%}")
    rows = [[_intent_name(k), v["tickets"], pct(v["answered_share"], 0), pct(v["clarify_share"], 0),
             pct(v["escalate_share"], 0), pct(v["precision"], 0), v["judged"],
             ", ".join(f"{REASON_NAMES.get(a, a)} {b}" for a, b in v["escalation_reasons"].items()),
             _threshold_cell(v.get("threshold"))] for k, v in r["by_intent"].items()]
    per_intent = table(["intent", "tickets", "answered", "clarified", "escalated", "precision", "judged",
                        "escalation reasons", "threshold now -> suggested"], rows, numeric=(1, 2, 3, 4, 5, 6))
    reasons = o["escalation_reasons"]
    reason_chart = bar_chart([REASON_NAMES.get(k, k) for k in reasons], list(reasons.values()), color="#dc2626")
    th = [[n, f"{t['current']:.2f}", f"{t['replay_model']:.2f}",
           "-" if t["suggested"] is None else f"{t['suggested']:.2f}", t["support"],
           pct(t["precision_at_suggested"], 0), t.get("why", "")] for n, t in r["thresholds"].items()]
    qf = r["quality_filter"]
    quality = table(["reason", "training part", "replayed weeks"],
                    [[k, qf["train"][k], qf["replay"][k]] for k in qf["train"] if k != "total"], numeric=(1, 2))
    applied = ""
    if r.get("applied"):
        a = r["applied"]
        applied = f"<p>{badge('done')} applied to {escape(a['model'])}: version {escape(a['version'])}, " \
                  f"{len(a['changed'])} thresholds changed.</p>"
    return page(
        "Backtest: what the bot would have done",
        f"model {r['model_version']} - history {r['history']} - newest {s['weeks']} weeks replayed after a time "
        f"split at {s['cut']} (no replayed ticket in training)",
        [("Summary", summary), ("Share answered per intent", bars), ("Per intent", per_intent),
         ("Why it escalated", reason_chart),
         (f"Thresholds for {r['target_precision']:.0%} precision",
          table(["intent", "MODEL", "replay model", "suggested", "judged", "precision at suggested", "why"], th,
                numeric=(1, 2, 3, 4, 5)) + applied),
         ("Quality filter", quality)])


# --- launch report ---------------------------------------------------------------------------------------

def render_report(r: dict) -> str:
    n = r["tickets"]
    main = r["main_group"] or "bot"
    lines = [f"Launch report as of {r['as_of']}" + (f", since {r['since']}" if r.get("since") else ""),
             f"  launch (first decision) {r['launch'] or '-'}; tickets: bot {n['bot']}, shadow {n['shadow']}, "
             f"control {n['control']}; baseline {n['baseline']} ({r['baseline_window']['from'][:10]} .. "
             f"{r['baseline_window']['to'][:10]})"]
    for note in r["notes"]:
        lines.append(f"  note: {note}")
    cols = ["bot", "shadow", "control", "baseline"]
    lines += ["", f"  {'metric':<28}" + "".join(f"{c:>10}" for c in cols) + f"{'vs control':>13}{'vs baseline':>13}"]
    for m, row in r["summary"].items():
        lines.append(f"  {NAMES[m]:<28}" + "".join(f"{fmt_metric(m, row[c]):>10}" for c in cols)
                     + f"{row['vs_control']:>13}{row['vs_baseline']:>13}")
    g = r["groups"]
    lines.append(f"  (resolution over tickets with a known outcome: bot {g['bot']['with_outcome']}, "
                 f"shadow {g['shadow']['with_outcome']}, control {g['control']['with_outcome']}; "
                 f"too recent to judge: {g['bot']['pending'] + g['shadow']['pending'] + g['control']['pending']})")
    if r["weeks"]:
        lines += ["", f"  week by week ({main} vs control):",
                  f"  {'week of':<12}{'tickets':>8}{'resolved':>10}{'escal.':>8}{'CSAT':>7}{'TTR med':>9}"
                  f"{'| control':>10}{'resolved':>10}{'CSAT':>7}{'TTR med':>9}"]
        for w in r["weeks"]:
            a, c = w.get(main) or {}, w.get("control") or {}
            lines.append(f"  {w['week']:<12}{a.get('tickets', 0):>8}{pct(a.get('resolution_rate'), 0):>10}"
                         f"{pct(a.get('escalation_rate'), 0):>8}{pct(a.get('csat'), 0):>7}"
                         f"{hours(a.get('ttr_median_hours')):>9}{c.get('tickets', 0):>10}"
                         f"{pct(c.get('resolution_rate'), 0):>10}{pct(c.get('csat'), 0):>7}"
                         f"{hours(c.get('ttr_median_hours')):>9}")
    em = r["emerging"]
    lines += ["", f"  emerging types ({em['considered']} out-of-scope or unlabelled tickets in the "
                  f"{em['window']['weeks']} weeks to {em['window']['to'][:10]}, {em['read_like_known_types']} read "
                  "like known types):"]
    if not em["clusters"]:
        lines.append("    none found")
    for c in em["clusters"][:8]:
        flag = "GROWING " if c["growing"] else ""
        tags = ", ".join(c["tags"]) or "no topic tag"
        lines.append(f"    {flag}[{c['cluster']}] {c['last_week']} last week vs {c['earlier_mean']:.1f}/week before "
                     f"(weekly {' '.join(map(str, c['weekly']))}); tags: {tags}")
        if c["growing"]:
            for ex in c["examples"][:2]:
                lines.append(f"        #{ex['ticket_id']} {ex['subject']}: {ex['text'][:90]}")
    lines += ["", f"  weekly review: {r['review_total']} escalated or unresolved tickets, worst first:"]
    for x in r["review"][:15]:
        marks = [m for m, on in (("CSAT bad", x["satisfaction"] == "bad"), ("reopened", x["reopened"]),
                                 ("unresolved", x["resolved"] is False and x["group"] == "bot"),
                                 ("escalated", x["escalated"])) if on]
        why = "; ".join(x["reasons"][:2] or x["why_unresolved"][:2])
        lines.append(f"    #{x['ticket_id']} {x['decided_at'][:10]} {x['group']:<7} {x['intent'] or '-':<24} "
                     f"{', '.join(marks)}: {why[:90]}")
    if r["review_total"] > 15:
        lines.append(f"    ... {r['review_total'] - 15} more (--json or --html for all)")
    return "\n".join(lines)


def html_report(r: dict) -> str:
    main = r["main_group"] or "bot"
    cols = ["bot", "shadow", "control", "baseline"]
    summary_rows = [[NAMES[m]] + [fmt_metric(m, row[c]) for c in cols]
                    + [_verdict_badge(row["vs_control"]), _verdict_badge(row["vs_baseline"])]
                    for m, row in r["summary"].items()]
    summary = table(["metric"] + cols + ["bot vs control", "bot vs baseline"], summary_rows,
                    numeric=(1, 2, 3, 4), raw=(5, 6))
    notes = "".join(f'<p class="muted">{escape(n)}</p>' for n in r["notes"])
    charts = []
    base = r["groups"]["baseline"]
    for m in ("resolution_rate", "escalation_rate", "csat", "ttr_median_hours"):
        series = {}
        for g in (main, "control"):
            pts = [(w["week"], (w.get(g) or {}).get(m)) for w in r["weeks"]]
            if any(v is not None for _, v in pts):
                series[g] = pts
        if base.get(m) is not None and r["weeks"]:
            series["baseline (90 days before launch)"] = [(w["week"], base[m]) for w in r["weeks"]]
        rate = not m.startswith("ttr")
        charts.append((f"{NAMES[m][0].upper()}{NAMES[m][1:]}, week by week",
                       line_chart(series, fmt="{:.0%}" if rate else "{:.0f} h", y_max=1.0 if rate else None)))
    week_rows = []
    for w in r["weeks"]:
        a, c = w.get(main) or {}, w.get("control") or {}
        week_rows.append([w["week"], a.get("tickets", 0), pct(a.get("resolution_rate"), 0),
                          pct(a.get("escalation_rate"), 0), pct(a.get("csat"), 0), hours(a.get("ttr_median_hours")),
                          c.get("tickets", 0), pct(c.get("resolution_rate"), 0), pct(c.get("csat"), 0),
                          hours(c.get("ttr_median_hours"))])
    weeks = table(["week of", f"{main} tickets", "resolved", "escalated", "CSAT", "TTR median", "control tickets",
                   "resolved", "CSAT", "TTR median"], week_rows, numeric=tuple(range(1, 10)))
    em = r["emerging"]
    flagged = [c for c in em["clusters"] if c["growing"]]
    em_rows = [['<span class="badge bad">growing</span>' if c["growing"] else "", c["cluster"], c["tickets"], " ".join(map(str, c["weekly"])),
                ", ".join(c["tags"]),
                "; ".join(f"#{e['ticket_id']} {e['subject']}: {e['text'][:80]}" for e in c["examples"][:2])]
               for c in em["clusters"]]
    em_html = (f'<p class="muted">{em["considered"]} out-of-scope or unlabelled tickets in the '
               f'{em["window"]["weeks"]} weeks to {escape(em["window"]["to"][:10])}; growing = last week at least '
               f'5 and over twice the weekly mean before.</p>')
    if flagged:
        labels = em["window"].get("week_starts") or [str(i) for i in range(len(flagged[0]["weekly"]))]
        em_html += line_chart({c["cluster"]: list(zip(labels, c["weekly"])) for c in flagged[:6]}, fmt="{:.0f}")
    em_html += table(["", "cluster", "tickets", "weekly", "tags", "examples"], em_rows, numeric=(2,), raw=(0,))
    review_rows = [[f"#{x['ticket_id']}", x["decided_at"][:10], x["group"], x["intent"] or "-",
                    x["satisfaction"] or "", "yes" if x["reopened"] else "", "yes" if x["escalated"] else "",
                    "; ".join(x["reasons"][:2] or x["why_unresolved"][:2]), x["subject"]] for x in r["review"]]
    review = table(["ticket", "decided", "group", "intent", "CSAT", "reopened", "escalated", "why", "subject"],
                   review_rows)
    if r["review_total"] > len(r["review"]):
        review += f'<p class="muted">{r["review_total"] - len(r["review"])} more in --json.</p>'
    n = r["tickets"]
    subtitle = (f"as of {r['as_of']} - launch {r['launch'] or '-'} - bot {n['bot']}, shadow {n['shadow']}, "
                f"control {n['control']} tickets; baseline {n['baseline']} tickets")
    defs = table(["term", "meaning"], [[k, v] for k, v in r["definitions"].items()])
    return page("Launch report", subtitle,
                [("Summary", summary + notes)] + charts +
                [("Week by week", weeks), ("Emerging ticket types", em_html),
                 (f"Weekly review ({r['review_total']})", review), ("Definitions", defs)])


# --- checklist -------------------------------------------------------------------------------------------

MARK = {"pass": "PASS", "fail": "FAIL", "unknown": "????"}


def render_checklist(r: dict) -> str:
    head = "READY" if r["ready"] else "NOT READY"
    lines = [f"Readiness checklist ({r['checked_at']}): {head} - {r['passed']} pass, {r['failed']} fail, "
             f"{r['unknown']} unknown"]
    for it in r["items"]:
        lines.append(f"  [{MARK[it['state']]}] {it['title']}: {it['evidence']}")
    audit = next((i.get("audit") for i in r["items"] if i.get("audit")), None)
    if audit:
        lines += ["", f"  top ticket types (from {audit['source']}):"]
        for t in audit["types"]:
            lines.append(f"    {t['type']:<28}{str(t.get('tickets') or ''):>6}  {t['verdict']:<14}{t['why']}")
    return "\n".join(lines)


def html_checklist(r: dict) -> str:
    rows = [[badge(it["state"] if it["state"] != "unknown" else "unknown"), it["title"], it["evidence"]]
            for it in r["items"]]
    sections = [("Items", table(["state", "item", "evidence"], rows, raw=(0,)))]
    audit = next((i.get("audit") for i in r["items"] if i.get("audit")), None)
    if audit:
        types = audit["types"]
        chart = bar_chart([t["type"] for t in types], [t.get("tickets") or 0 for t in types])
        sections.append((f"Top ticket types (from {audit['source']})", chart + table(
            ["type", "tickets", "verdict", "why"],
            [[t["type"], t.get("tickets"), badge(str(t["verdict"])), t["why"]] for t in types],
            numeric=(1,), raw=(2,))))
    head = "ready" if r["ready"] else "not ready"
    return page("Readiness checklist", f"{head} - {r['passed']} pass, {r['failed']} fail, {r['unknown']} unknown - "
                f"checked {r['checked_at']}", sections)
