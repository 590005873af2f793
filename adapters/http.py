"""One HTTP client for every helpdesk vendor, so retries, time limits and call counting behave the same everywhere.

Vendors throttle (429 with Retry-After), fail briefly (5xx, dropped connections) and sometimes hang. A worker
that retries forever blocks its queue; one that never retries loses answers. So every call gets: connect and
read timeouts, at most `max_attempts` attempts, at most `max_total` seconds in all (sleeps included),
exponential backoff with full jitter, and the vendor's own Retry-After when it gives one. When the vendor asks
for a wait longer than what is left of the budget, we give up at once with a message that says so, instead of
sleeping past the deadline. Vendor SDK retry loops (zenpy sleeps on 429 without a cap) are not used.

`on_call(vendor, method, status)` is called once per attempt, so the web and worker code can export metrics and
count the API calls each ticket costs. `status` is the HTTP status, or "timeout" / "connection" when no answer
came back. Request and response bodies are never logged: they hold customer text and credentials.
"""
from __future__ import annotations

import email.utils
import logging
import random
import time
from typing import Any, Callable, Mapping, Optional, Union
from urllib.parse import urlsplit

import requests

from bot.errors import VendorFailure

log = logging.getLogger(__name__)

Status = Union[int, str]
OnCall = Callable[[str, str, Status], None]

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


class VendorError(VendorFailure):
    """A vendor call that did not succeed; the message names vendor, method, path and status, never a body."""

    def __init__(self, vendor: str, method: str, path: str, status: Optional[Status], reason: str,
                 payload: Any = None):
        super().__init__(f"{vendor} {method} {path}: {reason}")
        self.vendor = vendor
        self.method = method
        self.path = path
        self.status = status
        self.reason = reason
        self.payload = payload  # parsed JSON error object, for the adapter to read (never logged here)


class RetryBudgetExceeded(VendorError):
    """Gave up because the attempt cap or the time budget ran out; the last status is kept."""


class VendorHTTP:
    """A requests.Session bound to one vendor's base URL, with the retry policy described above."""

    def __init__(
        self,
        vendor: str,
        base_url: str,
        *,
        auth: Any = None,
        headers: Optional[Mapping[str, str]] = None,
        timeout: tuple[float, float] = (3.05, 15.0),
        max_attempts: int = 5,
        max_total: float = 60.0,
        backoff_base: float = 0.5,
        backoff_cap: float = 20.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        rng: Callable[[], float] = random.random,
        on_call: Optional[OnCall] = None,
        session: Optional[requests.Session] = None,
    ):
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.vendor = vendor
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.max_total = max_total
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.sleep = sleep
        self.clock = clock
        self.wall = wall
        self.rng = rng
        self.on_call = on_call
        self.calls = 0  # attempts made over this client's life; adapters diff it to count calls per ticket
        self.session = session or requests.Session()
        if auth is not None:
            self.session.auth = auth
        self.session.headers.update({"Accept": "application/json", "User-Agent": "supportbot/0.1"})
        if headers:
            self.session.headers.update(headers)

    def __repr__(self) -> str:  # never show the session (it holds the credentials)
        return f"VendorHTTP({self.vendor!r}, {self.base_url!r})"

    # -- URLs ---------------------------------------------------------------------------------------------

    def url(self, path_or_url: str) -> str:
        """Absolute URL for a path, re-rooting vendor-given absolute URLs (next_page links) on our base URL.

        Vendors return pagination links on their own host; following them as-is would bypass a configured
        sandbox or stand-in base URL (ZENDESK_URL and friends must hold for every call).
        """
        if path_or_url.startswith(("http://", "https://")):
            if path_or_url.startswith(self.base_url + "/") or path_or_url == self.base_url:
                return path_or_url
            parts = urlsplit(path_or_url)
            tail = parts.path + (f"?{parts.query}" if parts.query else "")
            return self.base_url + tail
        return self.base_url + "/" + path_or_url.lstrip("/")

    # -- calls ----------------------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Optional[Mapping[str, Any]] = None,
        json: Any = None,
        idempotent: Optional[bool] = None,
        max_total: Optional[float] = None,
    ) -> requests.Response:
        """One logical call, retried per the policy; returns the 2xx response or raises VendorError.

        A request that is not idempotent (POST, or a PUT the caller marks so) is retried only when it surely
        did not reach the vendor (connect timeout) or the vendor refused it unprocessed (429): retrying after
        a read timeout or a 5xx could apply it twice.
        """
        method = method.upper()
        if idempotent is None:
            idempotent = method in IDEMPOTENT_METHODS
        budget = self.max_total if max_total is None else max_total
        url = self.url(path)
        shown = _shown_path(url)
        started = self.clock()
        last_status: Optional[Status] = None
        for attempt in range(1, self.max_attempts + 1):
            delay: Optional[float] = None
            retry_after: Optional[float] = None
            try:
                self.calls += 1
                resp = self.session.request(method, url, params=params, json=json, timeout=self.timeout)
            except requests.exceptions.ConnectTimeout:
                last_status = "timeout"
                self._count(method, last_status)
            except requests.exceptions.Timeout:
                last_status = "timeout"
                self._count(method, last_status)
                if not idempotent:
                    raise VendorError(self.vendor, method, shown, last_status,
                                      "read timed out; not retried because the call may have been applied")
            except requests.exceptions.ConnectionError:
                last_status = "connection"
                self._count(method, last_status)
                if not idempotent:
                    raise VendorError(self.vendor, method, shown, last_status,
                                      "connection failed; not retried because the call may have been applied")
            else:
                last_status = resp.status_code
                self._count(method, last_status)
                if resp.status_code < 400:
                    return resp
                if resp.status_code not in RETRY_STATUSES or (not idempotent and resp.status_code != 429):
                    raise VendorError(self.vendor, method, shown, resp.status_code,
                                      f"HTTP {resp.status_code}", payload=_json_or_none(resp))
                retry_after = self._retry_after(resp.headers.get("Retry-After"))
            if attempt >= self.max_attempts:
                break
            elapsed = self.clock() - started
            remaining = budget - elapsed
            if retry_after is not None:
                if retry_after > remaining:
                    raise RetryBudgetExceeded(
                        self.vendor, method, shown, last_status,
                        f"HTTP {last_status} with Retry-After {retry_after:g}s, more than the {max(remaining, 0):.1f}s "
                        f"left of the {budget:g}s budget; giving up")
                delay = retry_after
            else:
                delay = self.rng() * min(self.backoff_cap, self.backoff_base * (2 ** (attempt - 1)))
                if delay > remaining:
                    break
            log.warning("%s %s %s: %s, retry %d/%d in %.2fs", self.vendor, method, shown, last_status,
                        attempt, self.max_attempts - 1, delay)
            self.sleep(delay)
        elapsed = self.clock() - started
        raise RetryBudgetExceeded(
            self.vendor, method, shown, last_status,
            f"gave up after {attempt} attempt(s) in {elapsed:.1f}s (cap {self.max_attempts} attempts, "
            f"{budget:g}s); last status {last_status}")

    def get_json(self, path: str, params: Optional[Mapping[str, Any]] = None, **kw: Any) -> Any:
        return _json(self.request("GET", path, params=params, **kw), self.vendor, path)

    def send_json(self, method: str, path: str, body: Any = None, **kw: Any) -> Any:
        resp = self.request(method, path, json=body, **kw)
        if resp.status_code == 204 or not resp.content:
            return None
        return _json(resp, self.vendor, path)

    # -- helpers --------------------------------------------------------------------------------------------

    def _count(self, method: str, status: Status) -> None:
        if self.on_call is not None:
            try:
                self.on_call(self.vendor, method, status)
            except Exception:  # a metrics bug must not break a vendor call
                log.exception("on_call hook failed")

    def _retry_after(self, value: Optional[str]) -> Optional[float]:
        """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date; None when absent or bad."""
        if value is None:
            return None
        value = value.strip()
        try:
            seconds = float(value)
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError, IndexError):
                return None
            if when is None:
                return None
            seconds = when.timestamp() - self.wall()
        if seconds != seconds:  # NaN
            return None
        return max(0.0, seconds)


def _shown_path(url: str) -> str:
    """Path without the query string: queries can carry cursors or search terms that have no place in logs."""
    return urlsplit(url).path


def _json_or_none(resp: requests.Response) -> Any:
    try:
        return resp.json()
    except ValueError:
        return None


def _json(resp: requests.Response, vendor: str, path: str) -> Any:
    try:
        return resp.json()
    except ValueError:
        raise VendorError(vendor, resp.request.method or "?", _shown_path(resp.url or path), resp.status_code,
                          "answer is not JSON") from None
