"""End to end through real processes: the Procfile's web server (gunicorn, 2 workers), a real Celery worker,
the real Redis broker, a SQLite database file, and the stand-in Zendesk API (tests/standin_zendesk.py) in a
thread of this process, which the worker's adapter reaches through ZENDESK_URL.

What is pinned here is what only the whole chain can show: a signed delivery becomes exactly one PUT on the
ticket (the comment, the merged tags and the priority in it), whatever is delivered twice, echoed back or
interrupted by a killed worker; and `bot install`/`bot uninstall` leave the account as they found it.

Every wait is bounded (WAIT seconds); every process is started in a session of its own and killed (its whole
process group, by id) in the fixtures' finalizers. Redis database REDIS_DB is flushed before and after.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Callable, Optional

import pytest
from tests.runtime_support import empty_redis
import requests
from sqlalchemy import select, update

from adapters.zendesk_webhook import render_trigger_body
from bot import db
from bot.db import DecisionLog, InboxEvent
from tests.standin_zendesk import StandinZendesk

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent  # the venv's bin: gunicorn, celery and bot live beside its python
REDIS_DB = int(os.environ.get("BOT_E2E_REDIS_DB", "11"))
REDIS_URL = f"redis://127.0.0.1:6379/{REDIS_DB}"
SECRET = "e2e-signing-secret-0123456789abcdef"
WAIT = 20.0  # seconds: the bound on every wait for the system to act
STARTUP = 45.0  # seconds: the bound on a process getting ready (generous: CI machines can be busy)
GRACE = 0.7  # seconds a settled ticket is watched for a second (wrong) write
FINAL = ("done", "ignored", "parked")

PASSWORD_TEXT = "Hi, I forgot my password and cannot sign in. How do I reset it?"
PAYMENT_TEXT = "I was charged twice for my order and my card payment failed"


# --- processes ---------------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Service:
    """One subprocess in a session (process group) of its own, logging to a file."""

    def __init__(self, name: str, argv: list[str], env: dict, log_path: Path):
        self.name, self.argv, self.env, self.log_path = name, argv, env, log_path
        self.proc: Optional[subprocess.Popen] = None
        self.log_offset = 0

    def start(self) -> "Service":
        self.log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.argv, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_since_start(self) -> str:
        try:
            with open(self.log_path, "rb") as f:
                f.seek(self.log_offset)
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def tail(self, lines: int = 30) -> str:
        return f"\n--- {self.name} log (last {lines} lines) ---\n" + \
            "\n".join(self.log_since_start().splitlines()[-lines:])

    def children(self) -> list[int]:
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(self.proc.pid)], capture_output=True, text=True)
        return [int(p) for p in out.stdout.split()]

    def _signal_group(self, sig: int) -> None:
        try:
            os.killpg(self.proc.pid, sig)  # the group this process leads: it and its children, nothing else
        except (ProcessLookupError, PermissionError):
            pass

    def kill(self) -> None:
        """SIGKILL the whole process group at once: a crash, no chance to clean up or requeue."""
        if self.proc is None:
            return
        self._signal_group(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self._signal_group(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        self._signal_group(signal.SIGKILL)  # stragglers (pool children) too
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass


def wait_for(what: str, predicate: Callable, timeout: float = WAIT, interval: float = 0.05,
             logs: Callable[[], str] = lambda: ""):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}{logs()}")
        time.sleep(interval)


# --- fixtures ----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def model(tmp_path_factory):
    out = tmp_path_factory.mktemp("e2e-model") / "model"
    fixtures = ROOT / "fixtures"
    done = subprocess.run(
        [str(BIN / "bot"), "train", "--history", str(fixtures / "history.jsonl"), "--intents",
         str(fixtures / "intents.yaml"), "--articles", str(fixtures / "articles.jsonl"), "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return SimpleNamespace(model=str(out), intents=str(fixtures / "intents.yaml"),
                           articles=str(fixtures / "articles.jsonl"))


@pytest.fixture(scope="module")
def broker():
    yield from empty_redis(REDIS_URL)


@pytest.fixture(scope="module")
def standin():
    server = StandinZendesk(signing_secret=SECRET, fire_triggers=False).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def stack(tmp_path_factory, model, broker, standin):
    """gunicorn (Procfile `web`, on a free loopback port) + a Celery worker, sharing one SQLite file."""
    tmp = tmp_path_factory.mktemp("e2e")
    database_url = f"sqlite:///{tmp / 'bot.db'}"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("BOT_", "ZENDESK_", "FRESHDESK_", "INTERCOM_", "REDIS_URL"))}
    env.update({
        "BOT_DATABASE_URL": database_url, "REDIS_URL": REDIS_URL,
        "BOT_MODEL": model.model, "BOT_INTENTS": model.intents, "BOT_ARTICLES": model.articles,
        "BOT_MODE": "auto", "BOT_ROLLOUT_PERCENT": "100",
        "ZENDESK_SUBDOMAIN": "e2e", "ZENDESK_EMAIL": standin.email, "ZENDESK_API_TOKEN": standin.token,
        "ZENDESK_WEBHOOK_SECRET": SECRET, "ZENDESK_URL": standin.url, "ZENDESK_BOT_USER_ID": str(standin.me_id),
        "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost", "PYTHONUNBUFFERED": "1",
    })
    port = free_port()
    web = Service("web", [str(BIN / "gunicorn"), "-w", "2", "-b", f"127.0.0.1:{port}", "webhooks.app:create_app()"],
                  env, tmp / "web.log")
    worker = Service("worker", [str(BIN / "celery"), "-A", "bot.worker", "worker", "--concurrency=1",
                                "--pool=prefork", "--loglevel=INFO", "--without-mingle", "--without-gossip",
                                "--without-heartbeat", "-n", f"e2e-{uuid.uuid4().hex[:8]}@%h"],
                     env, tmp / "worker.log")
    ns = SimpleNamespace(tmp=tmp, env=env, database_url=database_url, web=web, worker=worker, standin=standin,
                         broker=broker, url=f"http://127.0.0.1:{port}", customer=standin.add_user("Dana Customer"),
                         groups={name: standin.add_group(name) for name in
                                 ("Billing", "Accounts", "Orders", "Shipping", "Support", "Customer Care", "Tier 2")})
    ns.logs = lambda: web.tail() + worker.tail()
    try:
        web.start()

        def healthy():
            assert web.alive(), "gunicorn exited" + web.tail()
            try:
                return requests.get(ns.url + "/healthz", timeout=1).status_code == 200
            except requests.RequestException:
                return False

        wait_for("gunicorn /healthz", healthy, timeout=STARTUP, logs=web.tail)
        start_worker(ns)
        ns.sessions = db.session_factory(database_url)
        yield ns
    finally:
        worker.stop()
        web.stop()
        db.get_engine(database_url).dispose()  # this module's engine only: other modules keep theirs


def start_worker(ns) -> None:
    ns.worker.start()

    def ready():
        assert ns.worker.alive(), "celery worker exited" + ns.worker.tail()
        return " ready." in ns.worker.log_since_start()

    wait_for("the Celery worker to be ready", ready, timeout=STARTUP, logs=ns.worker.tail)


# --- deliveries, as Zendesk sends them ---------------------------------------------------------------------

def delivery(ticket_id: int, comment_id: int, author_id: int, *, kind: str = "comment_added",
             role: str = "End-user", public: bool = True, invocation: Optional[str] = None) -> tuple[bytes, dict]:
    """The trigger's body (TRIGGER_TEMPLATE_V1 with its placeholders filled) and Zendesk's headers: signature =
    base64(HMAC-SHA256(secret, timestamp + body)), plus the webhook and invocation ids."""
    values = {"ticket.id": ticket_id, "ticket.latest_comment.id": comment_id,
              "ticket.latest_comment.author.id": author_id, "ticket.latest_comment.is_public": str(public).lower(),
              "current_user.id": author_id, "current_user.role": role}
    body = re.sub(r"\{\{\s*([\w.]+)\s*\}\}", lambda m: str(values.get(m.group(1), "")),
                  render_trigger_body(kind)).encode()
    headers = StandinZendesk.sign(SECRET, body)
    headers["X-Zendesk-Webhook-Id"] = "01JE2ETESTWEBHOOK0000000000"
    headers["X-Zendesk-Webhook-Invocation-Id"] = invocation or f"inv-{uuid.uuid4().hex[:16]}"
    return body, headers


def post(ns, body: bytes, headers: dict) -> tuple[int, dict]:
    r = requests.post(ns.url + "/webhooks/zendesk", data=body, headers=headers, timeout=5)
    return r.status_code, r.json()


def new_ticket(ns, text: str, **kw) -> tuple[int, int]:
    tid = ns.standin.create_ticket(ns.customer, "Help please", text, **kw)
    return tid, ns.standin.comments[tid][-1]["id"]


def puts(ns, tid: int) -> int:
    return ns.standin.count("PUT", f"/api/v2/tickets/{tid}.json")


def gets(ns, tid: int) -> int:
    return ns.standin.count("GET", f"/api/v2/tickets/{tid}.json")


def inbox(ns, tid: int) -> list[InboxEvent]:
    with ns.sessions() as s:
        return list(s.scalars(select(InboxEvent).where(InboxEvent.ticket_id == str(tid)).order_by(InboxEvent.id)))


def decisions(ns, tid: int) -> list[DecisionLog]:
    with ns.sessions() as s:
        return list(s.scalars(select(DecisionLog).where(DecisionLog.ticket_id == str(tid))))


def settled(ns, tid: int, writes: int = 1) -> None:
    """Wait for `writes` PUTs and every inbox event of the ticket final, then make sure no other PUT follows."""
    wait_for(f"{writes} PUT(s) on ticket {tid} and its inbox events final",
             lambda: puts(ns, tid) >= writes and inbox(ns, tid) and all(e.status in FINAL for e in inbox(ns, tid)),
             logs=ns.logs)
    time.sleep(GRACE)
    assert puts(ns, tid) == writes, f"ticket {tid}: {puts(ns, tid)} PUTs, expected {writes}"


def ticket(ns, tid: int) -> dict:
    with ns.standin.lock:
        return json.loads(json.dumps(ns.standin.tickets[tid]))


def last_comment(ns, tid: int) -> dict:
    with ns.standin.lock:
        return dict(ns.standin.comments[tid][-1])


def bot_cli(ns, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "bot"), *args], cwd=ns.tmp, env=ns.env, capture_output=True, text=True,
                          timeout=WAIT)


# --- tests -------------------------------------------------------------------------------------------------

def test_answerable_question_gets_one_public_reply_even_when_delivered_twice(stack):
    tid, cid = new_ticket(stack, PASSWORD_TEXT, tags=("channel_web", "returning_customer"), priority="low")
    body, headers = delivery(tid, cid, stack.customer, kind="ticket_created")

    assert post(stack, body, headers) == (202, {"status": "queued", "reason": "queued"})
    code, answer = post(stack, body, headers)  # Zendesk retrying the same invocation
    assert (code, answer["status"]) == (200, "duplicate")
    # another invocation about the same comment (two triggers, or a re-fired one) is the same event
    body2, headers2 = delivery(tid, cid, stack.customer, kind="comment_added")
    code, answer = post(stack, body2, headers2)
    assert (code, answer["status"]) == (200, "duplicate")

    settled(stack, tid)
    reply, state = last_comment(stack, tid), ticket(stack, tid)
    assert reply["author_id"] == stack.standin.me_id and reply["public"] is True
    assert "Forgot password" in reply["html_body"] and "360000109" in reply["html_body"]  # the article's steps
    assert reply["metadata"]["custom"]["supportbot"]["action"] == "answer"
    assert state["tags"][:2] == ["channel_web", "returning_customer"]  # kept, in place
    assert "bot_answered" in state["tags"] and len(state["tags"]) > 2
    assert state["priority"] == "low"  # an answer leaves priority as the team set it; only a handoff sets it
    assert [e.status for e in inbox(stack, tid)] == ["done"]
    [decision] = decisions(stack, tid)
    assert (decision.action, decision.intent, decision.mode) == ("answer", "recover_password", "auto")
    assert decision.write_json["sent"]["public"] is True


def test_escalation_is_an_internal_note_with_intent_reasons_tags_priority_and_group(stack):
    tid, cid = new_ticket(stack, PAYMENT_TEXT, tags=("channel_email",), priority="normal")
    assert post(stack, *delivery(tid, cid, stack.customer, kind="ticket_created"))[0] == 202

    settled(stack, tid)
    note, state = last_comment(stack, tid), ticket(stack, tid)
    assert note["author_id"] == stack.standin.me_id and note["public"] is False
    assert "escalated to a human" in note["html_body"]
    assert "payment_issue" in note["html_body"] and "Reasons:" in note["html_body"]
    assert state["tags"][0] == "channel_email"
    assert {"bot_escalated", "intent_payment_issue"} <= set(state["tags"])
    assert state["priority"] == "high"
    assert state["group_id"] == stack.groups["Billing"]
    [decision] = decisions(stack, tid)
    assert (decision.action, decision.intent) == ("escalate", "payment_issue")


def test_bots_own_update_echoed_back_is_ignored(stack):
    tid, cid = new_ticket(stack, PASSWORD_TEXT)
    assert post(stack, *delivery(tid, cid, stack.customer, kind="ticket_created"))[0] == 202
    settled(stack, tid)
    bot_comment = last_comment(stack, tid)
    assert bot_comment["author_id"] == stack.standin.me_id

    # the bot's PUT seen by a trigger that lacks the end-user condition: a new invocation, authored by the bot
    code, answer = post(stack, *delivery(tid, bot_comment["id"], stack.standin.me_id, role="Admin"))
    assert (code, answer) == (200, {"status": "ignored", "reason": "the bot's own update"})
    time.sleep(GRACE)
    assert puts(stack, tid) == 1
    assert len(inbox(stack, tid)) == 1  # nothing was stored or queued for the echo


def test_install_twice_then_uninstall_leaves_the_account_as_it_was(stack):
    secret_file = str(stack.tmp / "install.env")
    before = stack.standin.snapshot()
    assert bot_cli(stack, "install", "zendesk", "--check").returncode == 1  # nothing installed yet

    first = bot_cli(stack, "install", "zendesk", "--url", stack.url, "--secret-file", secret_file, "--json")
    assert first.returncode == 0, first.stderr
    installed = stack.standin.snapshot()
    [hook] = installed["webhooks"].values()
    assert hook["endpoint"] == stack.url + "/webhooks/zendesk" and hook["status"] == "active"
    assert len(installed["triggers"]) == 2
    assert SECRET not in first.stdout  # the secret goes to the 0600 file, not to stdout
    assert f"ZENDESK_WEBHOOK_SECRET={SECRET}" in Path(secret_file).read_text()

    again = bot_cli(stack, "install", "zendesk", "--url", stack.url, "--secret-file", secret_file, "--json")
    assert again.returncode == 0, again.stderr
    assert stack.standin.snapshot() == installed  # idempotent: the rerun changed nothing
    result = json.loads(again.stdout)
    assert result["webhook"]["action"] == "unchanged"
    assert [t["action"] for t in result["triggers"]] == ["unchanged", "unchanged"]

    check = bot_cli(stack, "install", "zendesk", "--check", "--url", stack.url)
    assert check.returncode == 0, check.stdout + check.stderr

    gone = bot_cli(stack, "uninstall", "zendesk")
    assert gone.returncode == 0, gone.stderr
    assert stack.standin.snapshot() == before
    assert bot_cli(stack, "install", "zendesk", "--check").returncode == 1


def test_customer_activity_fires_the_installed_trigger_through_to_one_write_each(stack):
    """The realistic path: the stand-in, like Zendesk, runs the triggers `bot install` created and POSTs the
    rendered, signed template to the web server; the worker loads the ticket and writes back."""
    secret_file = str(stack.tmp / "trigger.env")
    assert bot_cli(stack, "install", "zendesk", "--url", stack.url, "--secret-file", secret_file).returncode == 0
    stack.standin.fire_triggers = True
    try:
        fired = len(stack.standin.deliveries)
        tid, _ = new_ticket(stack, PASSWORD_TEXT)  # fires "new ticket from an end user", synchronously
        assert [d["status"] for d in stack.standin.deliveries[fired:]] == [202]
        settled(stack, tid)
        assert last_comment(stack, tid)["public"] is True
        # the bot's own PUT fired nothing (it is not an end user)
        assert [d["status"] for d in stack.standin.deliveries[fired:]] == [202]

        stack.standin.add_comment(tid, stack.customer, "That did not help. I want to speak to a human agent")
        assert [d["status"] for d in stack.standin.deliveries[fired:]] == [202, 202]
        settled(stack, tid, writes=2)
        note = last_comment(stack, tid)
        assert note["author_id"] == stack.standin.me_id and note["public"] is False
        assert "escalated to a human" in note["html_body"]
        assert [e.status for e in inbox(stack, tid)] == ["done", "done"]
    finally:
        stack.standin.fire_triggers = False
        bot_cli(stack, "uninstall", "zendesk")


def test_pool_process_killed_mid_task_is_redelivered_and_writes_once(stack):
    """SIGKILL the prefork child while it waits on Zendesk: acks are late and a lost worker's task is rejected
    back to the queue, so the pool's new child runs it again; nothing was claimed yet, so it writes once."""
    tid, cid = new_ticket(stack, PASSWORD_TEXT)
    stack.standin.delay_ticket(tid, 8.0)  # the first GET of the ticket hangs
    assert post(stack, *delivery(tid, cid, stack.customer, kind="ticket_created"))[0] == 202
    wait_for("the worker's (slow) GET of the ticket", lambda: gets(stack, tid) >= 1, logs=stack.logs)

    [child] = stack.worker.children()
    os.kill(child, signal.SIGKILL)
    settled(stack, tid)
    assert gets(stack, tid) == 2  # the killed run's and the redelivered run's
    assert stack.worker.alive()
    assert [e.status for e in inbox(stack, tid)] == ["done"]
    assert len(decisions(stack, tid)) == 1


def test_worker_crash_restart_and_sweep_writes_once(stack):
    """SIGKILL the whole worker (main process and pool) mid-task: the message stays unacked in Redis until the
    visibility timeout (an hour) and the inbox row stays `processing`. After a restart, the sweeper re-queues
    rows stuck past the processing deadline; the row is aged past it here instead of waiting 7 minutes."""
    from bot.worker import PROCESSING_DEADLINE

    tid, cid = new_ticket(stack, PASSWORD_TEXT)
    stack.standin.delay_ticket(tid, 8.0)
    assert post(stack, *delivery(tid, cid, stack.customer, kind="ticket_created"))[0] == 202
    wait_for("the worker's (slow) GET of the ticket", lambda: gets(stack, tid) >= 1, logs=stack.logs)

    stack.worker.kill()
    start_worker(stack)
    [event] = inbox(stack, tid)
    assert event.status == "processing" and puts(stack, tid) == 0

    with stack.sessions.begin() as s:
        s.execute(update(InboxEvent).where(InboxEvent.id == event.id).values(
            updated_at=db.utcnow() - PROCESSING_DEADLINE - dt.timedelta(minutes=1)))
    sweep = subprocess.run([sys.executable, "-c", "from bot.worker import sweep_inbox; print(sweep_inbox())"],
                           cwd=ROOT, env=stack.env, capture_output=True, text=True, timeout=WAIT)
    assert sweep.returncode == 0, sweep.stderr[-2000:]
    assert sweep.stdout.split()[-1] == "1"  # exactly this event re-queued

    settled(stack, tid)
    assert last_comment(stack, tid)["public"] is True
    assert [e.status for e in inbox(stack, tid)] == ["done"]
    assert len(decisions(stack, tid)) == 1
