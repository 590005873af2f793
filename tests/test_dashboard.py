"""The admin dashboard: off without a password, behind basic auth with one, showing the decision log."""
import base64

import pytest

from bot import db
from bot.config import Settings
from bot.decision_log import record_replay
from tests.runtime_support import FakeAdapter, FakeQueue
from webhooks.app import create_app


class NoDedupe:
    def claim(self, keys):
        return None

    def release(self, keys):
        pass


def _app(tmp_path, password):
    dbfile = tmp_path / "d.db"
    record_replay(dbfile, [{"ticket_id": "7", "created_at": "2026-11-18T10:00:00Z", "action": "escalate",
                            "intent": "payment_issue", "confidence": 0.91, "model_version": "m",
                            "reasons": ["intent payment_issue always escalates"]}])
    settings = Settings(database_url=f"sqlite:///{dbfile}", dashboard_password=password)
    return create_app(settings, adapters={"zendesk": FakeAdapter()}, queue=FakeQueue(), dedupe=NoDedupe())


def _auth(password):
    return {"Authorization": "Basic " + base64.b64encode(f"admin:{password}".encode()).decode()}


def test_dashboard_is_off_until_a_password_is_set(tmp_path):
    assert _app(tmp_path, None).test_client().get("/").status_code == 404
    db.dispose_all()


@pytest.mark.parametrize("headers", [{}, _auth("wrong")])
def test_dashboard_needs_the_password(tmp_path, headers):
    r = _app(tmp_path, "s3cret").test_client().get("/", headers=headers)
    assert r.status_code == 401 and "Basic" in r.headers["WWW-Authenticate"]
    db.dispose_all()


def test_dashboard_shows_decisions_and_escalations_with_their_reasons(tmp_path):
    r = _app(tmp_path, "s3cret").test_client().get("/", headers=_auth("s3cret"))
    page = r.get_data(as_text=True)
    assert r.status_code == 200 and page.startswith("<!doctype html>")
    escalations = page.split("Escalations (latest)")[1].split("Decisions (latest)")[0]
    assert "payment_issue" in escalations and "always escalates" in escalations
    db.dispose_all()
