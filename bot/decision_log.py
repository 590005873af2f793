"""Writing shadow-replay decisions into the decision log, the same table the worker writes and the launch
report reads, so the demo's report runs over exactly what production would record."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

from bot.config import Settings
from bot.db import DecisionLog, dispose_all, session_factory, upgrade
from bot.timeutil import parse_time, utcnow


def record_replay(db_path: Path, rows: Iterable[dict]) -> int:
    """Replace the demo database's log with these rows (a rerun of the demo starts from a clean log)."""
    db_path = Path(db_path).resolve()
    dispose_all()
    for suffix in ("", "-wal", "-shm"):
        Path(str(db_path) + suffix).unlink(missing_ok=True)
    settings = Settings(database_url=f"sqlite:///{db_path}")
    upgrade(settings)
    Session = session_factory(settings.database_url)
    n = 0
    with Session.begin() as s:
        for r in rows:
            s.add(DecisionLog(
                vendor=r.get("vendor") or "unknown", ticket_id=r["ticket_id"], trigger_comment_id="",
                decided_at=parse_time(r.get("created_at")) or utcnow(), action=r["action"], intent=r["intent"],
                confidence=r["confidence"], mode="shadow", control=False, decision_json=r,
                model_version=r["model_version"]))
            n += 1
    return n
