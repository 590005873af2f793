"""The brain is pure: no I/O, no vendor, no infrastructure; vendor field names stay inside the adapters.

Both checks are static (ast / tokens over the source), and each has a positive control so that a checker
that silently finds nothing would fail here instead of passing forever.
"""
from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BRAIN = ROOT / "bot" / "brain"
BOT = ROOT / "bot"

FORBIDDEN = ("flask", "celery", "requests", "zenpy", "freshdesk", "redis", "sqlalchemy", "alembic", "kombu",
             "socket", "urllib.request", "http", "subprocess", "joblib", "os", "pathlib")
# Ways to do I/O or dodge the import check without an import statement.
FORBIDDEN_CALLS = {"open", "__import__", "exec", "eval", "compile"}
FORBIDDEN_ATTR_CALLS = {("io", "open"), ("codecs", "open"), ("importlib", "import_module"),
                        ("builtins", "open"), ("os", "system"), ("os", "popen")}

EXPECTED_BRAIN_MODULES = {"records", "classifier", "articles", "policy", "reply", "decide", "sentiment", "text"}


def _resolve(module: str | None, level: int, package: str) -> str:
    if not level:
        return module or ""
    base = package.split(".")
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def imported_modules(source: str, package: str = "bot.brain") -> set[str]:
    """Every module a source file imports, absolute, including `from x import y` as x.y (y may be a module)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            mod = _resolve(node.module, node.level, package)
            found.add(mod)
            found.update(f"{mod}.{alias.name}" for alias in node.names if alias.name != "*")
    return found


def forbidden_imports(modules: set[str]) -> set[str]:
    bad = set()
    for m in modules:
        for f in FORBIDDEN:
            if m == f or m.startswith(f + "."):
                bad.add(m)
        if (m == "bot" or m.startswith("bot.")) and not (m == "bot.brain" or m.startswith("bot.brain.")):
            bad.add(m)
    return bad


def forbidden_calls(source: str) -> list[str]:
    bad = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        if isinstance(f, ast.Name) and f.id in FORBIDDEN_CALLS:
            bad.append(f"{f.id}( at line {node.lineno}")
        elif isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) \
                and (f.value.id, f.attr) in FORBIDDEN_ATTR_CALLS:
            bad.append(f"{f.value.id}.{f.attr}( at line {node.lineno}")
    return bad


def brain_files() -> list[Path]:
    return sorted(BRAIN.rglob("*.py"))


# --- the checkers themselves work (positive controls) -------------------------------------------------


@pytest.mark.parametrize("src, bad", [
    ("import os", {"os"}),
    ("import os.path", {"os.path"}),
    ("from pathlib import Path", {"pathlib", "pathlib.Path"}),
    ("from urllib import request", {"urllib.request"}),
    ("import urllib.request as r", {"urllib.request"}),
    ("from http.client import HTTPConnection", {"http.client", "http.client.HTTPConnection"}),
    ("from bot.files import read_jsonl", {"bot.files", "bot.files.read_jsonl"}),
    ("from ..files import read_jsonl", {"bot.files", "bot.files.read_jsonl"}),
    ("from .. import db", {"bot", "bot.db"}),
    ("import sqlalchemy.orm", {"sqlalchemy.orm"}),
    ("def f():\n    import joblib\n", {"joblib"}),
])
def test_import_checker_flags_forbidden_imports(src, bad):
    assert forbidden_imports(imported_modules(src)) == bad


@pytest.mark.parametrize("src", ["from urllib.parse import urlparse", "from .records import Ticket",
                                 "from bot.brain.text import normalise", "import numpy as np", "import httpx_not"])
def test_import_checker_allows_pure_imports(src):
    assert forbidden_imports(imported_modules(src)) == set()


def test_call_checker_flags_open_and_dynamic_imports():
    src = "x = open('f')\nimport io\ny = io.open('g')\nz = __import__('os')\nimport importlib\nimportlib.import_module('os')\n"
    assert len(forbidden_calls(src)) == 4
    assert forbidden_calls("def f(d):\n    return d.open\n") == []


# --- the brain itself ----------------------------------------------------------------------------------


def test_brain_package_has_the_expected_modules():
    names = {p.stem for p in brain_files()}
    assert EXPECTED_BRAIN_MODULES <= names


@pytest.mark.parametrize("path", brain_files(), ids=lambda p: p.name)
def test_brain_module_imports_nothing_impure(path):
    package = "bot.brain" if path.parent == BRAIN else "bot.brain." + ".".join(path.parent.relative_to(BRAIN).parts)
    mods = imported_modules(path.read_text(encoding="utf-8"), package)
    assert forbidden_imports(mods) == set(), f"{path.name} imports {sorted(forbidden_imports(mods))}"


@pytest.mark.parametrize("path", brain_files(), ids=lambda p: p.name)
def test_brain_module_opens_no_files(path):
    assert forbidden_calls(path.read_text(encoding="utf-8")) == []


def test_brain_actually_imports_something():
    """The walker sees real imports in the real files (decide.py wires the other modules together)."""
    mods = imported_modules((BRAIN / "decide.py").read_text(encoding="utf-8"))
    assert "bot.brain.records" in mods and "bot.brain.policy" in mods


# --- vendor field names stay in the adapters ------------------------------------------------------------

# Distinctive Zendesk field names: any mention at all (code, strings, comments) outside the adapters.
DISTINCTIVE = re.compile(r"\b(updated_stamp|html_body|requester_id)\b")
# "via" is an English word too: only its use as a field (a string "via" / "via.channel", an attribute .via).
VIA_STRING = re.compile(r"^via(?:\.\w+)*$")


def vendor_field_mentions(source: str) -> list[str]:
    hits = [f"line {source.count(chr(10), 0, m.start()) + 1}: {m.group()}" for m in DISTINCTIVE.finditer(source)]
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError):
        tokens = []
    for i, tok in enumerate(tokens):
        if tok.type == tokenize.STRING:
            try:
                value = ast.literal_eval(tok.string)
            except (ValueError, SyntaxError):
                continue
            if isinstance(value, str) and VIA_STRING.match(value):
                hits.append(f"line {tok.start[0]}: {tok.string}")
        elif tok.type == tokenize.NAME and tok.string == "via" and i and tokens[i - 1].string == ".":
            hits.append(f"line {tok.start[0]}: .via")
    return hits


@pytest.mark.parametrize("src, n", [
    ('t = raw["via"]["channel"]', 1), ("x = obj.via.source", 1), ("k = 'via.channel'", 1),
    ("rid = raw.get('requester_id')", 1), ("body = c['html_body']", 1), ("# uses updated_stamp\n", 1),
    ('"""Delivered via the webhook."""\nx = 1  # sent via email\n', 0), ("via_x = 1\nvia = 2\n", 0),
])
def test_vendor_field_scanner(src, n):
    assert len(vendor_field_mentions(src)) == n


def bot_files_outside_adapters() -> list[Path]:
    return sorted(p for p in BOT.rglob("*.py") if "adapters" not in p.relative_to(BOT).parts)


def test_there_are_bot_files_to_scan():
    assert len(bot_files_outside_adapters()) >= 10


@pytest.mark.parametrize("path", bot_files_outside_adapters(), ids=lambda p: str(p.relative_to(BOT)))
def test_no_vendor_field_names_outside_adapters(path):
    assert vendor_field_mentions(path.read_text(encoding="utf-8")) == []
