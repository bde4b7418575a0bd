"""The profile's stage table puts a sample where its deepest known frame belongs: the
API calls on aiohttp (WeChat's, an Open311 server's), answered in the event loop's
callbacks with no frame of ours in the stack, count as HTTP calls out, not as the HTTP
server at the root."""

from __future__ import annotations

from pathlib import Path

from benchmarks.profiling import stages

ROOT_FRAMES = "asyncio_run (uvicorn/_compat.py:30);Runner.run (asyncio/runners.py:118)"


def test_aiohttp_and_the_http_calls_module_count_as_calls_out(tmp_path: Path) -> None:
    collapsed = tmp_path / "web.collapsed"
    collapsed.write_text(
        f"{ROOT_FRAMES};ResponseHandler.data_received (aiohttp/client_proto.py:280) 3\n"
        f"{ROOT_FRAMES};HTTPCalls.call (integrations/http_calls.py:84) 2\n"
        f"{ROOT_FRAMES};RequestResponseCycle.send (uvicorn/protocols/http/h.py:549) 4\n"
    )
    total, counts = stages(collapsed)
    assert total == 9
    assert counts["HTTP calls out (WeChat API, Open311)"] == 5
    assert counts["HTTP server and routing (uvicorn, Starlette, FastAPI)"] == 4
