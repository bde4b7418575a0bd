"""Residents' consents to subscription messages (订阅通知), as WeChat reports them to the
callback and as staff record them through the API (issue 17, "pushes that arrive").

A real app on uvicorn, signed callbacks over HTTP, the consents read back through the API.
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import Any

import httpx

from bot.wechat.messages import SubscriptionEvent, message_from_fields
from bot.wechat.xml import parse_xml
from tests.bot.test_wechat_protocol import VECTORS
from tests.bot.wechat_harness import RunningApp, running_app

SUB = "SUB-STATUS-1"
OTHER = "SUB-OTHER-9"
#: WeChat tells events apart by sender, CreateTime and Event (retries repeat all three)
_TIMES = itertools.count(int(time.time()))


def _event_xml(openid: str, event: str, block: str, items: list[dict[str, str]]) -> str:
    lists = "".join(
        "<List>" + "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in item.items()) + "</List>"
        for item in items
    )
    return (
        f"<xml><ToUserName><![CDATA[gh_intake]]></ToUserName>"
        f"<FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{next(_TIMES)}</CreateTime>"
        f"<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[{event}]]></Event>"
        f"<{block}>{lists}</{block}></xml>"
    )


def _send_event(
    app: RunningApp, openid: str, event: str, block: str, items: list[dict[str, str]]
) -> None:
    response = app.post(app.signer.sign(_event_xml(openid, event, block, items)))
    assert app.reply(response) is None  # nothing is said back to an event


def _consents(app: RunningApp, openid: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {app.settings.server.admin_token}"}
    answer = httpx.get(f"{app.url}/api/residents/{openid}/subscriptions", headers=headers)
    assert answer.status_code == 200, answer.text
    return {c["template_id"]: c for c in answer.json()["items"]}


def test_wechats_published_examples_parse_to_their_choices() -> None:
    def choices(name: str) -> list[tuple[str, str, int | None, str]]:
        path = VECTORS / "wechatpy_messages" / f"test_events__test_template_{name}.xml"
        message = message_from_fields(parse_xml(path.read_bytes()))
        assert isinstance(message, SubscriptionEvent) and message.event == name
        return [(c.template_id[:4], c.status, c.error_code, c.error_status)
                for c in message.choices]

    assert choices("subscribe_msg_popup_event") == [
        ("VRR0", "accept", None, ""), ("9nLI", "reject", None, "")]
    assert choices("subscribe_msg_change_event") == [("VRR0", "reject", None, "")]
    assert choices("subscribe_msg_sent_event") == [("VRR0", "", 0, "success")]


def test_popup_choices_are_parsed_one_or_many() -> None:
    one = _event_xml("o-1", "subscribe_msg_popup_event", "SubscribeMsgPopupEvent",
                     [{"TemplateId": SUB, "SubscribeStatusString": "accept", "PopupScene": "2"}])
    message = message_from_fields(parse_xml(one))
    assert isinstance(message, SubscriptionEvent)
    assert [(c.template_id, c.status) for c in message.choices] == [(SUB, "accept")]
    sent = _event_xml("o-1", "subscribe_msg_sent_event", "SubscribeMsgSentEvent", [
        {"TemplateId": SUB, "MsgID": "1", "ErrorCode": "20001", "ErrorStatus": "failed:user block"},
        {"TemplateId": OTHER, "MsgID": "2", "ErrorCode": "0", "ErrorStatus": "success"},
    ])
    message = message_from_fields(parse_xml(sent))
    assert isinstance(message, SubscriptionEvent)
    assert [(c.error_code, c.error_status) for c in message.choices] == [
        (20001, "failed:user block"), (0, "success")]


def test_wechat_events_record_and_revoke_consents(tmp_path: Path) -> None:
    with running_app(tmp_path, WECHAT_SUBSCRIBE_TEMPLATE_ID=SUB) as app:
        _send_event(app, "o-sub-1", "subscribe_msg_popup_event", "SubscribeMsgPopupEvent", [
            {"TemplateId": SUB, "SubscribeStatusString": "accept", "PopupScene": "2"},
            {"TemplateId": OTHER, "SubscribeStatusString": "reject", "PopupScene": "2"},
        ])
        consents = _consents(app, "o-sub-1")
        assert set(consents) == {SUB}
        assert (consents[SUB]["kind"], consents[SUB]["remaining"]) == ("one_time", 1)
        assert consents[SUB]["source"] == "subscribe_msg_popup_event"

        # Each accept of a one-time subscription allows one more send.
        _send_event(app, "o-sub-1", "subscribe_msg_popup_event", "SubscribeMsgPopupEvent",
                    [{"TemplateId": SUB, "SubscribeStatusString": "accept"}])
        assert _consents(app, "o-sub-1")[SUB]["remaining"] == 2

        # Refused later in WeChat's settings (WeChat's example names the popup's block).
        _send_event(app, "o-sub-1", "subscribe_msg_change_event", "SubscribeMsgPopupEvent",
                    [{"TemplateId": SUB, "SubscribeStatusString": "reject"}])
        assert _consents(app, "o-sub-1") == {}

        # A send reported blocked by the resident revokes too; a successful one does not.
        _send_event(app, "o-sub-2", "subscribe_msg_popup_event", "SubscribeMsgPopupEvent",
                    [{"TemplateId": SUB, "SubscribeStatusString": "accept"},
                     {"TemplateId": OTHER, "SubscribeStatusString": "accept"}])
        _send_event(app, "o-sub-2", "subscribe_msg_sent_event", "SubscribeMsgSentEvent", [
            {"TemplateId": SUB, "MsgID": "1", "ErrorCode": "20001",
             "ErrorStatus": "failed:user block"},
            {"TemplateId": OTHER, "MsgID": "2", "ErrorCode": "0", "ErrorStatus": "success"},
        ])
        assert set(_consents(app, "o-sub-2")) == {OTHER}


def test_long_term_kind_from_the_settings(tmp_path: Path) -> None:
    with running_app(
        tmp_path, WECHAT_SUBSCRIBE_TEMPLATE_ID=SUB, INTAKE_SUBSCRIBE_KIND="long_term"
    ) as app:
        _send_event(app, "o-sub-3", "subscribe_msg_popup_event", "SubscribeMsgPopupEvent",
                    [{"TemplateId": SUB, "SubscribeStatusString": "accept"}])
        consent = _consents(app, "o-sub-3")[SUB]
        assert (consent["kind"], consent["remaining"]) == ("long_term", None)


def test_staff_api_records_lists_and_revokes_consents(tmp_path: Path) -> None:
    with running_app(tmp_path, WECHAT_SUBSCRIBE_TEMPLATE_ID=SUB) as app:
        headers = {"Authorization": f"Bearer {app.settings.server.admin_token}"}
        url = f"{app.url}/api/residents/o-api-1/subscriptions"
        assert httpx.post(url, json={}).status_code == 401
        created = httpx.post(url, json={"count": 2}, headers=headers)
        assert created.status_code == 201, created.text
        body = created.json()
        assert (body["template_id"], body["kind"], body["remaining"], body["source"]) == (
            SUB, "one_time", 2, "api")
        long_term = httpx.post(url, json={"template_id": OTHER, "kind": "long_term"},
                               headers=headers)
        assert long_term.json()["remaining"] is None
        assert httpx.post(url, json={"kind": "forever"}, headers=headers).status_code == 422
        assert set(_consents(app, "o-api-1")) == {SUB, OTHER}
        assert httpx.delete(f"{url}/{OTHER}", headers=headers).status_code == 204
        assert httpx.delete(f"{url}/{OTHER}", headers=headers).status_code == 404
        assert set(_consents(app, "o-api-1")) == {SUB}


def test_without_a_configured_template_the_api_needs_one(tmp_path: Path) -> None:
    with running_app(tmp_path) as app:
        headers = {"Authorization": f"Bearer {app.settings.server.admin_token}"}
        url = f"{app.url}/api/residents/o-api-2/subscriptions"
        refused = httpx.post(url, json={}, headers=headers)
        assert refused.status_code == 422 and "WECHAT_SUBSCRIBE_TEMPLATE_ID" in refused.text
        assert httpx.post(url, json={"template_id": OTHER}, headers=headers).status_code == 201
