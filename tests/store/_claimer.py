"""A second OS process for the race tests: `python _claimer.py URL USER MODE ID...`.

MODE `race`: open the store, print "ready", wait for a line on stdin, claim every id concurrently, print the JSON
list of ids this process won, close. MODE `open`: print "ready", wait for a line, open the store (migrating a fresh
database), print "opened", close. MODE `crash`: claim every id, print "claimed", then die without finishing or
closing (os._exit), as a killed bot would.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import datetime, timezone

from sre_bot.store import open_store

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)


async def _go() -> None:
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)


async def main(url: str, user: str, mode: str, ids: list[str]) -> None:
    if mode == "open":
        await _go()
        await (await open_store(url)).close()
        print("opened", flush=True)
        return
    store = await open_store(url)
    if mode == "crash":
        for request_id in ids:
            assert await store.claim(request_id, user=user, user_name=user, now=NOW) is not None
        print("claimed", flush=True)
        os._exit(137)
    await _go()
    won = await asyncio.gather(*(store.claim(i, user=user, user_name=user, now=NOW) for i in ids))
    print(json.dumps([r.id for r in won if r is not None]), flush=True)
    await store.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]))
