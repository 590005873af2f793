"""ISO-8601 UTC times as the spec writes them (`2026-09-01T10:00:00Z`)."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Optional


def parse_time(value: Optional[str]) -> Optional[datetime]:
    """An aware UTC datetime, or None for anything that is not an ISO-8601 time."""
    if not isinstance(value, str) or not value:
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc)


def iso(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)
