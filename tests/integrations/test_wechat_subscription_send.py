"""The WeChat client's subscription messages (订阅通知) and its sends that must never go out
twice, against the fake WeChat server over real HTTP on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from integrations.state import MemoryStore
from integrations.wechat import RetryPolicy, WeChatAPIError, WeChatClient, WeChatNetworkError
from integrations.wechat.fake_server import FakeWeChatAPI
from testing.servers import serve_wechat_fake

APP_ID = "wx_test_app_0002"
SECRET = "s3cret-never-in-logs-subscribe"
OPENID = "oWx1234567890abcdefghijklmn"
SUBSCRIBE = "/cgi-bin/message/subscribe/bizsend"
TEMPLATE = "/cgi-bin/message/template/send"
CUSTOM = "/cgi-bin/message/custom/send"


@pytest.fixture
def fake() -> FakeWeChatAPI:
    return FakeWeChatAPI(app_id=APP_ID, app_secret=SECRET)


@pytest.fixture
def base_url(fake: FakeWeChatAPI) -> Iterator[str]:
    with serve_wechat_fake(fake) as url:
        yield url


@pytest.fixture
async def client(base_url: str) -> AsyncIterator[WeChatClient]:
    made = WeChatClient(
        app_id=APP_ID, app_secret=SECRET, base_url=base_url, store=MemoryStore(),
        retry=RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.02), timeout=5.0,
    )
    yield made
    await made.aclose()


async def test_subscription_message_goes_to_bizsend_with_the_consent(
    client: WeChatClient, fake: FakeWeChatAPI
) -> None:
    fake.subscriptions[(OPENID, "SUB-1")] = 1

    await client.send_subscription(
        OPENID, "SUB-1", {"thing3": "已办结"}, page="https://city.example/t/1"
    )

    [call] = fake.subscription_messages
    assert call.json == {
        "touser": OPENID,
        "template_id": "SUB-1",
        "data": {"thing3": {"value": "已办结"}},
        "page": "https://city.example/t/1",
    }
    # The one-time subscription is used up: WeChat refuses the next send with 43101.
    with pytest.raises(WeChatAPIError) as refused:
        await client.send_subscription(OPENID, "SUB-1", {"thing3": "已办结"})
    assert refused.value.errcode == 43101
    assert len(fake.calls_to(SUBSCRIBE)) == 2  # a refusal is not retried


async def test_template_refused_by_the_resident_is_43101(
    client: WeChatClient, fake: FakeWeChatAPI
) -> None:
    fake.template_refused.add(OPENID)
    with pytest.raises(WeChatAPIError) as refused:
        await client.send_template(OPENID, "TPL-1", {"first": "x"})
    assert refused.value.errcode == 43101 and fake.template_messages == []


@pytest.mark.parametrize(
    ("send", "path"),
    [
        (lambda c: c.send_text(OPENID, "hi", retry_in_doubt=False), CUSTOM),
        (lambda c: c.send_template(OPENID, "TPL-1", {"first": "x"}, retry_in_doubt=False),
         TEMPLATE),
        (lambda c: c.send_subscription(OPENID, "SUB-1", {"thing1": "x"}, retry_in_doubt=False),
         SUBSCRIBE),
    ],
    ids=["custom", "template", "subscription"],
)
async def test_a_send_whose_answer_was_lost_is_not_repeated_when_asked(
    client: WeChatClient, fake: FakeWeChatAPI, send: Any, path: str
) -> None:
    fake.fail_next(1, path=path, drop=True)
    with pytest.raises(WeChatNetworkError) as lost:
        await send(client)
    assert lost.value.in_doubt
    assert len(fake.calls_to(path)) == 1


async def test_what_certainly_did_not_go_out_is_still_retried(
    client: WeChatClient, fake: FakeWeChatAPI
) -> None:
    fake.fail_next(1, path=CUSTOM, status=503)
    fake.fail_next(1, path=CUSTOM, errcode=-1)
    await client.send_text(OPENID, "hi", retry_in_doubt=False)
    assert [c.outcome for c in fake.calls_to(CUSTOM)] == ["http 503", "errcode -1", "ok"]


async def test_by_default_a_lost_answer_is_retried(
    client: WeChatClient, fake: FakeWeChatAPI
) -> None:
    fake.fail_next(1, path=CUSTOM, drop=True)
    await client.send_text(OPENID, "hi")
    assert [c.outcome for c in fake.calls_to(CUSTOM)] == ["dropped", "ok"]
