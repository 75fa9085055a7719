"""`benchmarks.load`'s own parts: the slow variant's delaying proxy (a real child process in front of a real
server), the sandbox's `export` lines read back, and its flags refused when they make no sense."""

from __future__ import annotations

import gzip
import subprocess
import sys
import time

import httpx
import pytest
from aiohttp import web

from benchmarks.load import _unquoted, main
from tests.fakes import free_port

DELAY_S = 0.4


async def test_the_delay_proxy_holds_each_answer_and_passes_it_on_unchanged() -> None:
    """Every request through `_delay` is answered `seconds` later with the target's status, body (gzip included,
    as the Prometheus client asks for it) and content type; the query string reaches the target."""
    seen: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(f"{request.path} {request.query.get('query')}")
        body = gzip.compress(b'{"status":"success","data":{"result":[]}}')
        return web.Response(status=200 if request.path != "/missing" else 404, body=body,
                            headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    target_port, proxy_port = free_port(), free_port()
    await web.TCPSite(runner, "127.0.0.1", target_port).start()
    proxy = subprocess.Popen([sys.executable, "-m", "benchmarks.load", "_delay", str(proxy_port),
                              f"http://127.0.0.1:{target_port}", f"{DELAY_S:g}"], stdout=subprocess.PIPE)
    try:
        assert proxy.stdout is not None and b"ready" in proxy.stdout.readline()
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{proxy_port}") as client:
            started = time.monotonic()
            ok = await client.get("/api/v1/query", params={"query": 'up{job="x"}'})
            took = time.monotonic() - started
            missing = await client.get("/missing")
    finally:
        proxy.terminate()
        proxy.wait(10)
        await runner.cleanup()
    assert ok.status_code == 200 and ok.json() == {"status": "success", "data": {"result": []}}
    assert ok.headers["content-type"].startswith("application/json")
    assert missing.status_code == 404
    assert took >= DELAY_S
    assert seen[0] == '/api/v1/query up{job="x"}'


def test_sandbox_exports_are_read_whole() -> None:
    """A URL, a shell-quoted value and a bare JSON object (with a space) each come back as the value."""
    assert _unquoted("http://127.0.0.1:9990") == "http://127.0.0.1:9990"
    assert _unquoted("'{\"team\": \"key\"}'") == '{"team": "key"}'
    assert _unquoted('{"team": "key"}') == '{"team": "key"}'
    assert _unquoted("'unterminated") == "'unterminated"


@pytest.mark.parametrize("argv", [["--variants", "fast"], ["--slow", "0"], ["--variants", ""],
                                  ["--slow-backend", "tempo"], ["--store", "mysql"]])
def test_nonsense_flags_are_refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """A flag value the benchmark cannot run is refused with the usage error (exit 2) before anything starts."""
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert "error:" in capsys.readouterr().err
