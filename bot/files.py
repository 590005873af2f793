"""Reading and writing the spec's files (data.md): the only place outside input becomes records.

Every error is a BadInput with a one-line reason naming the file and the line or key path, because the
person reading it is an admin at a terminal, not a developer with a traceback. Writes go to a temporary
file renamed into place, so an interrupted command never leaves half a file.
"""
from __future__ import annotations

import json
import math
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, TypeVar

import yaml

from bot.brain.records import (ACTIONS, AUTHORS, CATEGORIES, KINDS, MODES, PRIORITIES, Article, Intent,
                               IntentsConfig, Message, Policy, Requester, Ticket)
from bot.errors import BadInput

MAX_BAD_SHARE = 0.01
T = TypeVar("T")


def _read_text(path: str | os.PathLike) -> str:
    p = Path(path)
    if not p.exists():
        raise BadInput(f"{p}: no such file")
    if p.is_dir():
        raise BadInput(f"{p}: is a directory, expected a file")
    try:
        return p.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise BadInput(f"{p}: not UTF-8 text (byte {e.start})") from None


def _need(obj: dict, key: str, kind: type | tuple, where: str) -> Any:
    if key not in obj or obj[key] is None:
        raise ValueError(f"missing required field '{key}'")
    if not isinstance(obj[key], kind):
        raise ValueError(f"'{key}' has the wrong type ({type(obj[key]).__name__})")
    return obj[key]


def _opt_str(obj: dict, key: str) -> Optional[str]:
    v = obj.get(key)
    if v is None:
        return None
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return str(v)
    if not isinstance(v, str):
        raise ValueError(f"'{key}' must be a string")
    return v


def _ident(v: Any, key: str) -> str:
    """Ids are strings, whatever the vendor uses (spec README)."""
    if isinstance(v, bool) or not isinstance(v, (str, int)) or str(v) == "":
        raise ValueError(f"'{key}' must be a non-empty string id")
    return str(v)


def ticket_from_json(obj: Any) -> Ticket:
    if not isinstance(obj, dict):
        raise ValueError("not a JSON object")
    msgs = _need(obj, "messages", list, "messages")
    if not msgs:
        raise ValueError("'messages' is empty (at least one is required)")
    messages = []
    for i, m in enumerate(msgs):
        if not isinstance(m, dict):
            raise ValueError(f"messages[{i}] is not an object")
        author = m.get("author")
        if author not in AUTHORS:
            raise ValueError(f"messages[{i}].author must be one of {', '.join(AUTHORS)}")
        body = m.get("body")
        if not isinstance(body, str):
            raise ValueError(f"messages[{i}].body must be a string")
        messages.append(Message(author=author, body=body, public=bool(m.get("public", True)),
                                at=_opt_str(m, "at")))
    req = obj.get("requester") or {}
    if not isinstance(req, dict):
        raise ValueError("'requester' must be an object")
    tags = obj.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise ValueError("'tags' must be a list of strings")
    priority = _opt_str(obj, "priority")
    if priority is not None and priority not in PRIORITIES:
        raise ValueError(f"'priority' must be one of {', '.join(PRIORITIES)}")
    return Ticket(
        id=_ident(obj.get("id"), "id"), vendor=_need(obj, "vendor", str, "vendor"), messages=tuple(messages),
        created_at=_need(obj, "created_at", str, "created_at"), subject=_opt_str(obj, "subject") or "",
        tags=tuple(tags), priority=priority, status=_opt_str(obj, "status"), channel=_opt_str(obj, "channel"),
        group=_opt_str(obj, "group"), solved_at=_opt_str(obj, "solved_at"),
        satisfaction=_opt_str(obj, "satisfaction"), reopened=bool(obj.get("reopened") or False),
        requester=Requester(id=_opt_str(req, "id"), vip=bool(req.get("vip") or False), plan=_opt_str(req, "plan")),
        page_url=_opt_str(obj, "page_url"), intent=_opt_str(obj, "intent"),
        attempts=int(obj.get("attempts") or 0) if isinstance(obj.get("attempts") or 0, int) else 0,
    )


def article_from_json(obj: Any) -> Article:
    if not isinstance(obj, dict):
        raise ValueError("not a JSON object")
    labels = obj.get("labels") or []
    if not isinstance(labels, list):
        raise ValueError("'labels' must be a list")
    return Article(
        id=_ident(obj.get("id"), "id"), title=_need(obj, "title", str, "title"),
        body_html=_need(obj, "body_html", str, "body_html"), vendor=_opt_str(obj, "vendor") or "",
        url=_opt_str(obj, "url") or "", locale=_opt_str(obj, "locale") or "en-us",
        labels=tuple(str(x) for x in labels), section=_opt_str(obj, "section") or "",
        category=_opt_str(obj, "category") or "", updated_at=_opt_str(obj, "updated_at"),
        draft=bool(obj.get("draft") or False),
    )


def read_jsonl(path: str | os.PathLike, convert: Callable[[Any], T], what: str,
               warn: Callable[[str], None] = lambda m: print(m, file=sys.stderr)) -> list[T]:
    """Parse JSON Lines; bad lines are reported by number and skipped, over 1% bad is an error."""
    text = _read_text(path)
    out: list[T] = []
    bad: list[str] = []
    total = 0
    for n, line in enumerate(text.split("\n"), start=1):  # not splitlines(): JSON allows U+2028 raw
        if not line.strip():
            continue
        total += 1
        try:
            out.append(convert(json.loads(line)))
        except (ValueError, TypeError, RecursionError) as e:
            reason = "not valid JSON" if isinstance(e, json.JSONDecodeError) else str(e)
            bad.append(f"line {n}: {reason}")
    if total == 0:
        raise BadInput(f"{path}: no {what} in the file")
    if bad and len(bad) > MAX_BAD_SHARE * total:
        raise BadInput(f"{path}: {len(bad)} of {total} lines are bad (over 1%), first {bad[0]}")
    for b in bad:
        warn(f"warning: {path}: {b}: skipped")
    return out


def read_history(path) -> list[Ticket]:
    return read_jsonl(path, ticket_from_json, "tickets")


def read_articles(path) -> list[Article]:
    return read_jsonl(path, article_from_json, "articles")


def read_yaml(path) -> Any:
    text = _read_text(path)
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise BadInput(f"{path}: not valid YAML{where}") from None


POLICY_KEYS = {f for f in Policy.__dataclass_fields__}
INTENT_KEYS = {f for f in Intent.__dataclass_fields__}


def _check_keys(obj: Any, allowed: set[str], where: str, path: str) -> dict:
    if not isinstance(obj, dict):
        raise BadInput(f"{path}: {where} must be a mapping")
    for k in obj:
        if k not in allowed:
            name = k if isinstance(k, str) and k.isprintable() else repr(k)
            raise BadInput(f"{path}: {where}.{name}: unknown key" if where else f"{path}: {name}: unknown key")
    return obj


def _typed(value: Any, kind, where: str, path: str, choices: Iterable[str] = ()):
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        try:
            value = float(value)
        except OverflowError:
            raise BadInput(f"{path}: {where}: number too large") from None
    if kind is float and isinstance(value, float) and not math.isfinite(value):
        raise BadInput(f"{path}: {where}: must be a finite number")
    if isinstance(value, bool) and kind is not bool or not isinstance(value, kind):
        raise BadInput(f"{path}: {where}: expected {kind.__name__}, got {type(value).__name__}")
    if choices and value not in choices:
        raise BadInput(f"{path}: {where}: must be one of {', '.join(choices)}, not {value!r}")
    return value


def _str_list(value: Any, where: str, path: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise BadInput(f"{path}: {where}: expected a list")
    for i, v in enumerate(value):
        if isinstance(v, bool) or not isinstance(v, (str, int)):
            raise BadInput(f"{path}: {where}[{i}]: expected a string")
    return tuple(str(v) for v in value)


def parse_intents(data: Any, path: str, article_ids: Optional[set[str]] = None) -> IntentsConfig:
    data = _check_keys(data, {"policy", "intents"}, "", path)
    pol = _check_keys(data.get("policy") or {}, POLICY_KEYS, "policy", path)
    kinds = {"mode": (str, MODES), "rollout_percent": (int, ()), "target_precision": (float, ()),
             "negative_sentiment": (float, ()), "max_attempts": (int, ()), "escalation_group": (str, ())}
    values: dict[str, Any] = {}
    for k, v in pol.items():
        if k == "vip_plans":
            values[k] = _str_list(v, "policy.vip_plans", path)
        else:
            kind, choices = kinds[k]
            values[k] = _typed(v, kind, f"policy.{k}", path, choices)
    policy = Policy(**values)
    if not 0 <= policy.rollout_percent <= 100:
        raise BadInput(f"{path}: policy.rollout_percent: must be 0..100")
    if not 0 < policy.target_precision <= 1:
        raise BadInput(f"{path}: policy.target_precision: must be in (0, 1]")
    raw = data.get("intents")
    if not isinstance(raw, list) or not raw:
        raise BadInput(f"{path}: intents: expected a non-empty list")
    intents, seen, tag_owner = [], set(), {}
    for i, item in enumerate(raw):
        where = f"intents[{i}]"
        item = _check_keys(item, INTENT_KEYS, where, path)
        if "name" not in item:
            raise BadInput(f"{path}: {where}.name: required")
        name = _typed(item["name"], str, f"{where}.name", path)
        if name in seen:
            raise BadInput(f"{path}: {where}.name: duplicate intent name {name!r}")
        seen.add(name)
        fields: dict[str, Any] = {"name": name}
        for k in ("description", "ask", "group"):
            if item.get(k) is not None:
                fields[k] = _typed(item[k], str, f"{where}.{k}", path)
        for k, choices in (("kind", KINDS), ("category", CATEGORIES), ("priority", PRIORITIES)):
            if item.get(k) is not None:
                fields[k] = _typed(item[k], str, f"{where}.{k}", path, choices)
        if item.get("escalate") is not None:
            fields["escalate"] = _typed(item["escalate"], bool, f"{where}.escalate", path)
        for k in ("tags", "examples", "articles"):
            if item.get(k) is not None:
                fields[k] = _str_list(item[k], f"{where}.{k}", path)
        for j, tag in enumerate(fields.get("tags", ())):
            if tag in tag_owner:
                raise BadInput(f"{path}: {where}.tags[{j}]: tag {tag!r} is already claimed by {tag_owner[tag]!r}")
            tag_owner[tag] = name
        if article_ids is not None:
            for j, a in enumerate(fields.get("articles", ())):
                if a not in article_ids:
                    raise BadInput(f"{path}: {where}.articles[{j}]: no synced article has id {a!r}")
        intents.append(Intent(**fields))
    return IntentsConfig(policy=policy, intents=tuple(intents))


def read_intents(path, article_ids: Optional[set[str]] = None) -> IntentsConfig:
    return parse_intents(read_yaml(path), str(path), article_ids)


CASE_KEYS = {"id", "text", "subject", "requester", "page_url", "attempts", "expect"}
EXPECT_KEYS = {"intent", "out_of_scope", "action", "article", "priority", "tone"}


def read_test_script(path) -> list[dict]:
    data = read_yaml(path)
    data = _check_keys(data, {"cases"}, "", str(path))
    cases = data.get("cases")
    if not isinstance(cases, list) or not cases:
        raise BadInput(f"{path}: cases: expected a non-empty list")
    seen = set()
    for i, c in enumerate(cases):
        where = f"cases[{i}]"
        _check_keys(c, CASE_KEYS, where, str(path))
        if not isinstance(c.get("id"), (str, int)) or not isinstance(c.get("text"), str):
            raise BadInput(f"{path}: {where}: 'id' and 'text' are required")
        if str(c["id"]) in seen:
            raise BadInput(f"{path}: {where}.id: duplicate case id {c['id']!r}")
        seen.add(str(c["id"]))
        exp = _check_keys(c.get("expect") or {}, EXPECT_KEYS, f"{where}.expect", str(path))
        if not exp:
            raise BadInput(f"{path}: {where}.expect: required")
        choices = {"action": ACTIONS, "priority": PRIORITIES, "tone": ("empathetic", "neutral")}
        for key, allowed in choices.items():
            if exp.get(key) is not None:
                _typed(exp[key], str, f"{where}.expect.{key}", str(path), allowed)
        for key in ("intent", "article"):
            if exp.get(key) is not None and (isinstance(exp[key], bool) or not isinstance(exp[key], (str, int))):
                raise BadInput(f"{path}: {where}.expect.{key}: expected a string")
        if exp.get("out_of_scope") is not None:
            _typed(exp["out_of_scope"], bool, f"{where}.expect.out_of_scope", str(path))
        for key in ("subject", "page_url"):
            if c.get(key) is not None and not isinstance(c[key], str):
                raise BadInput(f"{path}: {where}.{key}: expected a string")
        if c.get("requester") is not None:
            req = _check_keys(c["requester"], {"plan", "vip", "id"}, f"{where}.requester", str(path))
            if req.get("plan") is not None and not isinstance(req["plan"], str):
                raise BadInput(f"{path}: {where}.requester.plan: expected a string")
            if req.get("vip") is not None and not isinstance(req["vip"], bool):
                raise BadInput(f"{path}: {where}.requester.vip: expected true or false")
        if c.get("attempts") is not None and (isinstance(c["attempts"], bool) or not isinstance(c["attempts"], int)):
            raise BadInput(f"{path}: {where}.attempts: expected a whole number")
    return cases


def _mode_for(p: Path) -> int:
    """Keep an existing file's mode; a new one gets the usual 0666 less the umask (mkstemp's 0600 is not it)."""
    try:
        return p.stat().st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def write_atomic(path: str | os.PathLike, text: str) -> None:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, _mode_for(p))
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_jsonl(path, records: Iterable[dict]) -> int:
    lines = [json.dumps(r, ensure_ascii=False, sort_keys=False) for r in records]
    write_atomic(path, "\n".join(lines) + ("\n" if lines else ""))
    return len(lines)
