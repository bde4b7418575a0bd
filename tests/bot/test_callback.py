"""The WeChat callback end to end: signed HTTP in, dispatcher, reply out (real uvicorn,
real HTTP, a fake WeChat API for pushes; Redis variants against the real server)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.dispatcher import Router
from bot.handlers import build_basic_router
from bot.middlewares.errors import ERROR_REPLY
from bot.wechat.messages import IncomingMessage
from bot.wechat.security import sha1_signature
from policies import messages as msg
from policies.messages import WELCOME
from tests.bot.messages import counting_router
from tests.bot.wechat_harness import AES_KEY, TOKEN, running_app
from tests.conftest import REDIS_TEST_URL, require_server

SHARED = Path(__file__).resolve().parents[1] / "data" / "shared" / "wechat_vectors"


@pytest.fixture(params=["memory", "redis"])
def state_backend(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Run the test on the embedded default and on the real Redis."""
    if request.param == "memory":
        return {}
    require_server("Redis", "127.0.0.1", 6379)
    import redis

    redis.Redis.from_url(REDIS_TEST_URL).flushdb()
    return {"REDIS_URL": REDIS_TEST_URL}


# -- URL verification --------------------------------------------------------------------


def test_url_verification_plain(tmp_path: Path) -> None:
    with running_app(tmp_path) as app:
        ts, nonce = str(int(time.time())), "n0nce"
        params = {
            "timestamp": ts,
            "nonce": nonce,
            "echostr": "hello-echo",
            "signature": sha1_signature(TOKEN, ts, nonce),
        }
        ok = httpx.get(app.url + "/wechat", params=params)
        assert (ok.status_code, ok.text) == (200, "hello-echo")
        bad = httpx.get(app.url + "/wechat", params={**params, "signature": "0" * 40})
        assert bad.status_code == 403
        old = str(int(time.time()) - 3600)
        stale = httpx.get(
            app.url + "/wechat",
            params={**params, "timestamp": old, "signature": sha1_signature(TOKEN, old, nonce)},
        )
        assert stale.status_code == 403


def test_url_verification_safe_mode_vector(tmp_path: Path) -> None:
    path = SHARED / "crypto" / "vectors_verified.json"
    vector = next(v for v in json.loads(path.read_text()) if v["id"] == "wechatpy_verify_url_ok")
    with running_app(
        tmp_path,
        clock=lambda: float(vector["timestamp"]),
        WECHAT_TOKEN=vector["token"],
        WECHAT_ENCODING_AES_KEY=vector["encoding_aes_key"],
        WECHAT_APP_ID=vector["appid"],
    ) as app:
        params = {k: vector[k] for k in ("msg_signature", "timestamp", "nonce", "echostr")}
        ok = httpx.get(app.url + "/wechat", params=params)
        assert (ok.status_code, ok.text) == (200, vector["verification"]["decrypted_echostr"])
        bad = httpx.get(app.url + "/wechat", params={**params, "nonce": "1"})
        assert bad.status_code == 403


# -- messages ----------------------------------------------------------------------------


def test_text_message_plain_mode_gets_passive_reply(tmp_path: Path) -> None:
    with running_app(tmp_path) as app:
        response = app.post(app.signer.text("o-res-1", "你好"))
        assert response.headers["content-type"].startswith("application/xml")
        reply = app.reply(response)
        assert reply is not None and "反映问题" in reply
        assert "<ToUserName><![CDATA[o-res-1]]></ToUserName>" in response.text


def test_safe_mode_round_trip_and_plaintext_refused_without_key(tmp_path: Path) -> None:
    router, _ = counting_router()
    with running_app(tmp_path, routers=[router], WECHAT_ENCODING_AES_KEY=AES_KEY) as app:
        response = app.post(app.signer.text("o-res-1", "路灯坏了"))
        assert "<Encrypt>" in response.text and "路灯" not in response.text
        assert app.reply(response) == "第1次处理：路灯坏了"
    with running_app(tmp_path / "plain", routers=[counting_router()[0]]) as app:
        # an encrypted message to an account without an AES key cannot be authenticated
        from bot.wechat.security import AESEnvelope
        from bot.wechat.simulator import CallbackSigner

        signer = CallbackSigner(
            TOKEN, envelope=AESEnvelope(TOKEN, AES_KEY, app.settings.wechat.app_id or "")
        )
        assert app.post(signer.text("o-res-1", "x")).status_code == 403


def test_tencent_compatible_mode_sample_through_http(tmp_path: Path) -> None:
    path = SHARED / "crypto" / "vectors_verified.json"
    vector = next(
        v for v in json.loads(path.read_text()) if v["id"] == "tencent_python_sample_decrypt"
    )
    router, calls = counting_router()
    with running_app(
        tmp_path,
        routers=[router],
        clock=lambda: float(vector["timestamp"]),
        WECHAT_TOKEN=vector["token"],
        WECHAT_ENCODING_AES_KEY=vector["encoding_aes_key"],
        WECHAT_APP_ID=vector["appid"],
    ) as app:
        params = {
            "msg_signature": vector["msg_signature"],
            "timestamp": vector["timestamp"],
            "nonce": vector["nonce"],
            "encrypt_type": "aes",
        }
        response = httpx.post(app.url + "/wechat", params=params, content=vector["post_body"])
        assert response.status_code == 200
        assert calls == [vector["expected_fields"]["Content"]]
        from bot.wechat.security import AESEnvelope
        from bot.wechat.simulator import reply_text

        envelope = AESEnvelope(vector["token"], vector["encoding_aes_key"], vector["appid"])
        assert reply_text(response.text, envelope) == "第1次处理：abcdteT"


def _published_messages() -> list[Path]:
    folder = SHARED / "wechatpy_messages"
    return sorted(folder.glob("*.xml"))


def test_every_published_message_type_is_answered_without_error(tmp_path: Path) -> None:
    files = _published_messages()
    assert files, "the packaged WeChat vectors are missing"
    with running_app(tmp_path) as app:
        for path in files:
            # the published samples carry old CreateTimes; sign them as they are, now
            request = app.signer.sign(path.read_text())
            response = app.post(request)
            assert response.status_code == 200, (path.name, response.text)
        unknown = app.post(
            app.signer.sign(
                (
                    SHARED / "wechatpy_messages" / "test_parser__test_parse_unknown_message.xml"
                ).read_text()
            )
        )
        assert "不支持" in (app.reply(unknown) or "")


def test_voice_location_image_and_events(tmp_path: Path) -> None:
    with running_app(tmp_path) as app:
        assert "反映问题" in (app.reply(app.post(app.signer.voice("o-1", "你好"))) or "")
        location = app.reply(app.post(app.signer.location("o-1", "幸福路88号", 39.9, 116.4)))
        assert location is not None and "幸福路88号" in location
        image = app.reply(app.post(app.signer.image("o-1", "http://img/1.jpg")))
        assert image is not None and "照片" in image
        assert app.reply(app.post(app.signer.event("o-1", "subscribe"))) == WELCOME
        assert app.reply(app.post(app.signer.event("o-1", "unsubscribe"))) is None
        assert app.reply(app.post(app.signer.event("o-1", "VIEW", "https://x"))) is None
        # What the conversation cannot use gets the basic router's polite answers.
        assert app.reply(app.post(app.signer.voice("o-1", ""))) == msg.VOICE_NOT_RECOGNISED
        for kind, expected in (("video", msg.VIDEO_RECEIVED), ("link", msg.LINK_RECEIVED)):
            xml = app.signer.message_xml("o-1", kind, int(time.time()), MsgId=f"9{len(kind)}")
            assert app.reply(app.post(app.signer.sign(xml))) == expected


# -- hostile and broken input -------------------------------------------------------------


def test_hostile_input_is_refused_and_server_stays_healthy(tmp_path: Path) -> None:
    router, calls = counting_router()
    with running_app(tmp_path, routers=[router]) as app:
        good = app.signer.text("o-1", "hi")
        cases: list[tuple[dict[str, str], bytes, int]] = [
            ({**good.params, "signature": "f" * 40}, good.body, 403),
            ({k: v for k, v in good.params.items() if k != "signature"}, good.body, 403),
            (good.params, b"<xml><Content>unclosed", 400),
            (good.params, b"\x00\xff garbage", 400),
            (
                good.params,
                b'<!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]><xml>&x;</xml>',
                400,
            ),
            (
                good.params,
                b'<!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
                b"<xml><Content>&b;</Content></xml>",
                400,
            ),
            (good.params, b"<xml>" + b"<A>x</A>" * 10000 + b"</xml>", 413),
        ]
        old_ts = str(int(time.time()) - 301)
        cases.append(
            (
                {
                    **good.params,
                    "timestamp": old_ts,
                    "signature": sha1_signature(TOKEN, old_ts, good.params["nonce"]),
                },
                good.body,
                403,
            )
        )
        for params, body, status in cases:
            response = httpx.post(app.url + "/wechat", params=params, content=body)
            assert response.status_code == status, (status, response.text)

        # a streamed (chunked) oversize body is cut off too
        def chunks() -> Any:
            for _ in range(100):
                yield b"<xml>" + b"x" * 1024

        streamed = httpx.post(app.url + "/wechat", params=good.params, content=chunks())
        assert streamed.status_code == 413
        assert calls == []
        assert httpx.get(app.url + "/healthz").json()["ok"] is True
        assert app.reply(app.post(good)) == "第1次处理：hi"


# -- retries, ordering, deadline ----------------------------------------------------------


def test_retry_is_processed_once_and_gets_the_same_answer(
    tmp_path: Path, state_backend: dict[str, Any]
) -> None:
    router, calls = counting_router()
    with running_app(tmp_path, routers=[router], **state_backend) as app:
        request = app.signer.text("o-1", "井盖丢了", msg_id="9001")
        first = app.reply(app.post(request))
        again = app.reply(app.post(request))
        # WeChat re-signs a retry with a new nonce; the MsgId is what stays
        resigned = app.reply(app.post(app.signer.text("o-1", "井盖丢了", msg_id="9001")))
        assert first == again == resigned == "第1次处理：井盖丢了"
        assert calls == ["井盖丢了"]


async def test_concurrent_retries_processed_once(
    tmp_path: Path, state_backend: dict[str, Any]
) -> None:
    router, calls = counting_router(delay=0.2)
    with running_app(tmp_path, routers=[router], **state_backend) as app:
        async with httpx.AsyncClient(timeout=10) as client:
            requests = [app.signer.text("o-1", "路灯不亮", msg_id="777") for _ in range(4)]
            responses = await asyncio.gather(*(app.apost(client, r) for r in requests))
        assert {app.reply(r) for r in responses} == {"第1次处理：路灯不亮"}
        assert calls == ["路灯不亮"]


def test_event_retry_deduplicated_by_sender_and_create_time(tmp_path: Path) -> None:
    router = Router(name="events")
    seen: list[int] = []

    @router.event()
    def on_event(message: IncomingMessage) -> str:
        seen.append(message.create_time)
        return "欢迎"

    with running_app(tmp_path, routers=[router]) as app:
        request = app.signer.event("o-1", "subscribe", create_time=1_700_000_000)
        assert app.reply(app.post(request)) == app.reply(app.post(request)) == "欢迎"
        app.post(app.signer.event("o-1", "subscribe", create_time=1_700_000_001))
        assert seen == [1_700_000_000, 1_700_000_001]


async def test_messages_of_one_resident_handled_one_at_a_time_in_order(
    tmp_path: Path, state_backend: dict[str, Any]
) -> None:
    router = Router(name="ordered")
    active: dict[str, int] = {}
    peak: dict[str, int] = {}
    order: list[str] = []

    @router.text()
    async def slow(message: IncomingMessage) -> str:
        active[message.openid] = active.get(message.openid, 0) + 1
        peak[message.openid] = max(peak.get(message.openid, 0), active[message.openid])
        order.append(message.text or "")
        await asyncio.sleep(0.05)
        active[message.openid] -= 1
        return "ok"

    with running_app(tmp_path, routers=[router], **state_backend) as app:
        async with httpx.AsyncClient(timeout=10) as client:
            # open the connections first, so connecting cannot reorder the sends below
            await asyncio.gather(*(client.get(app.url + "/healthz") for _ in range(10)))
            tasks = []
            for i in range(5):
                for resident in ("A", "B"):
                    request = app.signer.text(f"o-{resident}", f"{resident}{i}")
                    tasks.append(asyncio.create_task(app.apost(client, request)))
                await asyncio.sleep(0.03)  # sent in this order, as WeChat would
            await asyncio.gather(*tasks)
    assert peak == {"o-A": 1, "o-B": 1}
    assert [t for t in order if t.startswith("A")] == [f"A{i}" for i in range(5)]


def test_two_processes_sharing_redis_serialise_a_resident_and_dedup_retries(
    tmp_path: Path,
) -> None:
    require_server("Redis", "127.0.0.1", 6379)
    import redis

    redis.Redis.from_url(REDIS_TEST_URL).flushdb()
    router_a, calls_a = counting_router(delay=0.1)
    router_b, calls_b = counting_router(delay=0.1)
    with (
        running_app(tmp_path / "a", routers=[router_a], REDIS_URL=REDIS_TEST_URL) as app_a,
        running_app(
            tmp_path / "b", routers=[router_b], REDIS_URL=REDIS_TEST_URL, fake=app_a.fake
        ) as app_b,
    ):

        async def scenario() -> list[str | None]:
            async with httpx.AsyncClient(timeout=10) as client:
                request = app_a.signer.text("o-shared", "电梯坏了", msg_id="5150")
                responses = await asyncio.gather(
                    app_a.apost(client, request),
                    app_b.apost(client, request),
                    app_a.apost(client, request),
                    app_b.apost(client, request),
                )
            return [app_a.reply(r) for r in responses]

        replies = asyncio.run(scenario())
    assert len(calls_a) + len(calls_b) == 1
    assert len(set(replies)) == 1 and replies[0] is not None


def test_late_reply_answers_success_then_pushes_once(
    tmp_path: Path, state_backend: dict[str, Any]
) -> None:
    router, calls = counting_router(delay=0.8)
    with running_app(tmp_path, routers=[router], INTAKE_REPLY_DEADLINE=0.3, **state_backend) as app:
        request = app.signer.text("o-slow", "水压很低", msg_id="4242")
        first = app.post(request)
        assert first.text == "success"
        retry = app.post(request)  # WeChat would not retry after success; be safe anyway
        assert retry.text == "success"
        deadline = time.monotonic() + 5
        while not app.fake.custom_messages and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.3)
        after = app.post(request)
        assert after.text == "success"
        pushed = [c.json for c in app.fake.custom_messages]
        assert pushed == [
            {"touser": "o-slow", "msgtype": "text", "text": {"content": "第1次处理：水压很低"}}
        ]
        assert calls == ["水压很低"]


def test_handler_error_gets_a_polite_apology(tmp_path: Path) -> None:
    router = Router(name="broken")

    @router.text()
    def broken(message: IncomingMessage) -> str:
        raise RuntimeError("13812345678 leaked?")

    with running_app(tmp_path, routers=[router, build_basic_router()]) as app:
        assert app.reply(app.post(app.signer.text("o-1", "你好"))) == ERROR_REPLY


def test_healthz_reports_storage(tmp_path: Path, state_backend: dict[str, Any]) -> None:
    with running_app(tmp_path, **state_backend) as app:
        health = httpx.get(app.url + "/healthz")
        assert health.status_code == 200
        assert health.json() == {"ok": True, "checks": {"state": True, "database": True}}
