"""The scheduled jobs: retraining swaps only a model that is not worse and keeps the old one; syncs write the
spec's files from the helpdesk (the stand-in Zendesk server) and are safe when not configured."""
import json
import shutil
from pathlib import Path

import pytest

from bot import jobs
from bot.config import Settings, ZendeskSettings
from bot.files import read_articles
from bot.model_store import META_FILE, read_metadata

FIX = Path(__file__).resolve().parents[1] / "fixtures"


def _set_accuracy(model_dir: Path, acc: float) -> None:
    meta = json.loads((model_dir / META_FILE).read_text())
    meta["metrics"]["accuracy"] = acc
    (model_dir / META_FILE).write_text(json.dumps(meta))


def test_unconfigured_jobs_say_so_and_touch_nothing(tmp_path):
    s = Settings(database_url=f"sqlite:///{tmp_path}/b.db")
    assert jobs.sync_articles(s).startswith("not configured")
    assert jobs.sync_history(s).startswith("not configured")
    assert jobs.retrain(s).startswith("not configured")
    assert list(tmp_path.iterdir()) == []


def test_retrain_swaps_when_not_worse_and_keeps_the_old_model(tmp_path):
    model = tmp_path / "model"
    first = jobs.retrain_and_swap(model, FIX / "history.jsonl", FIX / "intents.yaml", FIX / "articles.jsonl")
    assert first.startswith("swapped in")
    old_version = read_metadata(model)["version"]
    _set_accuracy(model, 0.0)  # any real candidate is at least as good
    second = jobs.retrain_and_swap(model, FIX / "history.jsonl", FIX / "intents.yaml", FIX / "articles.jsonl")
    assert second.startswith("swapped in")
    previous = list(tmp_path.glob("model.previous-*"))
    assert len(previous) == 1 and read_metadata(previous[0])["version"] == old_version
    assert not (tmp_path / "model.candidate").exists()


def test_retrain_keeps_the_live_model_when_the_candidate_is_worse(tmp_path):
    model = tmp_path / "model"
    jobs.retrain_and_swap(model, FIX / "history.jsonl", FIX / "intents.yaml", FIX / "articles.jsonl")
    _set_accuracy(model, 1.01)  # no candidate can reach it
    live = (model / META_FILE).read_text()
    result = jobs.retrain_and_swap(model, FIX / "history.jsonl", FIX / "intents.yaml", FIX / "articles.jsonl")
    assert result.startswith("kept")
    assert (model / META_FILE).read_text() == live
    assert not (tmp_path / "model.candidate").exists()
    assert not list(tmp_path.glob("model.previous-*"))


def test_retrain_refuses_bad_history_without_touching_the_model(tmp_path):
    model = tmp_path / "model"
    jobs.retrain_and_swap(model, FIX / "history.jsonl", FIX / "intents.yaml", FIX / "articles.jsonl")
    live = (model / META_FILE).read_text()
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert jobs.retrain_and_swap(model, empty, FIX / "intents.yaml").startswith("refused")
    assert (model / META_FILE).read_text() == live


def test_only_the_newest_previous_models_are_kept(tmp_path):
    model = tmp_path / "model"
    jobs.retrain_and_swap(model, FIX / "history.jsonl", FIX / "intents.yaml")
    for i in range(jobs.KEEP_PREVIOUS + 2):
        d = tmp_path / f"model.previous-{i}"
        shutil.copytree(model, d)
    jobs._prune_previous(model)
    assert len(list(tmp_path.glob("model.previous-*"))) == jobs.KEEP_PREVIOUS


@pytest.fixture
def standin():
    from tests.standin_zendesk import StandinZendesk
    server = StandinZendesk()
    server.start()
    yield server
    server.stop()


def test_sync_articles_job_writes_published_articles_from_the_helpdesk(standin, tmp_path):
    standin.add_article("Track your order", "<h2>Steps</h2><ol><li>Open Orders</li></ol>", section="Orders")
    standin.add_article("Gift cards", "<p>Soon</p>", draft=True)
    out = tmp_path / "articles.jsonl"
    s = Settings(articles_path=str(out), zendesk=ZendeskSettings(
        subdomain="acme", email=standin.email, api_token=standin.token, webhook_secret="s", url=standin.url))
    summary = jobs.sync_articles(s)
    articles = read_articles(out)
    assert summary == "1 articles"
    assert [(a.title, a.section) for a in articles] == [("Track your order", "Orders")]


def test_weekly_report_job_writes_the_launch_report(tmp_path):
    from bot.decision_log import record_replay
    dbfile = tmp_path / "bot.db"
    record_replay(dbfile, [{"ticket_id": "11500", "created_at": "2026-11-18T10:00:00Z", "action": "answer",
                            "intent": "track_order", "confidence": 0.9, "model_version": "m1"}])
    s = Settings(database_url=f"sqlite:///{dbfile}", history_path=str(FIX / "history.jsonl"),
                 intents_path=str(FIX / "intents.yaml"), reports_dir=str(tmp_path / "reports"))
    name = jobs.weekly_report(s)
    page = (tmp_path / "reports" / f"{name}.html").read_text()
    report = json.loads((tmp_path / "reports" / f"{name}.json").read_text())
    assert page.startswith("<!doctype html>") and report["tickets"]["shadow"] == 1
