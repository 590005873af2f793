"""The `bot` command end to end (spec cli.md), run as a subprocess the way an admin runs it.

`[sys.executable, "-m", "bot.cli"]` rather than the console script, so the tests run in any venv. A model is
trained once per session through `bot train`. Each process pays about a second of scikit-learn imports, so the
cases the spec names run as real processes (the bad-input ones concurrently), and the extra edge cases go
through click's in-process runner (`invoke`), which sees the same exit codes and the same stderr.
"""
from __future__ import annotations

import copy
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures"
HISTORY, INTENTS, ARTICLES = FIXTURES / "history.jsonl", FIXTURES / "intents.yaml", FIXTURES / "articles.jsonl"
SCRIPT = FIXTURES / "test_script.yaml"
BOT = [sys.executable, "-m", "bot.cli"]

SPEC_DECISION_KEYS = {"ticket_id", "action", "intent", "confidence", "out_of_scope", "sentiment", "tone", "reasons",
                      "article", "reply", "note", "priority", "group", "tags", "mode", "model_version"}
CLASSIFY_KEYS = {"text", "intent", "confidence", "out_of_scope", "sentiment", "alternatives"}
FAILURE_KINDS = {"training_data_gap", "missing_intent", "flow_logic_error"}


def run(*args, input: str | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOT_")}
    return subprocess.run(BOT + [str(a) for a in args], input=input, capture_output=True, text=True, timeout=300,
                          cwd=cwd or ROOT, env=env)


def invoke(*args, input: str | None = None):
    """The same command in-process (click's runner): exit code, stdout and stderr as a process would have."""
    from click.testing import CliRunner
    from bot.cli import cli
    return CliRunner().invoke(cli, [str(a) for a in args], input=input, prog_name="bot")


def assert_bad_result(res, *words: str) -> str:
    assert res.exit_code == 2, (res.exit_code, res.stdout[-500:], res.stderr[-1000:], res.exception)
    assert isinstance(res.exception, SystemExit), repr(res.exception)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    for w in words:
        assert w in lines[0], lines[0]
    assert res.stdout == ""
    return lines[0]


def assert_bad_input(r: subprocess.CompletedProcess, *words: str) -> str:
    assert "Traceback" not in r.stderr, r.stderr[-2000:]
    assert r.returncode == 2, (r.returncode, r.stdout[-500:], r.stderr[-1000:])
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    for w in words:
        assert w in lines[0], lines[0]
    assert r.stdout == ""
    return lines[0]


def snapshot(d: Path) -> dict[str, bytes]:
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def history_lines() -> list[str]:
    return [ln for ln in HISTORY.read_text(encoding="utf-8").splitlines() if ln.strip()]


def write_intents(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


# --- session: one trained model ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "model"
    r = run("train", "--history", HISTORY, "--intents", INTENTS, "--articles", ARTICLES, "--out", out, "--json")
    assert r.returncode == 0, r.stderr
    return out, json.loads(r.stdout), r


@pytest.fixture(scope="session")
def model(trained):
    return trained[0]


def test_module_runs_as_a_script():
    src = (ROOT / "bot" / "cli.py").read_text()
    assert 'if __name__ == "__main__":' in src


def test_help_lists_the_commands():
    r = run("--help")
    assert r.returncode == 0
    for cmd in ("train", "classify", "decide", "evaluate", "demo"):
        assert f"  {cmd} " in r.stdout, cmd
    assert "Usage: bot" in r.stdout


def test_console_script_entry_point():
    from importlib.metadata import entry_points
    eps = {ep.name: ep.value for ep in entry_points(group="console_scripts")}
    assert eps.get("bot") == "bot.cli:main"


def test_train_writes_a_model_directory_with_metadata(trained):
    import sklearn
    from bot.files import read_intents
    from bot.training import data_hash
    out, report, r = trained
    assert r.stderr == "", "no progress chatter when stderr is not a terminal"
    assert {p.name for p in out.iterdir()} >= {"metadata.json", "model.joblib"}
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["sklearn_version"] == sklearn.__version__
    assert meta["data_hash"] == data_hash(HISTORY.read_bytes(), read_intents(INTENTS))
    names = [i["name"] for i in yaml.safe_load(INTENTS.read_text())["intents"]]
    assert sorted(meta["intents"]) == sorted(names)
    assert {"accuracy", "heldout", "answered_precision"} <= set(meta["metrics"])
    assert 0.5 < meta["metrics"]["accuracy"] <= 1
    assert datetime.strptime(meta["trained_at"], "%Y-%m-%dT%H:%M:%SZ")
    assert report["model_version"] == meta["version"]
    assert report["tickets"] == 1515 and report["labelled"] > 0 and report["unlabelled"] > 0
    assert {"reopened", "rated_bad", "reassigned_by_mistake"} <= set(report["filtered"])
    assert report["filtered_total"] == sum(report["filtered"].values())
    leftovers = [p.name for p in out.parent.iterdir() if p.name.startswith(".")]
    assert leftovers == [], "no temporary directories left beside the model"


def test_train_report_as_text(tmp_path):
    small = tmp_path / "h.jsonl"
    small.write_text("\n".join(history_lines()[:600]) + "\n")
    r = invoke("train", "--history", small, "--intents", INTENTS, "--out", tmp_path / "m")
    assert r.exit_code == 0, r.stderr
    assert (tmp_path / "m" / "metadata.json").is_file()
    assert "Trained model" in r.stdout and "quality filter" in r.stdout and "held-out" in r.stdout


# --- classify -----------------------------------------------------------------------------------------------


def _check_classify_line(line: str) -> dict:
    obj = json.loads(line)
    assert set(obj) == CLASSIFY_KEYS
    assert isinstance(obj["intent"], str) and 0 <= obj["confidence"] <= 1
    assert isinstance(obj["out_of_scope"], bool) and -1 <= obj["sentiment"] <= 1
    assert obj["alternatives"] and all(set(a) == {"intent", "confidence"} for a in obj["alternatives"])
    assert all(a["confidence"] <= obj["confidence"] for a in obj["alternatives"])
    return obj


def test_classify_args_one_line_per_text(model):
    texts = ["how do I reset my password", "what's a good recipe for banana bread?"]
    r = invoke("classify", "--model", model, *texts)
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 2
    objs = [_check_classify_line(ln) for ln in lines]
    assert [o["text"] for o in objs] == texts
    assert objs[0]["intent"] == "recover_password" and not objs[0]["out_of_scope"]
    assert objs[1]["out_of_scope"]


def test_classify_stdin_one_line_per_line(model):
    r = run("classify", "--model", model, input="how do I reset my password\n\n   \nI want to cancel order 1234\n")
    assert r.returncode == 0, r.stderr
    objs = [_check_classify_line(ln) for ln in r.stdout.strip().splitlines()]
    assert [o["text"] for o in objs] == ["how do I reset my password", "I want to cancel order 1234"]
    assert objs[1]["intent"] == "cancel_order"


# --- decide ---------------------------------------------------------------------------------------------------

TICKET = {"id": "48213", "vendor": "zendesk", "subject": "Password",
          "messages": [{"author": "customer", "body": "Hi, how do I reset my password? Thanks", "public": True,
                        "at": "2026-09-01T10:00:00Z"}],
          "created_at": "2026-09-01T10:00:00Z", "requester": {"id": "9001", "vip": False, "plan": "pro"}}


def test_decide_file_and_stdin_give_the_spec_decision(model, tmp_path):
    f = tmp_path / "ticket.json"
    f.write_text(json.dumps(TICKET, indent=2))
    by_file = run("decide", "--model", model, "--intents", INTENTS, "--articles", ARTICLES, f)
    by_stdin = invoke("decide", "--model", model, "--intents", INTENTS, "--articles", ARTICLES,
                      input=json.dumps(TICKET))
    assert by_file.returncode == 0 and by_stdin.exit_code == 0, (by_file.stderr, by_stdin.stderr)
    for r in (by_file, by_stdin):
        assert len(r.stdout.strip().splitlines()) == 1
    d = json.loads(by_file.stdout)
    assert d == json.loads(by_stdin.stdout)
    assert SPEC_DECISION_KEYS <= set(d)
    assert d["ticket_id"] == "48213" and d["action"] == "answer" and d["intent"] == "recover_password"
    assert {"id", "title", "section", "score"} <= set(d["article"]) and d["article"]["id"] == "360000109"
    assert d["reasons"] and d["reply"] and d["mode"] == "shadow"
    meta = json.loads((model / "metadata.json").read_text())
    assert d["model_version"] == meta["version"]


def test_decide_a_history_line(model):
    line = history_lines()[0]
    r = invoke("decide", "--model", model, "--intents", INTENTS, "--articles", ARTICLES, input=line)
    assert r.exit_code == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["ticket_id"] == json.loads(line)["id"] and d["action"] in ("answer", "clarify", "escalate")


# --- evaluate ---------------------------------------------------------------------------------------------------

PASSWORD = "how do I reset my password"
PASSING_CASE = {"id": "pw-ok", "text": PASSWORD,
                "expect": {"intent": "recover_password", "action": "answer", "article": "360000109", "tone": "neutral"}}
FAILING_CASES = [
    {"id": "undefined", "text": "I want to teleport my parcel to the moon",
     "expect": {"intent": "teleport_parcel", "action": "answer"}},
    {"id": "wrong-article", "text": PASSWORD,
     "expect": {"intent": "recover_password", "action": "answer", "article": "360000101"}},
    {"id": "wrong-tone", "text": PASSWORD,
     "expect": {"intent": "recover_password", "action": "answer", "tone": "empathetic"}},
]


def _evaluate(model, script: Path, *extra):
    return run("evaluate", "--model", model, "--intents", INTENTS, "--articles", ARTICLES, "--script", script,
               "--json", *extra)


@pytest.fixture(scope="session")
def fixture_evaluation(model):
    r = _evaluate(model, SCRIPT)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_evaluate_json_has_the_spec_keys(fixture_evaluation):
    e = fixture_evaluation
    n = len(yaml.safe_load(SCRIPT.read_text())["cases"])
    assert e["cases"] == n
    assert 0 <= e["accuracy"] <= 1 and 0 <= e["intent_accuracy"] <= 1
    assert set(e["escalation"]) >= {"precision", "recall"}
    assert 0 <= e["escalation"]["precision"] <= 1 and 0 <= e["escalation"]["recall"] <= 1
    assert set(e["tone"]) >= {"checked", "ok"} and 0 <= e["tone"]["ok"] <= e["tone"]["checked"] <= n
    assert set(e["by_kind"]) == FAILURE_KINDS
    assert sum(e["by_kind"].values()) == len(e["failures"])
    for f in e["failures"]:
        assert {"id", "kind", "expected", "got", "why"} <= set(f) and f["kind"] in FAILURE_KINDS and f["why"]
    assert sum(v["cases"] for v in e["by_intent"].values()) == n
    assert all(0 <= v["correct"] <= v["cases"] for v in e["by_intent"].values())
    correct = sum(v["correct"] for v in e["by_intent"].values())
    assert correct == n - len(e["failures"])
    assert e["accuracy"] == pytest.approx(correct / n, abs=1e-4)
    assert isinstance(e["ready"], bool)
    assert e["ready"] == (e["accuracy"] >= 0.85 and not e["blockers"])


def test_evaluate_text_report(model):
    r = invoke("evaluate", "--model", model, "--intents", INTENTS, "--articles", ARTICLES, "--script", SCRIPT)
    assert r.exit_code == 0 and "accuracy" in r.stdout and "READY" in r.stdout


def test_evaluate_require_ready_exits_1_when_not_ready(model, tmp_path):
    script = tmp_path / "s.yaml"
    script.write_text(yaml.safe_dump({"cases": FAILING_CASES + [PASSING_CASE]}))
    r = _evaluate(model, script, "--require-ready")
    assert r.returncode == 1, r.stderr
    e = json.loads(r.stdout)
    assert e["ready"] is False and e["cases"] == 4 and e["accuracy"] == 0.25
    kinds = {f["id"]: f["kind"] for f in e["failures"]}
    assert kinds == {"undefined": "missing_intent", "wrong-article": "training_data_gap",
                     "wrong-tone": "flow_logic_error"}
    assert e["by_kind"] == {"training_data_gap": 1, "missing_intent": 1, "flow_logic_error": 1}
    assert e["by_intent"]["recover_password"] == {"cases": 3, "correct": 1}


def test_evaluate_require_ready_exits_0_when_ready(model, tmp_path):
    script = tmp_path / "s.yaml"
    script.write_text(yaml.safe_dump({"cases": [PASSING_CASE]}))
    r = invoke("evaluate", "--model", model, "--intents", INTENTS, "--articles", ARTICLES, "--script", script,
               "--json", "--require-ready")
    assert r.exit_code == 0, r.stderr
    e = json.loads(r.stdout)
    assert e["ready"] is True and e["accuracy"] == 1.0 and e["failures"] == []


# --- bad input: exit 2, one line, no traceback (run concurrently) --------------------------------------------


@pytest.fixture(scope="session")
def bad_files(model, tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("bad")
    lines = history_lines()
    intents = yaml.safe_load(INTENTS.read_text())

    rows = lines[:200]  # 5 bad of 205: over 1%
    for i in (10, 50, 90, 130, 170):
        rows.insert(i, '{"id": "broken", "messages": [')
    (d / "bad_history.jsonl").write_text("\n".join(rows) + "\n")

    unknown_key = copy.deepcopy(intents)
    unknown_key["intents"][3]["colour"] = "blue"
    write_intents(d / "unknown.yaml", unknown_key)
    dangling = copy.deepcopy(intents)
    dangling["intents"][0]["articles"] = list(dangling["intents"][0]["articles"]) + ["999999"]
    write_intents(d / "dangling.yaml", dangling)
    other = copy.deepcopy(intents)
    other["intents"][0]["examples"] = list(other["intents"][0]["examples"]) + ["where the heck is my parcel"]
    write_intents(d / "other.yaml", other)
    (d / "empty.jsonl").write_text("")

    one_intent = [ln for ln in lines if "order_status" in json.loads(ln)["tags"]
                  and json.loads(ln).get("intent") in (None, "track_order")]
    one_intent += [ln for ln in lines if "newsletter" in json.loads(ln)["tags"]][:20]  # unlabelled
    (d / "one_intent.jsonl").write_text("\n".join(one_intent) + "\n")

    shutil.copytree(model, d / "old_sklearn_model")
    meta = json.loads((d / "old_sklearn_model" / "metadata.json").read_text())
    meta["sklearn_version"] = "0.24.2"
    (d / "old_sklearn_model" / "metadata.json").write_text(json.dumps(meta))

    (d / "ticket.json").write_text(json.dumps(TICKET))
    (d / "not_json.json").write_text("{'id': 1")
    (d / "no_messages.json").write_text(json.dumps({**TICKET, "messages": []}))
    (d / "bad_script.yaml").write_text(yaml.safe_dump({"cases": [{"id": "a", "text": "x", "expect": {"action": "x"}}]}))
    return d


def _train(d: Path, hist, intents_path=INTENTS, *more) -> list:
    return ["train", "--history", hist, "--intents", intents_path, *more, "--out", d / "never"]


def _process_cases(model: Path, d: Path) -> dict:
    """Bad inputs as real processes: one per command family (a process costs a second of imports)."""
    return {
        "missing history": (_train(d, d / "nope.jsonl"), ("nope.jsonl", "no such file")),
        "other sklearn version": (["classify", "--model", d / "old_sklearn_model", "hello"], ("scikit-learn 0.24.2",)),
        "model for other intents": (["decide", "--model", model, "--intents", d / "other.yaml", "--articles", ARTICLES,
                                     d / "ticket.json"], ("other intents",)),
    }


@pytest.fixture(scope="session")
def bad_input_runs(model, bad_files):
    cases = _process_cases(model, bad_files)
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {name: pool.submit(run, *args, input="") for name, (args, _) in cases.items()}
        return {name: (futures[name].result(), cases[name][1]) for name in cases}


@pytest.mark.parametrize("name", ["missing history", "other sklearn version", "model for other intents"])
def test_bad_input_exits_2_with_one_line(bad_input_runs, name):
    r, words = bad_input_runs[name]
    assert_bad_input(r, *words)


def test_failed_trains_wrote_no_model(bad_input_runs, bad_files):
    assert not (bad_files / "never").exists()
    assert not [p.name for p in bad_files.iterdir() if p.name.startswith(".never")], "no temporary model left"


IN_PROCESS_CASES = {
    "history over 1% bad": (lambda m, d: _train(d, d / "bad_history.jsonl"), None, ("over 1%", "line 11")),
    "intents unknown key": (lambda m, d: _train(d, HISTORY, d / "unknown.yaml"), None, ("intents[3].colour",)),
    "dangling article id": (lambda m, d: _train(d, HISTORY, d / "dangling.yaml", "--articles", ARTICLES), None,
                            ("intents[0].articles[1]", "999999")),
    "empty history": (lambda m, d: _train(d, d / "empty.jsonl"), None, ("empty.jsonl", "no tickets")),
    "history with one intent": (lambda m, d: _train(d, d / "one_intent.jsonl"), None, ("track_order", "two")),
    "missing intents": (lambda m, d: _train(d, HISTORY, d / "nope.yaml"), None, ("nope.yaml", "no such file")),
    "other sklearn version (decide)": (lambda m, d: ["decide", "--model", d / "old_sklearn_model", "--intents",
                                                     INTENTS, "--articles", ARTICLES, d / "ticket.json"], None,
                                       ("scikit-learn",)),
    "model for other intents (evaluate)": (lambda m, d: ["evaluate", "--model", m, "--intents", d / "other.yaml",
                                                         "--articles", ARTICLES, "--script", SCRIPT], None,
                                           ("other intents",)),
    "not a model dir": (lambda m, d: ["classify", "--model", d, "hello"], None, ("not a model directory",)),
    "missing model dir": (lambda m, d: ["classify", "--model", d / "nope"], "x\n", ("not a model directory",)),
    "ticket not json": (lambda m, d: ["decide", "--model", m, "--intents", INTENTS, "--articles", ARTICLES,
                                      d / "not_json.json"], None, ("not_json.json", "not valid JSON")),
    "ticket stdin empty": (lambda m, d: ["decide", "--model", m, "--intents", INTENTS, "--articles", ARTICLES], "",
                           ("stdin", "not valid JSON")),
    "ticket without messages": (lambda m, d: ["decide", "--model", m, "--intents", INTENTS, "--articles", ARTICLES,
                                              d / "no_messages.json"], None, ("messages",)),
    "ticket is a directory": (lambda m, d: ["decide", "--model", m, "--intents", INTENTS, "--articles", ARTICLES, d],
                              None, ("directory",)),
    "bad test script": (lambda m, d: ["evaluate", "--model", m, "--intents", INTENTS, "--articles", ARTICLES,
                                      "--script", d / "bad_script.yaml"], None, ("cases[0].expect.action",)),
    "articles missing": (lambda m, d: ["decide", "--model", m, "--intents", INTENTS, "--articles", d / "nope.jsonl",
                                       d / "ticket.json"], None, ("nope.jsonl",)),
}


@pytest.mark.parametrize("name", sorted(IN_PROCESS_CASES))
def test_more_bad_input_exits_2_with_one_line(model, bad_files, name):
    args, stdin, words = IN_PROCESS_CASES[name]
    assert_bad_result(invoke(*args(model, bad_files), input=stdin), *words)
    assert not (bad_files / "never").exists(), "a failed train writes no model"


@pytest.mark.parametrize("args", [["classify"], ["train", "--history", "x"], ["nonsense"], ["decide", "--bogus"]])
def test_usage_errors_exit_2_without_traceback(args):
    r = invoke(*args)
    assert r.exit_code == 2 and isinstance(r.exception, SystemExit) and "Usage: bot" in r.stderr


def test_policy_and_asks_can_change_without_retraining(model, tmp_path):
    """The intents fingerprint covers what training used (names, tags, examples), not the decision settings."""
    data = yaml.safe_load(INTENTS.read_text())
    data["policy"]["mode"] = "draft"
    data["intents"][2]["ask"] = "Which address do you sign in with?"
    intents = write_intents(tmp_path / "i.yaml", data)
    r = invoke("decide", "--model", model, "--intents", intents, "--articles", ARTICLES, input=json.dumps(TICKET))
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["mode"] == "draft"


# --- nothing half-written -------------------------------------------------------------------------------------


def test_failed_train_leaves_an_existing_model_untouched(model, tmp_path):
    existing = tmp_path / "model"
    shutil.copytree(model, existing)
    before = snapshot(existing)
    one = [ln for ln in history_lines() if "order_status" in json.loads(ln)["tags"]
           and json.loads(ln).get("intent") in (None, "track_order")]
    (tmp_path / "one.jsonl").write_text("\n".join(one) + "\n")
    r = run("train", "--history", tmp_path / "one.jsonl", "--intents", INTENTS, "--out", existing)
    assert_bad_input(r)
    assert snapshot(existing) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model", "one.jsonl"]


def test_train_refuses_to_overwrite_a_directory_that_is_not_a_model(tmp_path):
    out = tmp_path / "important"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    small = tmp_path / "h.jsonl"
    small.write_text("\n".join(history_lines()[:400]) + "\n")
    r = invoke("train", "--history", small, "--intents", INTENTS, "--out", out)
    assert_bad_result(r, "not a model directory")
    assert snapshot(out) == {"notes.txt": b"keep me"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["h.jsonl", "important"]


def test_train_out_under_a_regular_file_is_bad_input(tmp_path):
    (tmp_path / "afile").write_text("x")
    small = tmp_path / "h.jsonl"
    small.write_text("\n".join(history_lines()[:400]) + "\n")
    r = invoke("train", "--history", small, "--intents", INTENTS, "--out", tmp_path / "afile" / "model")
    assert_bad_result(r)


def test_demo_out_is_a_regular_file_is_bad_input(tmp_path):
    (tmp_path / "afile").write_text("x")
    r = invoke("demo", "--out", tmp_path / "afile")
    assert_bad_result(r)
    assert (tmp_path / "afile").read_text() == "x"


@pytest.mark.parametrize("extra", [{"subject": 2024}, {"requester": {"plan": 5}}])
def test_evaluate_script_with_non_string_fields_has_no_traceback(model, tmp_path, extra):
    script = tmp_path / "s.yaml"
    script.write_text(yaml.safe_dump({"cases": [{**PASSING_CASE, **extra}]}))
    r = invoke("evaluate", "--model", model, "--intents", INTENTS, "--articles", ARTICLES, "--script", script)
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    assert r.exit_code in (0, 2)


# --- demo -------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "out"
    r = run("demo", "--out", out, cwd=out.parent)
    return out, r


def test_demo_writes_the_reports_and_prints_a_summary(demo_run):
    out, r = demo_run
    assert r.returncode == 0, r.stderr[-2000:]
    assert "Traceback" not in r.stderr
    for name in ("training.txt", "evaluation.json", "evaluation.txt", "replay.json", "decisions.jsonl", "demo.db"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    assert (out / "model" / "metadata.json").is_file()
    assert "Demo done" in r.stdout and str(out) in r.stdout
    assert "shadow replay" in r.stdout and "test script" in r.stdout
    evaluation = json.loads((out / "evaluation.json").read_text())
    assert evaluation["cases"] == len(yaml.safe_load(SCRIPT.read_text())["cases"])
    assert "accuracy" in (out / "evaluation.txt").read_text()
    assert "Trained model" in (out / "training.txt").read_text()


def test_demo_decision_log_has_one_row_per_replayed_ticket(demo_run):
    out, r = demo_run
    assert r.returncode == 0
    replay = json.loads((out / "replay.json").read_text())
    decisions = [json.loads(ln) for ln in (out / "decisions.jsonl").read_text().splitlines() if ln.strip()]
    replayed = [json.loads(ln)["id"] for ln in (out / "history-replay.jsonl").read_text().splitlines() if ln.strip()]
    assert replay["tickets"] == len(decisions) == len(replayed) > 0
    assert sum(replay["by_action"].values()) == replay["tickets"]
    with sqlite3.connect(out / "demo.db") as db:
        rows = db.execute("SELECT ticket_id, action, mode FROM decision_log").fetchall()
    assert len(rows) == len(replayed)
    assert sorted(t for t, _, _ in rows) == sorted(replayed)
    assert {m for _, _, m in rows} == {"shadow"}
    by_ticket = {d["ticket_id"]: d["action"] for d in decisions}
    assert all(by_ticket[t] == a for t, a, _ in rows)
    for d in decisions:
        assert SPEC_DECISION_KEYS <= set(d) and d["mode"] == "shadow" and d["reasons"]


def test_demo_replays_only_tickets_the_model_did_not_train_on(demo_run):
    out, _ = demo_run
    train_ids = {json.loads(ln)["id"] for ln in (out / "history-train.jsonl").read_text().splitlines() if ln.strip()}
    replay_ids = {json.loads(ln)["id"] for ln in (out / "history-replay.jsonl").read_text().splitlines() if ln.strip()}
    assert train_ids and replay_ids and not train_ids & replay_ids
    assert len(train_ids | replay_ids) == 1515
