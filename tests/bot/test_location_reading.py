"""A resident's answer to "where?" is read as a place once per message, however many
times the policy asks about it (is it the answer; the answer itself; all again when the
turn is decided a second time with the remembered phone)."""

from __future__ import annotations

from pathlib import Path

import pytest

from nlu.address import LocationAnswer, read_location_answer
from tests.bot.wechat_harness import RunningApp, running_app


def _say(app: RunningApp, openid: str, text: str) -> str:
    return app.reply(app.post(app.signer.text(openid, text))) or ""


def test_a_location_answer_is_read_once_a_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    read: list[str] = []

    def counted(text: str) -> LocationAnswer:
        read.append(text)
        return read_location_answer(text)

    # Where the conversation reads places (its module imports the function by name).
    monkeypatch.setattr("bot.handlers.dialogue.read_location_answer", counted)
    openid = "o-where-1"
    with running_app(tmp_path, INTAKE_CLUSTER_NOTICE=False) as app:
        # A first complaint, so that the resident's phone is remembered.
        _say(app, openid, "路灯坏了")
        _say(app, openid, "幸福小区3号楼东门")
        _say(app, openid, "13812345678")
        assert "工单号" in _say(app, openid, "确认")

        assert "位置" in _say(app, openid, "井盖丢了")
        read.clear()
        reply = _say(app, openid, " 阳光花园5栋门口 ")
        # Taken as the place, and the remembered phone offered: the turn was decided
        # twice (the phone is looked up only once the decision asks for it).
        assert "138****5678" in reply, reply
        assert read == ["阳光花园5栋门口"]
