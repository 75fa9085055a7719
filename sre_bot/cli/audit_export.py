"""`sre-bot audit export --since 7d [--until TIME] [--format jsonl|csv]`: the audit trail, oldest first, on stdout.

One JSON object per line (jsonl): id, at (RFC 3339 UTC), kind, actor, request_id, summary, data. Reads the store
named by SRE_BOT_DB_URL, in batches, so a long history streams without being held in memory.
"""

from __future__ import annotations

import csv
import json
import sys
from datetime import datetime
from typing import TextIO

from ..clock import system_clock
from ..errors import UsageError
from ..settings import Settings
from ..store.store import open_store
from ..windows import parse_duration, parse_time

__all__ = ["export_audit"]


def _since(text: str, now: datetime) -> datetime:
    try:
        return now - parse_duration(text)
    except UsageError:
        return parse_time(text, now=now)


async def export_audit(settings: Settings, *, since: str, until: str | None = None, fmt: str = "jsonl",
                       out: TextIO = sys.stdout) -> int:
    """Exit 0 after writing every record in [since, until); a bad time raises UsageError (exit 2)."""
    now = system_clock()
    start = _since(since, now)
    end = parse_time(until, now=now) if until else None
    if end is not None and end <= start:
        raise UsageError(f"--until ({end:%Y-%m-%d %H:%M}) must be after --since ({start:%Y-%m-%d %H:%M})")
    store = await open_store(settings.db_url)
    writer = csv.writer(out) if fmt == "csv" else None
    if writer:
        writer.writerow(["id", "at", "kind", "actor", "request_id", "summary", "data"])
    count = 0
    try:
        async for r in store.since(start):
            if end is not None and r.at >= end:
                break
            row = {"id": r.id, "at": r.at.isoformat().replace("+00:00", "Z"), "kind": r.kind, "actor": r.actor,
                   "request_id": r.request_id, "summary": r.summary, "data": r.data}
            if writer:
                writer.writerow([*list(row.values())[:-1], json.dumps(r.data, ensure_ascii=False, sort_keys=True)])
            else:
                out.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")
            count += 1
    finally:
        await store.close()
    print(f"sre-bot: exported {count} audit record(s) since {start:%Y-%m-%d %H:%M:%S} UTC from {store.where}",
          file=sys.stderr)
    return 0
