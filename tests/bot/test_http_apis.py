"""HTTP contracts of /model/parse and the staff handoff API (real server, real HTTP)."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.bot.wechat_harness import running_app


def test_model_parse_has_rasas_shape(tmp_path: Path) -> None:
    with running_app(tmp_path) as app:
        response = httpx.post(app.url + "/model/parse", json={"text": "小区门口的路灯坏了三天了"})
        assert response.status_code == 200
        parse = response.json()
        assert parse["text"] == "小区门口的路灯坏了三天了"
        assert parse["intent"]["name"] == "report.streetlight"
        assert 0 < parse["intent"]["confidence"] <= 1
        assert parse["intent_ranking"][0]["name"] == "report.streetlight"
        assert {e["entity"] for e in parse["entities"]} >= {"time"}
        for entity in parse["entities"]:
            assert parse["text"][entity["start"] : entity["end"]]
        assert httpx.post(app.url + "/model/parse", json={"txt": "x"}).status_code == 400
        assert httpx.post(app.url + "/model/parse", content=b"not json").status_code == 400
        assert httpx.post(app.url + "/model/parse", json={"text": "字" * 3000}).status_code == 413


def test_handoff_api_auth_not_found_and_closed_window(tmp_path: Path) -> None:
    with running_app(tmp_path) as app:
        headers = {"Authorization": f"Bearer {app.settings.server.admin_token}"}
        assert httpx.get(app.url + "/api/handoffs").status_code == 401
        assert (
            httpx.get(
                app.url + "/api/handoffs", headers={"Authorization": "Bearer wrong"}
            ).status_code
            == 401
        )
        assert httpx.get(app.url + "/api/handoffs/999", headers=headers).status_code == 404

        assert "人工" in (app.reply(app.post(app.signer.text("o-api-1", "转人工"))) or "")
        items = httpx.get(
            app.url + "/api/handoffs", headers=headers, params={"status": "waiting"}
        ).json()["items"]
        handoff = next(h for h in items if h["openid"] == "o-api-1")
        assert handoff["reason"] == "requested"
        detail = httpx.get(app.url + f"/api/handoffs/{handoff['id']}", headers=headers).json()
        assert [m["text"] for m in detail["transcript"]] == ["转人工"]

        app.fake.window_closed.add("o-api-1")
        refused = httpx.post(
            app.url + f"/api/handoffs/{handoff['id']}/messages",
            headers=headers,
            json={"text": "您好"},
        )
        assert refused.status_code == 409
        app.fake.window_closed.discard("o-api-1")
        sent = httpx.post(
            app.url + f"/api/handoffs/{handoff['id']}/messages",
            headers=headers,
            json={"text": "您好，我是工作人员"},
        )
        assert sent.status_code == 200 and sent.json()["status"] == "active"
        assert any(
            c.json["text"]["content"] == "您好，我是工作人员" for c in app.fake.custom_messages
        )
