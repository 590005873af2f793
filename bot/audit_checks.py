"""The audit's checks on one ticket type: outdated, contradictory, and the flow checks (method steps 1-2).

All of it compares *terms* that can be checked by eye: menu paths ("Settings > Payments > Refunds"), names
(e-mail addresses, links) and quantities ("14 days", "5-7 business days", "$5.95"). A verdict the team cannot
verify from the lines it shows is a verdict they will not act on, so every finding carries its lines.

- outdated: an article not updated for `stale_days` while the type still gets tickets (last 30 days), or
  agents' public replies for the type keep using terms the article does not have (the menus were renamed,
  the link validity changed): the terms, how many tickets used them, and what the article says instead.
- contradictory: two articles on the same task (attached to one intent, or same help-center section with
  mostly the same labels) with a pair of similar lines whose quantities or menu paths differ.
"""
from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Iterable, Optional, Sequence

import numpy as np
from sklearn.base import clone
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from bot.brain.classifier import IntentModel, TfidfSvmClassifier
from bot.brain.records import Article, Intent, Ticket
from bot.brain.text import html_to_text
from bot.clusters import sample_index
from bot.timeutil import parse_time

RECENT_DAYS = 30  # "the tickets keep coming": tickets in the last RECENT_DAYS ...
RECENT_MIN = 3  # ... at least this many
DRIFT_MIN_SHARE = 0.4  # a term in at least this share of the type's answered tickets is "what agents say";
DRIFT_ALONE_SHARE = 0.75  # it makes the article outdated when the article's own names are unused, or above this
DRIFT_MIN_TICKETS = 3
LINE_OVERLAP = 0.5  # two lines are "about the same thing" at this overlap of their content words ...
LINE_MIN_COMMON = 2  # ... and at least this many content words in common
LABEL_OVERLAP = 0.5  # articles in one help-center section with this label overlap are on the same task
CONFUSION_RATE = 0.1  # a pair of intents confused in this share of their tickets (both ways) ...
CONFUSION_MIN = 3  # ... and at least this many times is named
CV_MAX = 3000  # labelled tickets in the cross-validated fit that measures confusions (no model given)
MODEL_CONFUSION_MAX = 10000
CV_FOLDS = 3
SEED = 13

_STOP = frozenset("""a an the and or but if then to of in on at by for from with within into onto as is are was were be
been being it its this that these those you your yours we our us they their them he she his her i me my mine
can could will would should may might must do does did done not no yes so too very just also only any all
some most more less than once when where which who whom what how why there here after before about over under
again up down out off until while each per via please still one new other""".split())
_UNITS = r"business\s+days?|working\s+days?|days?|hours?|hrs?|minutes?|mins?|weeks?|months?|years?|%|percent|" \
         r"characters?|digits?|units?|countries|addresses"
_QTY = re.compile(rf"""(?<![\w.$])(?:
    (?P<money>[$€£]\s?\d+(?:[.,]\d+)?)
  | (?P<num>\d+(?:[.,]\d+)?(?:\s?(?:-|–|to)\s?\d+(?:[.,]\d+)?)?)[\s-]?(?P<unit>{_UNITS})\b)""", re.I | re.X)
_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_LINK = re.compile(r"\bhttps?://[^\s<>\"')]+", re.I)
_SEG_STOP = _STOP | {"select", "click", "choose", "pick", "tick", "open", "save", "go", "enter", "type", "use"}
_LEAD_STOP = (_SEG_STOP | {"see", "visit", "check", "tap", "navigate", "head", "find", "under", "then"}) - {"my"}
_WORD = re.compile(r"[a-z][a-z'-]{2,}")


# --- terms ----------------------------------------------------------------------------------------------

def _unit(u: str) -> str:
    u = " ".join(u.lower().replace("working", "business").split())
    return {"hrs": "hour", "hr": "hour", "mins": "minute", "min": "minute", "percent": "%",
            "countries": "country", "addresses": "address"}.get(u, u[:-1] if u.endswith("s") and u != "%" else u)


def quantities(text: str) -> list[tuple[str, str]]:
    """(value, unit) pairs: ("14", "day"), ("5-7", "business day"), ("5.95", "$")."""
    out = []
    for m in _QTY.finditer(text or ""):
        if m.group("money"):
            out.append((re.sub(r"[^\d.,]", "", m.group("money")), "$"))
        else:
            value = re.sub(r"\s*(?:-|–|to)\s*", "-", m.group("num").strip())
            out.append((value, _unit(m.group("unit"))))
    return out


def fmt_quantity(value: str, unit: str) -> str:
    """("14", "day") -> "14 days"; ("5.95", "$") -> "$5.95"."""
    if unit == "$":
        return f"${value}"
    if unit == "%":
        return f"{value}%"
    plural = {"country": "countries", "address": "addresses"}.get(unit, unit + "s")
    return f"{value} {unit if value == '1' else plural}"


def _suffix(chunk: str) -> list[str]:
    """The capitalised words that end `chunk`: the first segment of a path ("open My Account")."""
    words = chunk.rstrip().split(" ")
    if not words or not words[-1] or not re.fullmatch(r"[A-Z][\w'&-]*", words[-1]):
        return []
    out: list[str] = []
    for w in reversed(words):
        if w.lower() in _LEAD_STOP:  # "See Settings > ...": a sentence's first word is capitalised too
            break
        if len(out) < 3 and (re.fullmatch(r"[A-Z][\w'-]*", w) or (w == "&" and out)):
            out.insert(0, w)
        else:
            break
    while out and out[0] == "&":
        out.pop(0)
    return out


def _prefix(chunk: str) -> tuple[list[str], bool]:
    """The segment that starts `chunk` ("Orders and select" -> Orders) and whether it is the whole chunk."""
    out: list[str] = []
    for i, raw in enumerate(chunk.strip().split()):
        word = raw.rstrip(".,;:!?)\"'")
        cut = word != raw or raw.startswith("(")
        if raw.startswith("("):
            break
        if i == 0 and not re.fullmatch(r"[A-Z][\w'-]*", word):
            return [], False
        if i > 0 and (word.lower() in _SEG_STOP or len(out) >= 3 or not re.fullmatch(r"[\w'&-]+", word)):
            return out, False
        out.append(word)
        if cut:
            return out, False
    return out, True


def menu_paths(text: str) -> list[str]:
    """"Account > Login & security > Change password" style paths; quote markers ("> ...") are not paths."""
    out = []
    for line in (text or "").splitlines():
        parts = re.split(r"\s+>\s+", line)
        i = 0
        while i < len(parts) - 1:
            head = _suffix(parts[i])
            chain = [" ".join(head)] if head else []
            j = i + 1
            while chain and j < len(parts):
                seg, whole = _prefix(parts[j])
                if not seg:
                    break
                chain.append(" ".join(seg))
                if not whole:
                    break
                j += 1
            if len(chain) >= 2:
                out.append(" > ".join(chain))
                i = j
            else:
                i += 1
    return out


def names(text: str) -> list[str]:
    return [m.group().rstrip(".,;:") for m in _EMAIL.finditer(text or "")] + \
           [m.group().rstrip(".,;:") for m in _LINK.finditer(text or "")]


def _flat(text: str) -> str:
    return " ".join((text or "").lower().split())


def path_in(path: str, flat_text: str) -> bool:
    """A path is in a text when written there in full, or when its first two segments are and the rest
    appear as words ("Account > Orders" then "click Track package")."""
    p = _flat(path)
    if p in flat_text:
        return True
    segs = p.split(" > ")
    return len(segs) > 2 and " > ".join(segs[:2]) in flat_text and all(s in flat_text for s in segs[2:])


def sentences(text: str) -> list[str]:
    return [s.strip() for line in (text or "").splitlines() for s in re.split(r"(?<=[.!?;])\s+", line) if s.strip()]


def _content(line: str) -> set[str]:
    units = {"day", "days", "business", "hour", "hours", "minute", "minutes", "week", "weeks", "month", "months"}
    return {w.rstrip("s") for w in _WORD.findall(line.lower()) if w not in _STOP and w not in units}


def similar(a: str, b: str) -> bool:
    ca, cb = _content(a), _content(b)
    common = len(ca & cb)
    return common >= LINE_MIN_COMMON and common / max(1, min(len(ca), len(cb))) >= LINE_OVERLAP


@dataclass
class ArticleText:
    """An article as the checks read it: its plain-text lines, terms and age."""
    id: str
    title: str
    updated_at: Optional[str]
    lines: list[str]
    flat: str
    paths: list[str]
    names: list[str]

    @classmethod
    def of(cls, a: Article) -> "ArticleText":
        text = html_to_text(a.body_html)
        lines = sentences(text)
        return cls(a.id, a.title, a.updated_at, lines, _flat(a.title + "\n" + text), menu_paths(text),
                   [n.lower() for n in names(text)])

    def quantity_lines(self) -> list[tuple[str, str, str]]:
        return [(v, u, line) for line in self.lines for v, u in quantities(line)]


# --- outdated -------------------------------------------------------------------------------------------

def staleness(art: ArticleText, now: Optional[datetime], recent: int, stale_days: int) -> Optional[dict]:
    """Evidence that the article is too old for a topic that still gets tickets, or None."""
    updated = parse_time(art.updated_at)
    if now is None or updated is None:
        return None
    age = (now - updated).days
    if age <= stale_days or recent < RECENT_MIN:
        return None
    return {"article": art.id, "updated_at": art.updated_at, "age_days": age, "recent_tickets": recent,
            "why": f"article {art.id} not updated for {age} days (since {art.updated_at[:10]}) while the type "
                   f"got {recent} tickets in the last {RECENT_DAYS} days"}


_NOTE = re.compile(r"\b(?:article|kb|faq|help ?cent(?:er|re)|docs?)\b.{0,80}\b(?:still|out of date|outdated|no longer"
                   r"|renamed|wrong|old|moved|stopped)\b|\b(?:out of date|outdated)\b.{0,40}\b(?:article|kb|faq)\b",
                   re.I)


def _after(t: Ticket, m, since: Optional[datetime]) -> bool:
    when = parse_time(m.at) or parse_time(t.created_at)
    return since is None or when is None or when > since


def agent_replies(t: Ticket, since: Optional[datetime] = None) -> list[str]:
    return [m.body for m in t.messages if m.author == "agent" and m.public and _after(t, m, since)]


def agent_notes(t: Ticket, since: Optional[datetime] = None) -> list[str]:
    return [m.body for m in t.messages if m.author == "agent" and not m.public and _after(t, m, since)]


def drift(tickets: Sequence[Ticket], arts: Sequence[ArticleText], limit: int = 5) -> dict:
    """Terms the agents' replies for this type keep using and the type's articles do not have.

    Menu paths and names count when absent from every article and either the article's own menu paths are
    ones no agent uses any more (renamed) or nearly every reply uses them. A quantity counts only when an
    article says something else in a similar line ("valid for 1 hour" vs "valid for 24 hours"): agents quote
    situational numbers ("it shipped 3 days ago") that no article should contain. Only replies and notes
    written after the articles' last update count: what agents said about the old text is no evidence."""
    since = max((d for d in (parse_time(a.updated_at) for a in arts) if d), default=None)
    answered = 0
    counts: Counter = Counter()
    example: dict[tuple, str] = {}
    used_paths: Counter = Counter()
    notes: list[str] = []
    note_tickets = 0
    for t in tickets:
        replies = agent_replies(t, since)
        flagged = [" ".join(n.split()) for n in agent_notes(t, since) if _NOTE.search(n)]
        notes += flagged
        note_tickets += bool(flagged)
        if not replies:
            continue
        answered += 1
        seen: set[tuple] = set()
        for body in replies:
            for line in sentences(body):
                for p in menu_paths(line):
                    segs = p.split(" > ")
                    for k in range(2, len(segs) + 1):  # "A > B > C" also says "A > B"
                        seen.add(("path", " > ".join(segs[:k])))
                        example.setdefault(("path", " > ".join(segs[:k])), line)
                for n in names(line):
                    seen.add(("name", n.lower()))
                    example.setdefault(("name", n.lower()), line)
                for v, u in quantities(line):
                    seen.add(("quantity", (v, u)))
                    example.setdefault(("quantity", (v, u)), line)
        counts.update(seen)
        used_paths.update(p for kind, p in seen if kind == "path")
    floor = max(DRIFT_MIN_TICKETS, DRIFT_MIN_SHARE * answered)
    flat = " ".join(a.flat for a in arts)
    art_q = [(v, u, line, a.id) for a in arts for v, u, line in a.quantity_lines()]
    # the article's own paths (names) that no agent uses while agents use others: the old ones
    unused = sorted({p for a in arts for p in a.paths
                     if not any(path_in(p, _flat(q)) or path_in(q, _flat(p)) for q in used_paths)}) \
        if used_paths else []
    used_names = {term for kind, term in counts if kind == "name"}
    unused_names = sorted({n for a in arts for n in a.names if n not in used_names}) if used_names else []
    found = []
    for (kind, term), n in counts.most_common():
        if n < floor:
            break
        line = example[(kind, term)]
        share = n / answered
        item = {"kind": kind, "term": fmt_quantity(*term) if kind == "quantity" else term, "tickets": n,
                "share": round(share, 3), "agent_line": line}
        if kind in ("path", "name"):
            absent = not path_in(term, flat) if kind == "path" else term not in flat
            old = unused if kind == "path" else unused_names
            if absent and (old or share >= DRIFT_ALONE_SHARE):
                if old:
                    item["article_says"] = "; ".join(old[:3])
                found.append(item)
        else:
            value, unit = term
            clash = next(((v, ln, aid) for v, u, ln, aid in art_q if u == unit and v != value
                          and similar(ln, line) and not any(v2 == value and u2 == unit for v2, u2, _, _ in art_q)),
                         None)
            if clash:
                item.update(article_says=fmt_quantity(clash[0], unit), article_line=clash[1], article=clash[2])
                found.append(item)
    found = [d for d in found if not any(  # "A > B" said as often as "A > B > C" adds nothing
        o is not d and o["kind"] == d["kind"] == "path" and o["term"].startswith(d["term"] + " > ")
        and o["tickets"] >= 0.9 * d["tickets"] for o in found)]
    return {"answered": answered, "terms": found[:limit], "article_paths_unused": unused[:limit],
            "note_tickets": note_tickets, "notes": Counter(notes).most_common(3)}


# --- contradictory --------------------------------------------------------------------------------------

def same_task_pairs(articles: Sequence[Article], intents: Iterable[Intent]) -> dict[tuple[str, str], str]:
    """Pairs of published articles on the same task, with why they are compared."""
    known = {a.id: a for a in articles if not a.draft}
    pairs: dict[tuple[str, str], str] = {}
    for it in intents:
        ids = [a for a in dict.fromkeys(it.articles) if a in known]
        for i, a in enumerate(ids):
            for b in ids[i + 1:]:
                pairs.setdefault(tuple(sorted((a, b))), f"both answer intent {it.name}")
    by_section: dict[str, list[Article]] = defaultdict(list)
    for a in known.values():
        if a.section:
            by_section[a.section.lower()].append(a)
    for group in by_section.values():
        for i, a in enumerate(group):
            for b in group[i + 1:]:
                la, lb = set(a.labels), set(b.labels)
                if la and lb and len(la & lb) / len(la | lb) >= LABEL_OVERLAP:
                    pairs.setdefault(tuple(sorted((a.id, b.id))), f"same section '{a.section}' and labels")
    return pairs


def contradictions(a: ArticleText, b: ArticleText, limit: int = 6) -> list[dict]:
    """Similar lines of a and b that state different quantities (same unit) or different menu paths."""
    out, seen = [], set()
    bq = b.quantity_lines()
    for va, unit, la in a.quantity_lines():
        for vb, ub, lb in bq:
            if ub == unit and vb != va and similar(la, lb) and not any(
                    v == va and u == unit and similar(la, ln) for v, u, ln in bq) and (la, lb) not in seen:
                seen.add((la, lb))
                out.append({"what": fmt_quantity("2", unit).split(" ", 1)[-1] if unit not in "$%" else "amount",
                            "a_value": fmt_quantity(va, unit), "b_value": fmt_quantity(vb, unit),
                            "a_line": la, "b_line": lb})
    for la in a.lines:
        for pa in menu_paths(la):
            for lb in b.lines:
                for pb in menu_paths(lb):
                    if pa != pb and similar(la.replace(pa, " "), lb.replace(pb, " ")) and not path_in(pa, b.flat) \
                            and (la, lb) not in seen:
                        seen.add((la, lb))
                        out.append({"what": "menu path", "a_value": pa, "b_value": pb, "a_line": la, "b_line": lb})
    return out[:limit]


# --- flows (method step 2) ------------------------------------------------------------------------------

def flow_checks(intents: Sequence[Intent], top_types: Sequence[str], published: set[str]) -> dict:
    """Top-10 types without an intent or a resolution path; transactional intents with neither."""
    by_name = {i.name: i for i in intents}

    def path_of(it: Intent) -> Optional[str]:
        if any(a in published for a in it.articles):
            return "articles"
        return "escalate" if it.escalate else None

    unmapped = [t for t in top_types if t not in by_name]
    no_path = [t for t in top_types if t in by_name and path_of(by_name[t]) is None]
    transactional = [i.name for i in intents if i.kind == "transactional" and path_of(i) is None]
    informational = [i.name for i in intents if i.kind == "informational" and path_of(i) is None]
    return {"top": list(top_types), "unmapped": unmapped, "no_resolution_path": no_path,
            "transactional_without_path": transactional, "informational_without_path": informational,
            "ok": not (unmapped or no_path or transactional)}


def confusion_pairs(gold: Sequence[str], pred: Sequence[str], rate: float = CONFUSION_RATE,
                    minimum: int = CONFUSION_MIN) -> list[dict]:
    """Pairs of intents mistaken for each other (both directions summed) above `rate` of their tickets."""
    n = Counter(gold)
    c = Counter((g, p) for g, p in zip(gold, pred) if g != p)
    out = []
    for a, b in {tuple(sorted(k)) for k in c}:
        ab, ba = c[(a, b)], c[(b, a)]
        r = (ab + ba) / max(1, n[a] + n[b])
        if ab + ba >= minimum and r >= rate:
            out.append({"a": a, "b": b, "a_as_b": ab, "b_as_a": ba, "rate": round(r, 3),
                        "advice": "merge them, or split them with clearer examples and tags"})
    return sorted(out, key=lambda d: (-d["rate"], d["a"]))


def accuracy(gold: Sequence[str], pred: Sequence[str]) -> float:
    return float(np.mean([g == p for g, p in zip(gold, pred)])) if len(gold) else 0.0


# --- confusions (method step 2) -------------------------------------------------------------------------

def confusions(texts: list[str], labels: list[str], model: Optional[IntentModel] = None) -> dict:
    """Which intents the model mixes up: the given model on its own labelled history, else a quick
    cross-validated fit of the project's classifier (predictions on tickets it did not see)."""
    if model is not None:
        idx = sample_index(len(texts), MODEL_CONFUSION_MAX)
        gold = [labels[i] for i in idx]
        pred = list(np.asarray(model.classes)[model.classifier.scores([texts[i] for i in idx]).argmax(axis=1)]) \
            if len(idx) else []
        source = "model (on the labelled history, which it was trained on)"
    else:
        idx = [i for i in sample_index(len(texts), CV_MAX) if texts[i].strip(" .")]
        n = Counter(labels[i] for i in idx)
        idx = [i for i in idx if n[labels[i]] >= CV_FOLDS]
        gold = [labels[i] for i in idx]
        if len(set(gold)) < 2:
            return {"source": None, "checked": 0, "accuracy": None, "pairs": [],
                    "reason": "fewer than two intents with enough labelled tickets"}
        cv = StratifiedKFold(CV_FOLDS, shuffle=True, random_state=SEED)
        pipe = clone(TfidfSvmClassifier().pipeline)
        pred = list(cross_val_predict(pipe, [texts[i] for i in idx], gold, cv=cv))
        source = f"{CV_FOLDS}-fold cross-validated fit on the labelled history"
    return {"source": source, "checked": len(gold), "accuracy": round(accuracy(gold, pred), 4),
            "pairs": confusion_pairs(gold, [str(p) for p in pred])}
