"""Webhook intake throughput and latency, and Zendesk API calls per processed ticket, through real processes.

    python bench/webhook_ingest.py [--database sqlite|postgresql] [--requests 5000] [--seconds 30]
                                   [--threads 8] [--client raw|http.client] [--tickets 50]
                                   [--worker-class sync|gthread --gthreads 4] [--profile] [--skip-e2e]

Phase 1 (intake): the Procfile's web server (gunicorn, 2 workers, on a free 127.0.0.1 port) with the Celery
broker on the local Redis (database --redis-db, flushed before and after) and no worker, so tasks only queue.
Client threads, each with its own persistent connection (re-opened when the server closes it, as gunicorn's
sync workers do after every answer), send signed Zendesk trigger deliveries with distinct invocation, ticket
and comment ids, bounded in count and time. The default client writes prepared request bytes on a plain
socket, so that it takes little of the CPU it shares with the server; `--client http.client` uses the standard
library. Reported: sustained accepted (202) webhooks per second, p50/p99 answer time as the client sees it,
the share of 202s, a check that every 202 has its inbox row and its queued task, and the CPU each request
cost in gunicorn, Redis (and PostgreSQL) and the client, from /proc and Redis INFO. On a machine shared with
other work the rate and latencies move with the load average (printed); the CPU per request moves much less.
`--profile` runs the same with cProfile (CPU time) in each gunicorn worker and prints where the time goes.

Phase 2 (end to end): the inbox and the queue emptied, a Celery worker (Procfile `worker`, 2 processes)
started, and --tickets tickets created in the stand-in Zendesk (tests/standin_zendesk.py, in this process)
and delivered; when all are processed, the stand-in's request count per ticket is reported (target <= 3:
GET ticket, GET comments, one PUT; an escalation's group-name lookup is made once per worker process).

Targets (2 cores): >= 1,000 accepted webhooks/s, p99 <= 25 ms, <= 3 Zendesk calls per ticket.
Prints plain lines, then one JSON line. Only loopback addresses are used.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402
import requests  # noqa: E402
from sqlalchemy import create_engine, delete, func, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from adapters.zendesk_webhook import render_trigger_body  # noqa: E402
from bot import db  # noqa: E402
from bot.db import InboxEvent  # noqa: E402
from tests.standin_zendesk import StandinZendesk  # noqa: E402

BIN = Path(sys.executable).parent
SECRET = "bench-signing-secret-0123456789abcdef"
FINAL = ("done", "ignored", "parked")
TEXTS = (  # answers and escalations, as the fixtures' intents have them
    "Hi, I forgot my password and cannot sign in. How do I reset it?",
    "I was charged twice for my order and my card payment failed",
    "where can I check the status of order 113542617735902?",
    "I want to speak to a human agent",
    "how can I download the invoice for my last purchase?",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Proc:
    """A subprocess in its own session; stopped by signalling its process group (by id)."""

    def __init__(self, name: str, argv: list[str], env: dict, log: Path):
        self.name = name
        with open(log, "ab") as f:
            self.proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=f, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        self.log = log

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        for sig, wait in ((signal.SIGTERM, 8), (signal.SIGKILL, 5)):
            try:
                os.killpg(self.proc.pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                self.proc.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                continue

    def tail(self, n: int = 20) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])


def wait_until(what: str, predicate, timeout: float, proc: Optional[Proc] = None) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc is not None and not proc.alive():
            raise SystemExit(f"{proc.name} exited while waiting for {what}:\n{proc.tail()}")
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout:.0f}s waiting for {what}" +
                             (f":\n{proc.tail()}" if proc else ""))
        time.sleep(0.05)


def delivery(ticket_id: int, comment_id: int, author_id: int, invocation: str) -> tuple[bytes, dict]:
    """A trigger delivery exactly as Zendesk sends it: the rendered template, signed over timestamp + body."""
    values = {"ticket.id": ticket_id, "ticket.latest_comment.id": comment_id,
              "ticket.latest_comment.author.id": author_id, "ticket.latest_comment.is_public": "true",
              "current_user.id": author_id, "current_user.role": "End-user"}
    body = re.sub(r"\{\{\s*([\w.]+)\s*\}\}", lambda m: str(values.get(m.group(1), "")),
                  render_trigger_body("comment_added")).encode()
    headers = StandinZendesk.sign(SECRET, body)
    headers["X-Zendesk-Webhook-Id"] = "01JBENCHWEBHOOK00000000000"
    headers["X-Zendesk-Webhook-Invocation-Id"] = invocation
    return body, headers


def group_cpu(pgid: Optional[int] = None, name: Optional[str] = None) -> float:
    """CPU seconds (user + system) used so far by the live processes of process group `pgid`, or by every
    process whose name starts with `name` (PostgreSQL's backends: other users' included, so a rough figure)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                head, tail = f.read().rsplit(")", 1)
        except OSError:
            continue
        fields = tail.split()  # after the name: state, ppid, pgrp, ..., utime (index 11), stime (12)
        comm = head.split("(", 1)[1]
        if (pgid is not None and int(fields[2]) == pgid) or (name is not None and comm.startswith(name)):
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def redis_cpu(client) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def own_cpu() -> float:
    t = os.times()
    return t.user + t.system


GUNICORN_PROFILE_CONF = """
import cProfile, os, time
_profile = None
_seen = 0

def pre_request(worker, req):
    # CPU time (not wall time: on a shared machine a descheduled worker would show up as slow syscalls),
    # from the 200th request of this worker on, so imports and warm-up stay out of it
    global _profile, _seen
    _seen += 1
    if _seen == 200:
        _profile = cProfile.Profile(time.thread_time)
        _profile.enable()

def worker_exit(server, worker):
    if _profile is not None:
        _profile.disable()
        _profile.dump_stats(os.path.join({out!r}, "web-%d.prof" % os.getpid()))
"""


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    i = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[i]


# --- phase 1 -----------------------------------------------------------------------------------------------

class RawConnection:
    """HTTP/1.1 on a plain socket, each request's bytes prepared before the clock starts: a client whose own
    CPU per request is a small share of the 2 cores it shares with the server (http.client's is 2-3 times
    larger). Persistent: the socket is reused until the server answers `Connection: close`."""

    def __init__(self, port: int):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def exchange(self, raw: bytes) -> tuple[int, bool]:
        self.sock.sendall(raw)
        buf = self.buf
        while b"\r\n\r\n" not in buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed before the answer")
            buf += chunk
        head, _, rest = buf.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status, length, close = int(lines[0].split(None, 2)[1]), 0, False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection":
                close = value.strip().lower() == b"close"
        while len(rest) < length:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed in the middle of the answer")
            rest += chunk
        self.buf = rest[length:]
        return status, close

    def close(self) -> None:
        self.sock.close()


def raw_request(port: int, body: bytes, headers: dict) -> bytes:
    lines = [f"POST /webhooks/zendesk HTTP/1.1", f"Host: 127.0.0.1:{port}", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def blast(port: int, jobs: list[tuple[bytes, dict]], threads: int, seconds: float, client: str = "raw") -> dict:
    """Send jobs from `threads` client threads; stop at the end of the list or after `seconds`."""
    lock = threading.Lock()
    cursor = iter(range(len(jobs)))
    raws = [raw_request(port, body, headers) for body, headers in jobs] if client == "raw" else None
    latencies: list[list[float]] = [[] for _ in range(threads)]
    statuses: list[dict[int, int]] = [{} for _ in range(threads)]
    connects = [0] * threads
    errors = [0] * threads
    stop_at = time.monotonic() + seconds
    start = threading.Barrier(threads + 1)

    def run_raw(k: int) -> None:
        conn: Optional[RawConnection] = None
        lat, sts = latencies[k], statuses[k]
        start.wait()
        while time.monotonic() < stop_at:
            with lock:
                i = next(cursor, None)
            if i is None:
                break
            t0 = time.perf_counter()
            try:
                if conn is None:  # connecting is part of the answer time when the server closes every time
                    conn = RawConnection(port)
                    connects[k] += 1
                status, close = conn.exchange(raws[i])
            except OSError:
                errors[k] += 1
                if conn is not None:
                    conn.close()
                conn = None
                continue
            lat.append(time.perf_counter() - t0)
            sts[status] = sts.get(status, 0) + 1
            if close:  # gunicorn's sync worker closes after every answer; gthread keeps the connection
                conn.close()
                conn = None
        if conn is not None:
            conn.close()

    def run_http_client(k: int) -> None:
        conn: Optional[http.client.HTTPConnection] = None
        lat, sts = latencies[k], statuses[k]
        start.wait()
        while time.monotonic() < stop_at:
            with lock:
                i = next(cursor, None)
            if i is None:
                break
            body, headers = jobs[i]
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                connects[k] += 1
            t0 = time.perf_counter()
            try:
                conn.request("POST", "/webhooks/zendesk", body=body, headers=headers)
                resp = conn.getresponse()
                resp.read()
            except (OSError, http.client.HTTPException):
                errors[k] += 1
                conn.close()
                conn = None
                continue
            lat.append(time.perf_counter() - t0)
            sts[resp.status] = sts.get(resp.status, 0) + 1
            if resp.will_close:
                conn.close()
                conn = None
        if conn is not None:
            conn.close()

    run = run_raw if client == "raw" else run_http_client
    workers = [threading.Thread(target=run, args=(k,), daemon=True) for k in range(threads)]
    for w in workers:
        w.start()
    start.wait()
    t0 = time.perf_counter()
    for w in workers:
        w.join()
    wall = time.perf_counter() - t0
    all_lat = sorted(x for lat in latencies for x in lat)
    status: dict[int, int] = {}
    for s in statuses:
        for code, n in s.items():
            status[code] = status.get(code, 0) + n
    sent = len(all_lat)
    return {"sent": sent, "wall_s": wall, "status": status, "errors": sum(errors), "connects": sum(connects),
            "accepted": status.get(202, 0), "accepted_per_s": status.get(202, 0) / wall if wall else 0.0,
            "p50_ms": percentile(all_lat, 0.50) * 1000, "p99_ms": percentile(all_lat, 0.99) * 1000,
            "max_ms": (all_lat[-1] * 1000) if all_lat else float("nan"),
            "share_202": status.get(202, 0) / sent if sent else 0.0}


# --- main --------------------------------------------------------------------------------------------------

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    ap.add_argument("--postgres-url", default=os.environ.get(
        "BOT_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test"),
        help="a server and login allowed to CREATE DATABASE; a database of its own is created and dropped")
    ap.add_argument("--requests", type=int, default=5000)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--client", choices=("raw", "http.client"), default="raw",
                    help="raw: prepared bytes on a plain socket (cheapest); http.client: the standard library's")
    ap.add_argument("--tickets", type=int, default=50)
    ap.add_argument("--redis-db", type=int, default=12)
    ap.add_argument("--worker-class", default="sync", help="gunicorn worker class (the Procfile's is sync)")
    ap.add_argument("--gthreads", type=int, default=0, help="gunicorn --threads (with --worker-class gthread)")
    ap.add_argument("--skip-e2e", action="store_true", help="phase 1 only")
    ap.add_argument("--app", default="webhooks.app:create_app()",
                    help="the WSGI app gunicorn serves (the Procfile's by default; another to compare a variant)")
    ap.add_argument("--profile", action="store_true",
                    help="cProfile each gunicorn worker during phase 1 and print where the time goes (implies "
                         "--skip-e2e; the profiler slows the server, so compare shares, not totals)")
    ap.add_argument("--profile-dir", help="keep the workers' .prof files here (default: a temporary directory)")
    args = ap.parse_args()
    if args.profile:
        args.skip_e2e = True

    tmp = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    redis_url = f"redis://127.0.0.1:6379/{args.redis_db}"
    broker = redis.Redis.from_url(redis_url)
    broker.flushdb()
    pg_admin = pg_name = None
    if args.database == "postgresql":
        base = make_url(args.postgres_url)
        pg_name = f"bench_ingest_{uuid.uuid4().hex[:10]}"
        pg_admin = create_engine(base, isolation_level="AUTOCOMMIT")
        with pg_admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{pg_name}"'))
        database_url = base.set(database=pg_name).render_as_string(hide_password=False)
    else:
        database_url = f"sqlite:///{tmp / 'bench.db'}"

    standin = StandinZendesk(signing_secret=SECRET, fire_triggers=False).start()
    customer = standin.add_user("Bench Customer")
    for name in ("Billing", "Accounts", "Orders", "Shipping", "Support", "Customer Care", "Tier 2"):
        standin.add_group(name)
    model_dir = tmp / "model"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("BOT_", "ZENDESK_", "FRESHDESK_", "INTERCOM_", "REDIS_URL"))}
    env.update({
        "BOT_DATABASE_URL": database_url, "REDIS_URL": redis_url,
        "BOT_MODEL": str(model_dir), "BOT_INTENTS": str(ROOT / "fixtures/intents.yaml"),
        "BOT_ARTICLES": str(ROOT / "fixtures/articles.jsonl"), "BOT_MODE": "auto", "BOT_ROLLOUT_PERCENT": "100",
        "ZENDESK_SUBDOMAIN": "bench", "ZENDESK_EMAIL": standin.email, "ZENDESK_API_TOKEN": standin.token,
        "ZENDESK_WEBHOOK_SECRET": SECRET, "ZENDESK_URL": standin.url, "ZENDESK_BOT_USER_ID": str(standin.me_id),
        "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost", "PYTHONUNBUFFERED": "1",
    })
    procs: list[Proc] = []
    out: dict = {"database": args.database, "gunicorn": {"workers": 2, "worker_class": args.worker_class,
                                                         "threads": args.gthreads or 1},
                 "client": args.client, "client_threads": args.threads, "cpus": os.cpu_count(),
                 "load_avg_at_start": os.getloadavg()[0]}
    try:
        if not args.skip_e2e:
            trained = subprocess.run(
                [str(BIN / "bot"), "train", "--history", str(ROOT / "fixtures/history.jsonl"), "--intents",
                 env["BOT_INTENTS"], "--articles", env["BOT_ARTICLES"], "--out", str(model_dir)],
                cwd=ROOT, capture_output=True, text=True, timeout=300)
            if trained.returncode != 0:
                raise SystemExit(f"bot train failed:\n{trained.stderr[-2000:]}")
        port = free_port()
        argv = [str(BIN / "gunicorn"), "-w", "2", "-b", f"127.0.0.1:{port}"]
        if args.worker_class != "sync":
            argv += ["-k", args.worker_class]
        if args.gthreads:
            argv += ["--threads", str(args.gthreads)]
        if args.profile:
            prof_dir = Path(args.profile_dir or tmp)
            prof_dir.mkdir(parents=True, exist_ok=True)
            for old in prof_dir.glob("web-*.prof"):
                old.unlink()
            (tmp / "profile_conf.py").write_text(GUNICORN_PROFILE_CONF.format(out=str(prof_dir)))
            argv += ["-c", str(tmp / "profile_conf.py")]
        web = Proc("gunicorn", argv + [args.app], env, tmp / "web.log")
        procs.append(web)

        def healthy() -> bool:
            try:
                return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code in (200, 503)
            except requests.RequestException:
                return False

        wait_until("gunicorn /healthz", healthy, 30, web)

        # phase 1: intake. Ticket and comment ids never collide with the stand-in's (those start at 100001).
        def jobs(n: int, first: int) -> list[tuple[bytes, dict]]:
            return [delivery(first + i, 50_000_000 + first + i, 7, f"inv-{uuid.uuid4().hex}") for i in range(n)]

        blast(port, jobs(300, 1_000_000), args.threads, 10, args.client)  # warm-up: imports, pools, both workers
        warm_accepted = broker.llen("celery")
        batch = jobs(args.requests, 2_000_000)
        pg = args.database == "postgresql"
        cpu0 = (group_cpu(web.proc.pid), redis_cpu(broker), own_cpu(), group_cpu(name="postgres") if pg else 0.0)
        intake = blast(port, batch, args.threads, args.seconds, args.client)
        cpu1 = (group_cpu(web.proc.pid), redis_cpu(broker), own_cpu(), group_cpu(name="postgres") if pg else 0.0)
        n = max(1, intake["sent"])
        names = ("gunicorn", "redis", "client", "postgres")[:4 if pg else 3]
        intake["cpu_ms_per_request"] = {name: round((b - a) * 1000 / n, 3)
                                        for name, a, b in zip(names, cpu0, cpu1)}
        intake["cpu_busy_cores"] = round(sum(b - a for a, b in zip(cpu0, cpu1)) / intake["wall_s"], 2)
        sessions = db.session_factory(database_url)
        with sessions() as s:
            rows = s.scalar(select(func.count()).select_from(InboxEvent)
                            .where(InboxEvent.ticket_id >= "2000000")) or 0
        intake["inbox_rows"] = rows
        intake["queued_tasks"] = broker.llen("celery") - warm_accepted
        out["intake"] = intake

        print(f"intake: {intake['sent']} signed deliveries in {intake['wall_s']:.1f} s from {args.threads} "
              f"{args.client} client threads ({intake['connects']} connections; gunicorn -w 2 {args.worker_class}"
              f"{f' --threads {args.gthreads}' if args.gthreads else ''}, {args.database})")
        print(f"accepted webhooks/s: {intake['accepted_per_s']:.0f}  (target >= 1000)")
        print(f"answer time p50: {intake['p50_ms']:.2f} ms  p99: {intake['p99_ms']:.2f} ms  max: "
              f"{intake['max_ms']:.1f} ms  (target p99 <= 25 ms)")
        print(f"share 202: {intake['share_202']:.4f}  statuses: {intake['status']}  client errors: "
              f"{intake['errors']}")
        print(f"every 202 stored and queued: inbox rows {rows}, queued tasks {intake['queued_tasks']}, "
              f"202s {intake['accepted']}")
        cpu = intake["cpu_ms_per_request"]
        intake["capacity_estimate_per_s"] = round(os.cpu_count() * 1000 / max(1e-9, sum(cpu.values())))
        out["load_avg_after_intake"] = os.getloadavg()[0]
        print(f"CPU ms per request: {cpu} (cores busy with this bench: {intake['cpu_busy_cores']} of "
              f"{os.cpu_count()}; load average at start {out['load_avg_at_start']:.2f}, after "
              f"{out['load_avg_after_intake']:.2f})")
        print(f"capacity estimate (cores / CPU per request, client included): "
              f"{intake['capacity_estimate_per_s']}/s")
        if args.profile:
            web.stop()
            procs.remove(web)
            out["profile"] = report_profile(Path(args.profile_dir or tmp))

        if not args.skip_e2e:
            out["e2e"] = end_to_end(args, env, tmp, standin, customer, broker, sessions, port, procs)
    finally:
        for p in reversed(procs):
            p.stop()
        standin.stop()
        db.dispose_all()
        broker.flushdb()
        broker.close()
        if pg_admin is not None:
            with pg_admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)'))
            pg_admin.dispose()
        shutil.rmtree(tmp, ignore_errors=True)

    i = out["intake"]
    out["targets_met"] = {"accepted_per_s": i["accepted_per_s"] >= 1000, "p99_ms": i["p99_ms"] <= 25.0}
    if "e2e" in out:
        out["targets_met"]["calls_per_ticket"] = out["e2e"]["calls_per_ticket"] <= 3.0
    print(json.dumps(out, sort_keys=True))
    return 0


PROFILE_STEPS = (  # (label, file, function): the steps of one webhook, cumulative CPU time
    ("gunicorn worker: accept, parse, respond (all of it)", "sync.py", "handle"),
    ("  gunicorn HTTP parsing", "message.py", "parse"),
    ("  Flask request dispatch (the app, all of it)", "app.py", "wsgi_app"),
    ("    signature check", "zendesk_webhook.py", "verify_zendesk_signature"),
    ("    body parsing", "zendesk_webhook.py", "parse_zendesk_webhook"),
    ("    Redis dedupe (SET NX EX pipeline)", "app.py", "claim"),
    ("    inbox write (SQLAlchemy ORM insert + commit)", "db.py", "record_inbox"),
    ("    Celery send_task (kombu publish, LPUSH)", "app.py", "enqueue"),
    ("    answer: log line + JSON", "app.py", "_answer"),
)


def report_profile(tmp: Path, top: int = 25) -> list:
    import pstats

    files = sorted(str(p) for p in tmp.glob("web-*.prof"))
    if not files:
        print("profile: no gunicorn worker wrote a profile")
        return []
    stats = pstats.Stats(*files)
    total = stats.total_tt
    rows = []
    for (filename, line, name), (cc, nc, tt, ct, callers) in stats.stats.items():
        rows.append((ct, tt, nc, f"{Path(filename).name}:{line}({name})"))
    print(f"profile of {len(files)} gunicorn workers: {total:.2f} CPU s after warm-up; where it goes:")
    per_request = None
    for (filename, line, name), (cc, nc, tt, ct, callers) in stats.stats.items():
        if name == "_webhook" and filename.endswith("app.py"):
            per_request = nc
    summary = []
    for label, file_end, func in PROFILE_STEPS:
        ct = sum(v[3] for (f, _, n), v in stats.stats.items() if n == func and f.endswith(file_end))
        summary.append({"step": label, "share": round(ct / total, 4),
                        "ms_per_request": round(ct * 1000 / per_request, 3) if per_request else None})
        print(f"  {100 * ct / total:5.1f}%  {label}")
    print(f"top by cumulative time:")
    for ct, tt, nc, where in sorted(rows, reverse=True)[:top]:
        print(f"  {100 * ct / total:5.1f}% cum  {100 * tt / total:5.1f}% own  {nc:8d} calls  {where}")
    print("top by own time:")
    for ct, tt, nc, where in sorted(rows, key=lambda r: r[1], reverse=True)[:top]:
        print(f"  {100 * tt / total:5.1f}% own  {100 * ct / total:5.1f}% cum  {nc:8d} calls  {where}")
    return summary


def end_to_end(args, env: dict, tmp: Path, standin: StandinZendesk, customer: int, broker, sessions, port: int,
               procs: list[Proc]) -> dict:
    broker.flushdb()  # phase 1's tasks point at tickets that do not exist
    with sessions.begin() as s:
        s.execute(delete(InboxEvent))
    worker = Proc("celery worker", [str(BIN / "celery"), "-A", "bot.worker", "worker", "--loglevel=INFO",
                                    "--concurrency=2", "--without-mingle", "--without-gossip",
                                    "--without-heartbeat", "-n", f"bench-{uuid.uuid4().hex[:8]}@%h"],
                  env, tmp / "worker.log")
    procs.append(worker)
    wait_until("the Celery worker", lambda: " ready." in worker.log.read_text(errors="replace"), 30, worker)

    tickets = []
    for k in range(args.tickets):
        tid = standin.create_ticket(customer, f"Bench {k}", TEXTS[k % len(TEXTS)], tags=("bench",))
        tickets.append((tid, standin.comments[tid][-1]["id"]))
    standin.reset_counts()
    t0 = time.perf_counter()
    session = requests.Session()
    codes: dict[int, int] = {}
    for tid, cid in tickets:
        body, headers = delivery(tid, cid, customer, f"inv-{uuid.uuid4().hex}")
        code = session.post(f"http://127.0.0.1:{port}/webhooks/zendesk", data=body, headers=headers,
                            timeout=10).status_code
        codes[code] = codes.get(code, 0) + 1

    def finished() -> bool:
        with sessions() as s:
            states = s.execute(select(InboxEvent.status, func.count()).group_by(InboxEvent.status)).all()
        done = sum(n for st, n in states if st in FINAL)
        return done >= codes.get(202, 0)

    wait_until(f"{args.tickets} tickets processed", finished, 120, worker)
    elapsed = time.perf_counter() - t0
    time.sleep(0.5)
    with standin.lock:
        calls = list(standin.calls)
    by_kind: dict[str, int] = {}
    for method, path in calls:
        kind = f"{method} " + re.sub(r"/\d+(?=/|\.json|$)", "/{id}", path)
        by_kind[kind] = by_kind.get(kind, 0) + 1
    with sessions() as s:
        states = dict(s.execute(select(InboxEvent.status, func.count()).group_by(InboxEvent.status)).all())
    puts = sum(n for k, n in by_kind.items() if k.startswith("PUT /api/v2/tickets/"))
    on_tickets = sum(n for k, n in by_kind.items() if " /api/v2/tickets/" in k)
    result = {"tickets": args.tickets, "webhook_answers": codes, "inbox": states, "zendesk_calls": len(calls),
              "calls_per_ticket": len(calls) / args.tickets, "ticket_calls_per_ticket": on_tickets / args.tickets,
              "puts": puts, "calls_by_kind": by_kind, "seconds": elapsed, "tickets_per_s": args.tickets / elapsed}
    print(f"end to end: {args.tickets} tickets processed in {elapsed:.1f} s by a 2-process Celery worker "
          f"(inbox {states}, {puts} PUTs)")
    print(f"zendesk API calls per processed ticket: {result['calls_per_ticket']:.2f}  (target <= 3; "
          f"{result['ticket_calls_per_ticket']:.2f} on the ticket itself; {len(calls)} calls: {by_kind})")
    return result


if __name__ == "__main__":
    sys.exit(main())
