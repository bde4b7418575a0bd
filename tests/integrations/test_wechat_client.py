"""The WeChat API client against the fake WeChat server, over real HTTP on loopback."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest

from core.errors import IntakeError
from integrations.state import KeyValueStore, MemoryStore
from integrations.wechat import (
    DEFAULT_BASE_URL,
    CustomerServiceWindowClosed,
    RetryPolicy,
    WeChatAPIError,
    WeChatAuthError,
    WeChatClient,
    WeChatNetworkError,
)
from integrations.wechat.fake_server import FakeWeChatAPI
from privacy import mask_openid
from testing.servers import serve_wechat_fake

APP_ID = "wx_test_app_0001"
SECRET = "s3cret-never-in-logs-9f8e7d6c"
OPENID = "oWx1234567890abcdefghijklmn"
OTHER_OPENID = "oWx0987654321zyxwvutsrqponm"
STABLE = "/cgi-bin/stable_token"
CUSTOM = "/cgi-bin/message/custom/send"
TEMPLATE = "/cgi-bin/message/template/send"
FAST_RETRY = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05)

MakeClient = Callable[..., WeChatClient]


@pytest.fixture
def fake() -> FakeWeChatAPI:
    return FakeWeChatAPI(app_id=APP_ID, app_secret=SECRET)


@pytest.fixture
def base_url(fake: FakeWeChatAPI) -> Iterator[str]:
    with serve_wechat_fake(fake) as url:
        yield url


@pytest.fixture
async def make_client(base_url: str) -> AsyncIterator[MakeClient]:
    """Builds clients against the served fake (own MemoryStore unless ``store`` is given)."""
    clients: list[WeChatClient] = []

    def make(store: KeyValueStore | None = None, **options: Any) -> WeChatClient:
        options.setdefault("app_secret", SECRET)
        options.setdefault("retry", FAST_RETRY)
        options.setdefault("timeout", 5.0)
        client = WeChatClient(
            app_id=APP_ID, base_url=base_url, store=store or MemoryStore(), **options
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


def outcomes(fake: FakeWeChatAPI, path: str) -> list[str]:
    return [call.outcome for call in fake.calls_to(path)]


# -- access token --------------------------------------------------------------------------


async def test_token_fetched_once_from_stable_token_and_cached(
    fake: FakeWeChatAPI, make_client: MakeClient
) -> None:
    store = MemoryStore()
    client = make_client(store)
    for i in range(3):
        await client.send_text(OPENID, f"message {i}")

    assert len(fake.calls_to(STABLE)) == 1
    assert fake.calls_to("/cgi-bin/token") == []
    fetch = fake.token_fetches[0]
    assert fetch.method == "POST"
    assert fetch.json == {
        "grant_type": "client_credential",
        "appid": APP_ID,
        "secret": SECRET,
        "force_refresh": False,
    }
    token = fake.issued_tokens[0]
    assert [m.access_token for m in fake.custom_messages] == [token] * 3
    cached = await store.get(f"wechat:token:{APP_ID}")
    assert cached is not None
    assert json.loads(cached)["access_token"] == token


async def test_concurrent_sends_from_two_clients_fetch_one_token(
    fake: FakeWeChatAPI, make_client: MakeClient, kv_store: KeyValueStore
) -> None:
    # A slow token answer keeps every caller waiting on the miss at the same time.
    fake.fail_next(path=STABLE, delay=0.2)
    first, second = make_client(kv_store), make_client(kv_store)

    await asyncio.gather(
        *(
            (first if i % 2 else second).send_text(f"{OPENID}{i:02d}", f"hello {i}")
            for i in range(20)
        )
    )

    assert len(fake.calls_to(STABLE)) == 1
    assert len(fake.custom_messages) == 20
    assert {m.access_token for m in fake.custom_messages} == {fake.issued_tokens[0]}


async def test_token_refreshed_a_safety_margin_before_it_expires(
    fake: FakeWeChatAPI, make_client: MakeClient
) -> None:
    fake.expires_in = 2
    fake.renewal_window = 1.5
    client = make_client(token_safety_margin=1.0)  # cached for 2 - 1 = 1 s

    started = time.monotonic()
    await client.send_text(OPENID, "one")
    await asyncio.sleep(0.3)
    await client.send_text(OPENID, "two")
    assert len(fake.token_fetches) == 1

    await asyncio.sleep(max(0.0, 1.2 - (time.monotonic() - started)))
    await client.send_text(OPENID, "three")
    elapsed = time.monotonic() - started

    assert elapsed < 2, "the test itself ran too slowly to show an early refresh"
    assert len(fake.token_fetches) == 2
    assert fake.token_fetches[1].json["force_refresh"] is False
    old, new = fake.issued_tokens
    assert [m.access_token for m in fake.custom_messages] == [old, old, new]
    assert set(outcomes(fake, CUSTOM)) == {"ok"}  # never used an expired token


async def test_rejected_token_is_force_refreshed_and_the_call_retried(
    fake: FakeWeChatAPI, make_client: MakeClient
) -> None:
    client = make_client()
    await client.send_text(OPENID, "warm up")
    fake.invalidate_tokens()

    await client.send_text(OPENID, "after invalidation")

    assert [f.json["force_refresh"] for f in fake.token_fetches] == [False, True]
    assert outcomes(fake, CUSTOM) == ["ok", "errcode 40001", "ok"]
    old, new = fake.issued_tokens
    assert fake.custom_messages[-1].access_token == new != old


@pytest.mark.parametrize("errcode", [40001, 40014, 42001])
async def test_each_token_errcode_triggers_a_refresh(
    fake: FakeWeChatAPI, make_client: MakeClient, errcode: int
) -> None:
    client = make_client()
    fake.fail_next(path=CUSTOM, errcode=errcode)

    await client.send_text(OPENID, "hi")

    assert [f.json["force_refresh"] for f in fake.token_fetches] == [False, True]
    assert len(fake.custom_messages) == 1


async def test_concurrent_rejections_cause_one_refresh(
    fake: FakeWeChatAPI, make_client: MakeClient, kv_store: KeyValueStore
) -> None:
    first, second = make_client(kv_store), make_client(kv_store)
    await first.send_text(OPENID, "warm up")
    fake.invalidate_tokens()

    await asyncio.gather(
        *((first if i % 2 else second).send_text(OPENID, f"retry {i}") for i in range(10))
    )

    assert [f.json["force_refresh"] for f in fake.token_fetches] == [False, True]
    assert len(fake.custom_messages) == 11
    assert fake.custom_messages[-1].access_token == fake.issued_tokens[-1]


async def test_token_still_rejected_after_refresh_raises(
    fake: FakeWeChatAPI, make_client: MakeClient
) -> None:
    client = make_client()
    fake.fail_next(5, path=CUSTOM, errcode=40001)

    with pytest.raises(WeChatAPIError) as caught:
        await client.send_text(OPENID, "hi")

    assert caught.value.errcode == 40001
    assert len(fake.calls_to(CUSTOM)) == 2  # the call, then one retry after one refresh
    assert len(fake.token_fetches) == 2


@pytest.mark.parametrize(
    ("secret", "app_id", "errcode"),
    [("wrong-secret", APP_ID, 40125), (SECRET, "wx_unknown", 40013)],
)
async def test_bad_credentials_raise_auth_error_without_retry(
    fake: FakeWeChatAPI, base_url: str, secret: str, app_id: str, errcode: int
) -> None:
    async with WeChatClient(
        app_id=app_id, app_secret=secret, base_url=base_url, store=MemoryStore(), retry=FAST_RETRY
    ) as client:
        with pytest.raises(WeChatAuthError) as caught:
            await client.send_text(OPENID, "hi")

    assert caught.value.errcode == errcode
    assert isinstance(caught.value, IntakeError)
    assert len(fake.calls_to(STABLE)) == 1
    assert fake.calls_to(CUSTOM) == []


# -- retries -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fault",
    [{"errcode": -1}, {"status": 500}, {"status": 503}, {"drop": True}],
    ids=["errcode-1", "http500", "http503", "dropped"],
)
async def test_transient_failures_are_retried(
    fake: FakeWeChatAPI, make_client: MakeClient, fault: dict[str, Any]
) -> None:
    client = make_client()
    fake.fail_next(2, path=CUSTOM, **fault)

    await client.send_text(OPENID, "hi")

    assert len(fake.calls_to(CUSTOM)) == 3
    assert len(fake.custom_messages) == 1


async def test_transient_failure_of_the_token_fetch_is_retried(
    fake: FakeWeChatAPI, make_client: MakeClient
) -> None:
    client = make_client()
    fake.fail_next(path=STABLE, errcode=-1)
    fake.fail_next(path=STABLE, status=502)

    await client.send_text(OPENID, "hi")

    assert outcomes(fake, STABLE) == ["errcode -1", "http 502", "ok"]
    assert len(fake.custom_messages) == 1


@pytest.mark.parametrize(
    ("fault", "error", "errcode", "status"),
    [
        ({"errcode": -1}, WeChatAPIError, -1, None),
        ({"status": 500}, WeChatNetworkError, None, 500),
        ({"drop": True}, WeChatNetworkError, None, None),
    ],
    ids=["errcode-1", "http500", "dropped"],
)
async def test_persistent_failure_raises_typed_error_after_configured_attempts(
    fake: FakeWeChatAPI,
    make_client: MakeClient,
    fault: dict[str, Any],
    error: type[Exception],
    errcode: int | None,
    status: int | None,
) -> None:
    client = make_client(retry=RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.02))
    fake.fail_next(10, path=CUSTOM, **fault)

    with pytest.raises(error) as caught:
        await client.send_text(OPENID, "hi")

    assert len(fake.calls_to(CUSTOM)) == 4
    assert fake.custom_messages == []
    if errcode is not None:
        assert isinstance(caught.value, WeChatAPIError)
        assert caught.value.errcode == errcode
    if isinstance(caught.value, WeChatNetworkError):
        assert caught.value.status_code == status


@pytest.mark.parametrize(
    ("fault", "error"),
    [({"errcode": 45009}, WeChatAPIError), ({"status": 404}, WeChatNetworkError)],
    ids=["errcode45009", "http404"],
)
async def test_other_failures_are_not_retried(
    fake: FakeWeChatAPI, make_client: MakeClient, fault: dict[str, Any], error: type[Exception]
) -> None:
    client = make_client()
    fake.fail_next(5, path=CUSTOM, **fault)

    with pytest.raises(error):
        await client.send_text(OPENID, "hi")

    assert len(fake.calls_to(CUSTOM)) == 1


async def test_timeout_raises_network_error(fake: FakeWeChatAPI, make_client: MakeClient) -> None:
    client = make_client(timeout=httpx.Timeout(0.2), retry=RetryPolicy(attempts=2, base_delay=0.01))
    await client.send_text(OPENID, "warm up")
    fake.fail_next(2, path=CUSTOM, delay=1.0)

    started = time.monotonic()
    with pytest.raises(WeChatNetworkError) as caught:
        await client.send_text(OPENID, "slow")

    assert time.monotonic() - started < 0.9  # gave up on our timeout, not the server's pace
    assert caught.value.in_doubt  # the request went out; only the answer was late
    assert len(fake.calls_to(CUSTOM)) == 3  # warm-up + two timed-out attempts


async def test_timeout_then_success(fake: FakeWeChatAPI, make_client: MakeClient) -> None:
    client = make_client(timeout=httpx.Timeout(0.2))
    await client.send_text(OPENID, "warm up")
    fake.fail_next(path=CUSTOM, delay=1.0)

    await client.send_text(OPENID, "slow once")

    assert [m.json["text"]["content"] for m in fake.custom_messages][-1] == "slow once"


async def test_connection_refused_raises_network_error() -> None:
    with serve_wechat_fake(FakeWeChatAPI()) as url:
        pass  # the port is free again once the server stopped
    async with WeChatClient(
        app_id=APP_ID, app_secret=SECRET, base_url=url, store=MemoryStore(), retry=FAST_RETRY
    ) as client:
        with pytest.raises(WeChatNetworkError) as caught:
            await client.send_text(OPENID, "hi")
    # Nothing reached WeChat: a push may go out again without doubt.
    assert not caught.value.in_doubt


# -- messages ------------------------------------------------------------------------------


async def test_send_text_request_shape(fake: FakeWeChatAPI, make_client: MakeClient) -> None:
    client = make_client()
    await client.send_text(OPENID, "您好，已收到您的诉求")

    (message,) = fake.custom_messages
    assert message.method == "POST"
    assert message.json == {
        "touser": OPENID,
        "msgtype": "text",
        "text": {"content": "您好，已收到您的诉求"},
    }
    # Raw UTF-8, not \\u escapes: WeChat shows escapes literally in some places.
    assert "您好".encode() in message.body


@pytest.mark.parametrize(
    ("setup", "errcode"),
    [("window", 45015), ("quota", 45047)],
)
async def test_closed_customer_service_window(
    fake: FakeWeChatAPI, make_client: MakeClient, setup: str, errcode: int
) -> None:
    client = make_client()
    if setup == "window":
        fake.window_closed.add(OPENID)
    else:
        fake.custom_quota = 1
        await client.send_text(OPENID, "within quota")

    with pytest.raises(CustomerServiceWindowClosed) as caught:
        await client.send_text(OPENID, "too late")

    assert caught.value.errcode == errcode
    assert isinstance(caught.value, WeChatAPIError)
    assert outcomes(fake, CUSTOM)[-1] == f"errcode {errcode}"
    assert len(fake.calls_to(CUSTOM)) == (1 if setup == "window" else 2)  # not retried
    await client.send_text(OTHER_OPENID, "others unaffected")


async def test_send_template_request_shape_and_msgid(
    fake: FakeWeChatAPI, make_client: MakeClient
) -> None:
    fake.template_ids = {"TPL_CASE_UPDATE"}
    client = make_client()
    data = {"thing1": "东城区 路灯不亮", "time2": "2024-05-01 10:00"}

    msgid = await client.send_template(
        OPENID, "TPL_CASE_UPDATE", data, url="https://intake.example.gov.cn/case/42"
    )
    second = await client.send_template(OPENID, "TPL_CASE_UPDATE", {"thing1": "已办结"})

    first_call, second_call = fake.template_messages
    assert first_call.json == {
        "touser": OPENID,
        "template_id": "TPL_CASE_UPDATE",
        "url": "https://intake.example.gov.cn/case/42",
        "data": {
            "thing1": {"value": "东城区 路灯不亮"},
            "time2": {"value": "2024-05-01 10:00"},
        },
    }
    assert "url" not in second_call.json
    assert "东城区".encode() in first_call.body
    assert isinstance(msgid, int)
    assert second == msgid + 1


async def test_unknown_template_raises_api_error(
    fake: FakeWeChatAPI, make_client: MakeClient
) -> None:
    fake.template_ids = {"TPL_CASE_UPDATE"}
    client = make_client()

    with pytest.raises(WeChatAPIError) as caught:
        await client.send_template(OPENID, "TPL_NOPE", {"thing1": "x"})

    assert caught.value.errcode == 40037
    assert not isinstance(caught.value, CustomerServiceWindowClosed)


# -- logging and secrets -------------------------------------------------------------------


async def test_secret_token_and_openid_never_logged(
    fake: FakeWeChatAPI,
    make_client: MakeClient,
    base_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    client = make_client(timeout=httpx.Timeout(0.2))
    errors: list[Exception] = []

    await client.send_text(OPENID, "hello")
    fake.invalidate_tokens()
    await client.send_text(OPENID, "after refresh")
    fake.fail_next(path=CUSTOM, errcode=-1)
    await client.send_text(OPENID, "after busy")
    fake.fail_next(3, path=CUSTOM, delay=0.5)
    with pytest.raises(WeChatNetworkError) as timed_out:
        await client.send_text(OPENID, "timed out")
    errors.append(timed_out.value)
    fake.window_closed.add(OPENID)
    with pytest.raises(CustomerServiceWindowClosed) as closed:
        await client.send_text(OPENID, "closed")
    errors.append(closed.value)
    wrong = make_client(app_secret=SECRET + "-wrong")
    with pytest.raises(WeChatAuthError) as refused:
        await wrong.send_text(OPENID, "hi")
    errors.append(refused.value)

    text = caplog.text
    # Request lines, where the HTTP layer logs them (httpx, injected), show it redacted.
    assert "access_token=" not in text.replace("access_token=***", "")
    assert "retry" in text
    assert mask_openid(OPENID) in text
    assert SECRET not in text
    assert OPENID not in text
    assert len(fake.issued_tokens) >= 2
    for token in fake.issued_tokens:
        assert token not in text
    for shown in [*map(str, errors), *map(repr, errors), repr(client)]:
        assert SECRET not in shown
        assert all(token not in shown for token in fake.issued_tokens)


def test_mask_openid_keeps_first_and_last_four() -> None:
    assert mask_openid("oWx1234567890abcd") == "oWx1***abcd"
    assert mask_openid("short") == "***"


# -- configuration and lifecycle -----------------------------------------------------------


def test_retry_policy_backs_off_exponentially_with_bounded_jitter() -> None:
    policy = RetryPolicy(attempts=5, base_delay=0.1, max_delay=0.5, jitter=0.2)
    for retry, nominal in [(1, 0.1), (2, 0.2), (3, 0.4), (4, 0.5), (9, 0.5)]:
        for _ in range(50):
            assert nominal * 0.8 <= policy.delay(retry) <= nominal * 1.2
    assert RetryPolicy(base_delay=0.1, jitter=0).delay(3) == pytest.approx(0.4)
    with pytest.raises(ValueError):
        RetryPolicy(attempts=0)
    with pytest.raises(ValueError):
        RetryPolicy(jitter=2)


async def test_base_url_is_configurable_and_trailing_slash_tolerated(
    fake: FakeWeChatAPI, base_url: str
) -> None:
    assert DEFAULT_BASE_URL == "https://api.weixin.qq.com"
    async with WeChatClient(
        app_id=APP_ID, app_secret=SECRET, base_url=base_url + "/", store=MemoryStore()
    ) as client:
        await client.send_text(OPENID, "hi")
    assert len(fake.custom_messages) == 1
    with pytest.raises(ValueError):
        WeChatClient(
            app_id=APP_ID, app_secret=SECRET, base_url="api.weixin.qq.com", store=MemoryStore()
        )


async def test_injected_http_client_is_used_and_left_open(
    fake: FakeWeChatAPI, base_url: str
) -> None:
    seen: list[str] = []

    async def record(request: httpx.Request) -> None:
        seen.append(request.url.path)

    async with httpx.AsyncClient(event_hooks={"request": [record]}) as http:
        client = WeChatClient(
            app_id=APP_ID,
            app_secret=SECRET,
            base_url=base_url,
            store=MemoryStore(),
            http_client=http,
        )
        async with client:
            await client.send_text(OPENID, "hi")
        assert not http.is_closed
        assert seen == [STABLE, CUSTOM]


async def test_the_environments_proxy_settings_are_followed(
    fake: FakeWeChatAPI, base_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A government network often reaches WeChat only through its egress proxy.
    for name in ("NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    with serve_wechat_fake(FakeWeChatAPI()) as gone:
        pass  # a port where nothing listens: the proxy is down
    monkeypatch.setenv("HTTP_PROXY", gone)
    async with WeChatClient(
        app_id=APP_ID, app_secret=SECRET, base_url=base_url, store=MemoryStore(), retry=FAST_RETRY
    ) as client:
        with pytest.raises(WeChatNetworkError) as caught:
            await client.send_text(OPENID, "through the proxy")
        assert not caught.value.in_doubt  # the proxy refused: nothing reached WeChat
        assert fake.custom_messages == []
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    async with WeChatClient(
        app_id=APP_ID, app_secret=SECRET, base_url=base_url, store=MemoryStore(), retry=FAST_RETRY
    ) as client:
        await client.send_text(OPENID, "around the proxy")
    assert [m.json["text"]["content"] for m in fake.custom_messages] == ["around the proxy"]


async def test_an_injected_httpx_layer_logs_its_request_lines_without_the_token(
    fake: FakeWeChatAPI, base_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="httpx")
    async with WeChatClient(
        app_id=APP_ID,
        app_secret=SECRET,
        base_url=base_url,
        store=MemoryStore(),
        transport=httpx.AsyncHTTPTransport(),
    ) as client:
        await client.send_text(OPENID, "hi")
    assert "HTTP Request" in caplog.text and "access_token=***" in caplog.text
    assert fake.issued_tokens and not any(t in caplog.text for t in fake.issued_tokens)


async def test_owned_http_client_is_closed(base_url: str) -> None:
    transport = httpx.AsyncHTTPTransport()
    async with WeChatClient(
        app_id=APP_ID,
        app_secret=SECRET,
        base_url=base_url,
        store=MemoryStore(),
        transport=transport,
    ) as client:
        await client.send_text(OPENID, "hi")
    with pytest.raises(RuntimeError, match="closed"):
        await client.send_text(OPENID, "after close")
    with pytest.raises(ValueError):
        WeChatClient(
            app_id=APP_ID,
            app_secret=SECRET,
            store=MemoryStore(),
            http_client=httpx.AsyncClient(),
            transport=transport,
        )


# -- the fake itself -----------------------------------------------------------------------


async def test_fake_token_rules(fake: FakeWeChatAPI, base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url) as http:

        async def stable(force: bool) -> str:
            body = (
                await http.post(
                    STABLE,
                    json={
                        "grant_type": "client_credential",
                        "appid": APP_ID,
                        "secret": SECRET,
                        "force_refresh": force,
                    },
                )
            ).json()
            token: str = body["access_token"]
            return token

        async def send(token: str) -> int:
            body = (
                await http.post(
                    CUSTOM,
                    params={"access_token": token},
                    json={"touser": OPENID, "msgtype": "text", "text": {"content": "x"}},
                )
            ).json()
            errcode: int = body["errcode"]
            return errcode

        first = await stable(False)
        assert await stable(False) == first  # normal mode re-serves the live token
        forced = await stable(True)
        assert forced != first
        assert await send(first) == 40001  # forcing retired the old token at once
        assert await send(forced) == 0
        assert await send("made-up") == 40001

        legacy = (
            await http.get(
                "/cgi-bin/token",
                params={"grant_type": "client_credential", "appid": APP_ID, "secret": SECRET},
            )
        ).json()
        assert legacy["expires_in"] == 7200
        assert await send(legacy["access_token"]) == 0

        fake.expires_in = 0
        short_lived = await stable(True)
        assert await send(short_lived) == 42001
