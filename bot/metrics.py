"""The Prometheus metrics, defined once so the web app and the worker count into the same series.

They live in a registry of their own, not the global default, so tests and the `bot` commands can import
this module without clashing with anything else that registers metrics.

Several processes: gunicorn runs two web workers and Celery forks its own children, each with its own
counters. Set PROMETHEUS_MULTIPROC_DIR (the same directory for web and worker on one host, emptied at
deploy) and every process writes its values there; `render()` then aggregates all of them, so /metrics shows
the worker's decisions and vendor calls too. Without it, /metrics shows only the answering web process's
counters plus the gauges it computes at scrape time. A gunicorn `child_exit` hook calling
`prometheus_client.multiprocess.mark_process_dead(worker.pid)` keeps dead workers' gauges out.
"""
from __future__ import annotations

import os

MULTIPROC_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or os.environ.get("prometheus_multiproc_dir")
if MULTIPROC_DIR:  # prometheus_client only checks the variable; a missing directory fails at first write
    os.makedirs(MULTIPROC_DIR, exist_ok=True)

from prometheus_client import (CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge,  # noqa: E402
                               Histogram, generate_latest)

REGISTRY = CollectorRegistry(auto_describe=True)

WEBHOOKS = Counter("bot_webhooks_total", "Webhook deliveries by vendor and answer",
                   ["vendor", "answer"], registry=REGISTRY)
QUEUE_DEPTH = Gauge("bot_queue_depth", "Events waiting: broker = tasks in the Celery queue, "
                    "inbox = inbox events queued or processing, parked = events given up on",
                    ["queue"], registry=REGISTRY, multiprocess_mode="livemostrecent")
DECISIONS = Counter("bot_decisions_total", "Decisions by action and mode (mode 'control' = outside rollout)",
                    ["action", "mode"], registry=REGISTRY)
VENDOR_API_CALLS = Counter("bot_vendor_api_calls_total", "Vendor API calls (HTTP attempts) by vendor and status",
                           ["vendor", "status"], registry=REGISTRY)
VENDOR_API_ERRORS = Counter("bot_vendor_api_errors_total", "Vendor API calls that failed, by vendor and status",
                            ["vendor", "status"], registry=REGISTRY)
DECISION_LATENCY = Histogram("bot_decision_seconds", "Time the brain takes for one decision",
                             registry=REGISTRY,
                             buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))


def record_vendor_call(vendor: str, method: str, status) -> None:
    """The adapters' `on_call` hook, once per HTTP attempt; status is the HTTP status or "timeout" /
    "connection". Anything but 2xx/3xx also counts as an error."""
    label = str(status)
    VENDOR_API_CALLS.labels(vendor, label).inc()
    if not (isinstance(status, int) and 200 <= status < 400):
        VENDOR_API_ERRORS.labels(vendor, label).inc()


def render() -> tuple[bytes, str]:
    """The exposition text and its content type, aggregated over processes in multiprocess mode."""
    if MULTIPROC_DIR:
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
