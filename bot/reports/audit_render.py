"""The audit report as text (the terminal) and as one self-contained HTML page (for a manager to forward).

Both read only the report dict that `bot.audit.audit_records` returns, so `--json`, the text and the page
can never disagree.
"""
from __future__ import annotations

from html import escape

from bot.reports.html import badge, bar_chart, line_chart, page, table

VERDICT_WORD = {"ok": "ok", "outdated": "OUTDATED", "contradictory": "CONTRADICTORY", "missing": "MISSING"}


def _trend(d: dict) -> str:
    change = f" {d['change']:+.0%}" if d.get("change") is not None else ""
    return f"{d['direction']}{change}"


def _articles(a: dict) -> str:
    if a["resolution"] == "escalate":
        return "escalates"
    return ", ".join(f"{x['id']}{' (match)' if x['source'] == 'retrieval' else ''}" for x in a["articles"]) or "-"


def _unlabelled(r: dict) -> str:
    c = r["clusters"]
    if r["settings"]["model"]:
        return f"{c['unlabelled']} tickets the model could not label with confidence, all clustered"
    return (f"{c['unlabelled']} tickets: {sum(c['look_known'].values())} read like known types (their tags are "
            f"missing), {c['clustered']} clustered")


def _window(r: dict) -> str:
    w, t = r["window"], r["tickets"]
    span = f"{(w['from'] or '?')[:10]} to {(w['to'] or '?')[:10]}" if w["to"] else "no readable dates"
    return (f"{t['total']} tickets ({span}; now = the newest ticket), {t['labelled']} labelled"
            + (f", {t['predicted']} labelled by the model" if t["predicted"] else "")
            + f", {t['unlabelled']} unlabelled; {t['articles']} published articles")


# --- text -----------------------------------------------------------------------------------------------

def render_text(r: dict) -> str:
    cov = r["coverage"]
    out = ["Knowledge-base audit", "  " + _window(r), "",
           f"Top-{cov['top']} coverage: {'COVERED' if cov['covered'] else 'NOT COVERED'}: {cov['summary']}", ""]
    audit = {a["type"]: a for a in r["audit"]}
    out.append("Ticket types by volume")
    out.append(f"  {'#':>3}  {'type':<28} {'tickets':>7} {'share':>6} {'30d':>4}  {'trend':<13} {'category':<19} "
               f"{'verdict':<14} articles")
    shown = r["types"][:max(r["settings"]["top"], r["settings"]["coverage_top"])]
    for t in shown:
        a = audit.get(t["type"])
        out.append(f"  {t['rank']:>3}  {t['type'][:28]:<28} {t['tickets']:>7} {t['share']:>6.1%} {t['last_30']:>4}  "
                   f"{_trend(t):<13} {t['category']:<19} {VERDICT_WORD.get(t['verdict'], '') if a else '':<14} "
                   f"{_articles(a) if a else ''}")
    rest = r["types"][len(shown):]
    if rest:
        out.append(f"  ... {len(rest)} more types, {sum(t['tickets'] for t in rest)} tickets")
    c = r["clusters"]
    if c["unlabelled"]:
        out.append(f"  unlabelled: {_unlabelled(r)}")
    out += ["", "Verdicts and evidence"]
    for a in r["audit"]:
        out.append(f"  {a['rank']:>2}. {a['type']}: {VERDICT_WORD[a['verdict']]}")
        for e in a["evidence"]:
            out.append(f"      - {e}")
    if r["contradictions"]:
        out += ["", "Contradictory articles"]
        for c2 in r["contradictions"]:
            out.append(f"  {c2['a']} '{c2['a_title']}' vs {c2['b']} '{c2['b_title']}' ({c2['why_compared']})")
            for d in c2["differences"]:
                out.append(f"      {d['what']}: {d['a_value']} vs {d['b_value']}")
                out.append(f"        {c2['a']}: {d['a_line']}")
                out.append(f"        {c2['b']}: {d['b_line']}")
    out += ["", "Categories"]
    for cat, d in r["categories"].items():
        v = ", ".join(f"{n} {k}" for k, n in d["verdicts"].items()) or "-"
        out.append(f"  {cat:<20} {d['types']:>3} type{'' if d['types'] == 1 else 's'} {d['tickets']:>7} tickets "
                   f"({d['share']:.1%})   audited: {v}")
    out += ["", "Intents and flows (method step 2)"] + [f"  {line}" for line in _flow_lines(r["flows"])]
    out += ["", "Candidate new types (unlabelled tickets clustered)"]
    if not c["candidates"]:
        out.append(f"  none{': ' + c['reason'] if c['reason'] else ''}")
    for cand in c["candidates"]:
        grow = "GROWING, " if cand["growing"] else ""
        out.append(f"  {cand['name']}: {cand['tickets']} tickets, {grow}{_trend(cand)} ({cand['last_30']} in the last "
                   f"30 days); weekly {' '.join(map(str, cand['weekly']))}")
        out.append(f"      terms: {', '.join(cand['terms'])}" + (
            f"; tags: {', '.join(f'{g} {n}' for g, n in cand['tags'])}" if cand["tags"] else ""))
        for ex in cand["examples"]:
            out.append(f"      e.g. #{ex['id']}: {ex['text']}")
    if r.get("suggested_intents"):
        s = r["suggested_intents"]
        out += ["", f"Starter intents file: {s['file']} ({s['intents']} intents, marked # REVIEW)"]
    return "\n".join(out)


def _flow_lines(f: dict) -> list[str]:
    lines = []
    if f.get("reason"):
        lines.append(f.get("reason"))
    lines.append("top-10 types without an intent: " + (", ".join(f["unmapped"]) or "none"))
    lines.append("top-10 types whose intent has neither articles nor an escalation rule: "
                 + (", ".join(f["no_resolution_path"]) or "none"))
    lines.append("transactional intents with neither an article nor escalate (FLAGGED): "
                 + (", ".join(f["transactional_without_path"]) or "none"))
    if f["informational_without_path"]:
        lines.append("informational intents with no article (nothing to answer with): "
                     + ", ".join(f["informational_without_path"]))
    conf = f["confusions"]
    if conf["source"]:
        lines.append(f"confusions ({conf['source']}, {conf['checked']} tickets, accuracy {conf['accuracy']:.1%}): "
                     + ("none above the threshold" if not conf["pairs"] else ""))
        for p in conf["pairs"]:
            lines.append(f"  {p['a']} <-> {p['b']}: {p['a_as_b']} + {p['b_as_a']} tickets ({p['rate']:.0%}): "
                         f"{p['advice']}")
    else:
        lines.append(f"confusions: not measured ({conf.get('reason', '')})")
    lines.append("flows: " + ("OK" if f["ok"] else "NOT OK"))
    return lines


# --- HTML -----------------------------------------------------------------------------------------------

def _ul(items) -> str:
    return "<ul>" + "".join(f"<li>{escape(str(i))}</li>" for i in items) + "</ul>"


def render_html(r: dict) -> str:
    cov, c, weeks = r["coverage"], r["clusters"], r["window"]["weeks"]
    audit = {a["type"]: a for a in r["audit"]}
    tally = {}
    for a in r["audit"]:
        tally[a["verdict"]] = tally.get(a["verdict"], 0) + 1
    summary = (f"<p>{badge('pass' if cov['covered'] else 'fail')} <b>Top-{cov['top']} coverage: "
               f"{'covered' if cov['covered'] else 'not covered'}.</b> {escape(cov['summary'])}.</p>"
               f"<p>Audited types: " + " ".join(f"{badge(v)} {n}" for v, n in sorted(tally.items())) + "</p>")
    if cov["failing"]:
        summary += table(["#", "type", "verdict", "first reason"],
                         [(f["rank"], f["type"], badge(f["verdict"]), f["reason"]) for f in cov["failing"]],
                         numeric=[0], raw=[2])
    shown = r["types"][:max(r["settings"]["top"], r["settings"]["coverage_top"])]
    ranking = bar_chart([t["type"] for t in shown], [t["tickets"] for t in shown], fmt="{:.0f}") + table(
        ["#", "type", "tickets", "share", "last 30 d", "trend", "category", "verdict", "articles"],
        [(t["rank"], t["type"], t["tickets"], f"{t['share']:.1%}", t["last_30"], _trend(t), t["category"],
          badge(t["verdict"]) if t["verdict"] else "", _articles(audit[t["type"]]) if t["type"] in audit else "")
         for t in shown], numeric=[0, 2, 3, 4], raw=[7])
    if len(r["types"]) > len(shown):
        ranking += f'<p class="muted">{len(r["types"]) - len(shown)} more types not shown.</p>'
    trend_chart = line_chart({t["type"]: list(zip(weeks, t["weekly"])) for t in shown[:5]}, fmt="{:.0f}") \
        if weeks else '<p class="muted">no readable dates</p>'
    sections = [("Summary", summary), ("Ticket types by volume", ranking),
                ("Weekly tickets of the five biggest types", trend_chart),
                ("Verdicts and evidence", _verdicts_html(r))]
    if r["contradictions"]:
        sections.append(("Contradictory articles", "".join(
            f"<p><b>{escape(x['a'])}</b> {escape(x['a_title'])} vs <b>{escape(x['b'])}</b> {escape(x['b_title'])} "
            f"<span class=muted>({escape(x['why_compared'])})</span></p>"
            + table(["what", x["a"], x["b"]], [(d["what"], f"{d['a_value']}: {d['a_line']}",
                                              f"{d['b_value']}: {d['b_line']}") for d in x["differences"]])
            for x in r["contradictions"])))
    sections.append(("Categories", table(
        ["category", "types", "tickets", "share", "audited verdicts"],
        [(cat, d["types"], d["tickets"], f"{d['share']:.1%}",
          " ".join(f"{badge(k)} {n}" for k, n in d["verdicts"].items())) for cat, d in r["categories"].items()],
        numeric=[1, 2, 3], raw=[4])))
    sections.append(("Intents and flows (method step 2)", _flows_html(r["flows"])))
    sections.append(("Candidate new types", _clusters_html(r, c, weeks)))
    subtitle = _window(r) + f". Stale after {r['settings']['stale_days']} days."
    return page("Knowledge-base audit", subtitle, sections)


def _verdicts_html(r: dict) -> str:
    parts = []
    for a in r["audit"]:
        arts = ", ".join(f"{x['id']} {x['title']}" for x in a["articles"]) or (
            "escalates to a human" if a["resolution"] == "escalate" else "no article")
        parts.append(f"<p>{badge(a['verdict'])} <b>{a['rank']}. {escape(a['type'])}</b> "
                     f"<span class=muted>{a['tickets']} tickets; {escape(arts)}</span></p>")
        if a["verdict"] != "ok":
            parts.append(_ul(a["evidence"]))
    return "".join(parts)


def _flows_html(f: dict) -> str:
    rows = [("top-10 types without an intent", ", ".join(f["unmapped"]) or "none"),
            ("top-10 types without a resolution path or escalation rule", ", ".join(f["no_resolution_path"]) or "none"),
            ("transactional intents with neither an article nor escalate", ", ".join(f["transactional_without_path"])
             or "none"),
            ("informational intents with no article", ", ".join(f["informational_without_path"]) or "none")]
    html = (f"<p>{badge('pass' if f['ok'] else 'fail')} " + (escape(f["reason"]) if f.get("reason") else "")
            + "</p>" + table(["check", "intents"], rows))
    conf = f["confusions"]
    if conf["source"]:
        html += (f"<p>Confusions: {escape(conf['source'])}, {conf['checked']} tickets, "
                 f"accuracy {conf['accuracy']:.1%}.</p>")
        html += table(["intent A", "intent B", "A taken for B", "B taken for A", "rate", "advice"],
                      [(p["a"], p["b"], p["a_as_b"], p["b_as_a"], f"{p['rate']:.0%}", p["advice"])
                       for p in conf["pairs"]], numeric=[2, 3, 4]) if conf["pairs"] else \
            '<p class="muted">No pair of intents is confused above the threshold.</p>'
    return html


def _clusters_html(r: dict, c: dict, weeks: list[str]) -> str:
    intro = f"<p>Unlabelled: {escape(_unlabelled(r))}.</p>"
    if not c["candidates"]:
        return intro + f'<p class="muted">No candidate. {escape(c["reason"])}</p>'
    cands = c["candidates"]
    html = intro + bar_chart([x["name"] for x in cands], [x["tickets"] for x in cands], fmt="{:.0f}",
                             color="#d97706")
    if weeks:
        html += line_chart({x["name"]: list(zip(weeks, x["weekly"])) for x in cands[:6]}, fmt="{:.0f}")
    html += table(["candidate", "tickets", "trend", "top terms", "tags", "examples"],
                  [(x["name"], x["tickets"], ("GROWING " if x["growing"] else "") + _trend(x),
                    ", ".join(x["terms"]), ", ".join(f"{g} ({n})" for g, n in x["tags"]),
                    " | ".join(e["text"] for e in x["examples"])) for x in cands], numeric=[1])
    return html
