"""The profile's stage table puts a sample where its deepest known frame belongs: the
WeChat API's calls on aiohttp, answered in the event loop's callbacks with no frame of
ours in the stack, count as the WeChat client, not as the HTTP server at the root."""

from __future__ import annotations

from pathlib import Path

from benchmarks.profiling import stages

ROOT_FRAMES = "asyncio_run (uvicorn/_compat.py:30);Runner.run (asyncio/runners.py:118)"


def test_aiohttp_and_the_posts_module_count_as_the_wechat_client(tmp_path: Path) -> None:
    collapsed = tmp_path / "web.collapsed"
    collapsed.write_text(
        f"{ROOT_FRAMES};ResponseHandler.data_received (aiohttp/client_proto.py:280) 3\n"
        f"{ROOT_FRAMES};Posts.post (integrations/posts.py:84) 2\n"
        f"{ROOT_FRAMES};RequestResponseCycle.send (uvicorn/protocols/http/h.py:549) 4\n"
    )
    total, counts = stages(collapsed)
    assert total == 9
    assert counts["WeChat API client (HTTP out)"] == 5
    assert counts["HTTP server and routing (uvicorn, Starlette, FastAPI)"] == 4
