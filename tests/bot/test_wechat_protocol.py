"""Signatures, AES envelopes and message parsing against Tencent's and wechatpy's published
vectors (``tests/data/shared/wechat_vectors``, a copy of ``../shared``), used as they are."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from bot.wechat.messages import (
    ClickEvent,
    ImageMessage,
    LinkMessage,
    LocationEvent,
    LocationMessage,
    ScanEvent,
    SubscribeEvent,
    SubscriptionEvent,
    TextMessage,
    UnknownEvent,
    UnknownMessage,
    UnsubscribeEvent,
    VideoMessage,
    ViewEvent,
    VoiceMessage,
    message_from_fields,
)
from bot.wechat.security import (
    AESEnvelope,
    InvalidSignature,
    StaleTimestamp,
    check_timestamp,
    verify_signature,
)
from bot.wechat.xml import MalformedXML, parse_xml, render_text_reply

VECTORS = Path(__file__).resolve().parents[1] / "data" / "shared" / "wechat_vectors"


def _load(name: str) -> list[dict[str, Any]]:
    path = VECTORS / "crypto" / name
    data: list[dict[str, Any]] = json.loads(path.read_text())
    return data


def _vectors(kind: str) -> list[dict[str, Any]]:
    path = VECTORS / "crypto"
    found = []
    for name in ("vectors_verified.json", "secondary_unattributed_verified.json"):
        found += [v for v in json.loads((path / name).read_text()) if v["kind"] == kind]
    return found


@pytest.mark.parametrize("vector", _vectors("plain_signature"), ids=lambda v: v["id"])
def test_plain_signature_vectors(vector: dict[str, Any]) -> None:
    parts = (vector["token"], vector["timestamp"], vector["nonce"])
    if vector["expect"] == "valid":
        verify_signature(parts, vector["signature"])
    else:
        with pytest.raises(InvalidSignature):
            verify_signature(parts, vector["signature"])


@pytest.mark.parametrize("vector", _vectors("verify_url"), ids=lambda v: v["id"])
def test_verify_url_vectors(vector: dict[str, Any]) -> None:
    envelope = AESEnvelope(vector["token"], vector["encoding_aes_key"], vector["appid"])
    kwargs = {
        "msg_signature": vector["msg_signature"],
        "timestamp": vector["timestamp"],
        "nonce": vector["nonce"],
    }
    if vector.get("expect", "valid") == "valid":
        plain = envelope.decrypt(vector["echostr"], **kwargs)
        expected = vector["verification"].get("decrypted_echostr")
        if expected is not None:
            assert plain == expected
    else:
        with pytest.raises(InvalidSignature):
            envelope.decrypt(vector["echostr"], **kwargs)


@pytest.mark.parametrize("vector", _vectors("decrypt_message"), ids=lambda v: v["id"])
def test_decrypt_message_vectors(vector: dict[str, Any]) -> None:
    envelope = AESEnvelope(vector["token"], vector["encoding_aes_key"], vector["appid"])
    body = parse_xml(vector["post_body"])
    plaintext = envelope.decrypt(
        str(body["Encrypt"]),
        msg_signature=vector["msg_signature"],
        timestamp=vector["timestamp"],
        nonce=vector["nonce"],
    )
    fields = parse_xml(plaintext)
    for name, value in vector["expected_fields"].items():
        assert fields[name] == value
    # one flipped signature character is refused
    bad = vector["msg_signature"][:-1] + ("0" if vector["msg_signature"][-1] != "0" else "1")
    with pytest.raises(InvalidSignature):
        envelope.decrypt(
            str(body["Encrypt"]),
            msg_signature=bad,
            timestamp=vector["timestamp"],
            nonce=vector["nonce"],
        )


@pytest.mark.parametrize("vector", _vectors("encrypt_fixed_random"), ids=lambda v: v["id"])
def test_encrypt_vectors_reproduce_exact_ciphertext(vector: dict[str, Any]) -> None:
    envelope = AESEnvelope(vector["token"], vector["encoding_aes_key"], vector["appid"])
    document = envelope.encrypt(
        vector["plaintext"],
        nonce=vector["nonce"],
        timestamp=vector["timestamp"],
        random_prefix=vector["random"],
    )
    fields = parse_xml(document)
    assert fields["Encrypt"] == vector["expected_encrypt"]
    if "expected_msg_signature" in vector:
        assert fields["MsgSignature"] == vector["expected_msg_signature"]
    # and it decrypts back
    assert (
        envelope.decrypt(
            str(fields["Encrypt"]),
            msg_signature=str(fields["MsgSignature"]),
            timestamp=vector["timestamp"],
            nonce=vector["nonce"],
        )
        == vector["plaintext"]
    )


def test_garbage_envelope_is_an_invalid_signature_not_a_crash() -> None:
    envelope = AESEnvelope("token", "A" * 43, "wxapp")
    from bot.wechat.security import sha1_signature

    for garbage in ("not-base64!!", "QUJD", "A" * 64):
        sig = sha1_signature("token", "1", "n", garbage)
        with pytest.raises(InvalidSignature):
            envelope.decrypt(garbage, msg_signature=sig, timestamp="1", nonce="n")


def test_timestamp_window() -> None:
    now = time.time()
    check_timestamp(str(int(now) - 299), now=now, window=300)
    check_timestamp(str(int(now) + 299), now=now, window=300)
    for stale in (str(int(now) - 301), str(int(now) + 400), "abc", None):
        with pytest.raises(StaleTimestamp):
            check_timestamp(stale, now=now, window=300)


def _message_files() -> list[tuple[dict[str, Any], Path]]:
    index = VECTORS / "wechatpy_messages" / "INDEX.json"
    entries = json.loads(index.read_text())
    return [(e, VECTORS / "wechatpy_messages" / e["file"]) for e in entries]


EXPECTED_TYPES: dict[str, type] = {
    "text": TextMessage,
    "image": ImageMessage,
    "voice": VoiceMessage,
    "video": VideoMessage,
    "location": LocationMessage,
    "link": LinkMessage,
}
EXPECTED_EVENTS: dict[str, type] = {
    "subscribe": SubscribeEvent,
    "unsubscribe": UnsubscribeEvent,
    "scan": ScanEvent,
    "click": ClickEvent,
    "view": ViewEvent,
    "location": LocationEvent,
    # subscription messages (订阅通知): the resident's consent (issue 17)
    "subscribe_msg_popup_event": SubscriptionEvent,
    "subscribe_msg_change_event": SubscriptionEvent,
    "subscribe_msg_sent_event": SubscriptionEvent,
}


@pytest.mark.parametrize(
    ("entry", "path"), _message_files(), ids=lambda v: v["file"] if isinstance(v, dict) else ""
)
def test_every_published_message_parses_to_its_type(entry: dict[str, Any], path: Path) -> None:
    message = message_from_fields(parse_xml(path.read_bytes()))
    msg_type = entry["MsgType"]
    if msg_type == "event":
        expected = EXPECTED_EVENTS.get(entry["Event"].lower(), UnknownEvent)
    else:
        expected = EXPECTED_TYPES.get(msg_type, UnknownMessage)
    assert type(message) is expected
    assert message.from_user
    assert message.dedup_key


def _vector_message(name: str) -> Any:
    path = VECTORS / "wechatpy_messages" / name
    return message_from_fields(parse_xml(path.read_bytes()))


def test_published_message_fields() -> None:
    loc = _vector_message("test_parser__test_parse_location_message.xml")
    assert isinstance(loc, LocationMessage)
    assert (loc.latitude, loc.longitude, loc.label) == (23.134521, 113.358803, "位置信息")
    assert loc.text == "位置信息"
    evt = _vector_message("test_events__test_location_event.xml")
    assert isinstance(evt, LocationEvent)
    assert (evt.latitude, evt.longitude, evt.precision) == (23.137466, 113.352425, 119.385040)
    scan = _vector_message("test_parser__test_parse_subscribe_scan_event.xml")
    assert isinstance(scan, SubscribeEvent)
    assert (scan.scene, scan.ticket) == ("123123", "TICKET")
    view = _vector_message("test_parser__test_parse_view_event.xml")
    assert isinstance(view, ViewEvent) and view.url == "www.qq.com"
    click = _vector_message("test_parser__test_parse_click_event.xml")
    assert isinstance(click, ClickEvent) and click.event_key == "EVENTKEY"
    code = _vector_message("test_events__test_scan_code_push_event.xml")
    assert isinstance(code, UnknownEvent)
    assert code.raw["ScanCodeInfo"] == {"ScanType": "qrcode", "ScanResult": "1"}


def test_voice_recognition_is_the_text_and_dedup_keys() -> None:
    fields = {
        "ToUserName": "gh",
        "FromUserName": "o1",
        "CreateTime": "5",
        "MsgType": "voice",
        "MediaId": "m",
        "Format": "amr",
        "Recognition": "路灯坏了",
        "MsgId": "42",
    }
    voice = message_from_fields(fields)
    assert isinstance(voice, VoiceMessage) and voice.text == "路灯坏了"
    assert voice.dedup_key == "msg:42"
    event = message_from_fields(
        {"FromUserName": "o1", "CreateTime": "5", "MsgType": "event", "Event": "subscribe"}
    )
    assert event.dedup_key == "evt:o1:5:subscribe"


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not xml",
        b"<xml><a>unclosed</xml>",
        b"<root><MsgType>text</MsgType></root>",
        b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY x "boom">]><xml><a>&x;</a></xml>',
        b'<!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><xml><a>&xxe;</a></xml>',
    ],
)
def test_malformed_and_hostile_xml_is_refused(body: bytes) -> None:
    with pytest.raises(MalformedXML):
        parse_xml(body)


def test_billion_laughs_refused_before_expansion() -> None:
    lol = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        + b"".join(
            b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
            for i in range(1, 10)
        )
        + b"]><xml><a>&lol9;</a></xml>"
    )
    with pytest.raises(MalformedXML, match="DTDForbidden"):
        parse_xml(lol)


def test_reply_rendering_escapes_cdata_terminator() -> None:
    xml = render_text_reply("o1", "gh", "a]]>b<c>&", create_time=7)
    fields = parse_xml(xml)
    assert fields == {
        "ToUserName": "o1",
        "FromUserName": "gh",
        "CreateTime": "7",
        "MsgType": "text",
        "Content": "a]]>b<c>&",
    }
