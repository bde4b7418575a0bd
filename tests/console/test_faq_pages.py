"""常见问题 admin pages over real HTTP: list and search, create, edit, disable and enable,
validation, audit, and the preview, which must reflect a change the moment it is saved
(as must the bot itself, answering through the signed /wechat path)."""

from __future__ import annotations

import re
from typing import Any

import httpx

from policies import messages as msg
from tests.bot.wechat_harness import RunningApp
from tests.console.harness import csrf_token

E_VOUCHER = "faq.medical.e_voucher"
LIBRARY = "faq.service.library_card"
LIBRARY_ANSWER = "带身份证到市图书馆一楼服务台即可免费办理借书证，少儿借阅卡需家长陪同。"


def _preview(client: httpx.Client, text: str) -> dict[str, Any]:
    response = client.post(
        "/console/api/faq/preview",
        json={"text": text},
        headers={"X-CSRF-Token": csrf_token(client, "/console/admin/faq")},
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def _form(client: httpx.Client, path: str) -> dict[str, str]:
    """The edit form's fields as the page renders them (what a browser would post back)."""
    page = client.get(path)
    assert page.status_code == 200, page.text
    form = page.text[page.text.index('id="faq-form"') :]
    form = form[: form.index("</form>")]
    fields = dict(re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', form))
    for name, value in re.findall(r'<textarea[^>]*name="([^"]+)"[^>]*>([^<]*)</textarea>', form):
        fields[name] = value
    unescaped = {
        k: v.replace("&#34;", '"').replace("&#39;", "'").replace("&lt;", "<").replace("&gt;", ">")
        for k, v in fields.items()
    }
    return {k: v.replace("&amp;", "&") for k, v in unescaped.items()}


def _create_library(client: httpx.Client, **changes: str) -> httpx.Response:
    data = {
        "csrf_token": csrf_token(client, "/console/admin/faq/new"),
        "category": "便民服务",
        "slug": "library_card",
        "title": "图书馆借书证办理",
        "answer": LIBRARY_ANSWER,
        "questions": "市图书馆的借书证怎么办理\n\n市图书馆的借书证怎么办理\n办图书馆借书证要带什么",
        "keywords": "借书证、图书馆，借阅卡",
        **changes,
    }
    return client.post("/console/admin/faq/new", data=data)


def _audit(client: httpx.Client, action: str) -> str:
    return client.get("/console/admin/audit", params={"action": action}).text


def test_list_shows_every_topic_with_search_and_category(admin: httpx.Client) -> None:
    page = admin.get("/console/admin/faq")
    assert page.status_code == 200
    assert f'class="faq-link" href="/console/admin/faq/{E_VOUCHER}"' in page.text
    assert "医保电子凭证激活与使用" in page.text and "城乡居民养老保险参保与缴费" in page.text
    assert 'id="preview-text"' in page.text and 'id="preview-run"' in page.text

    found = admin.get("/console/admin/faq", params={"q": "医保码"}).text
    assert "医保电子凭证激活与使用" in found
    assert "城乡居民养老保险参保与缴费" not in found

    civil = admin.get("/console/admin/faq", params={"category": "民政"}).text
    assert "faq.civil.dibao" in civil and E_VOUCHER not in civil


def test_staff_cannot_edit_faq(console_app: RunningApp, staff: httpx.Client) -> None:
    assert staff.get("/console/admin/faq").status_code == 403
    refused = staff.post(
        "/console/api/faq/preview",
        json={"text": "医保电子凭证怎么激活"},
        headers={"X-CSRF-Token": csrf_token(staff)},
    )
    assert refused.status_code == 403


def test_create_is_validated_audited_and_answered_at_once(
    console_app: RunningApp, admin: httpx.Client
) -> None:
    invalid = _create_library(admin, slug="Library Card!", title="", questions="  \n ")
    assert invalid.status_code == 400
    assert "编号请用" in invalid.text
    assert "请填写标题" in invalid.text
    assert "请至少填写一种问法" in invalid.text
    assert admin.get(f"/console/admin/faq/{LIBRARY}").status_code == 404

    too_long = _create_library(admin, title="长" * 41, answer="答" * 2001)
    assert too_long.status_code == 400
    assert "标题请不要超过 40 个字" in too_long.text and "答案请不要超过 2000 个字" in too_long.text

    taken_question = _create_library(admin, questions="医保电子凭证如何激活")
    assert taken_question.status_code == 400
    assert "已经属于「医保电子凭证激活与使用」" in taken_question.text

    # Before: the bot does not know the topic.
    assert _preview(admin, "市图书馆的借书证怎么办理")["topic"] != LIBRARY

    created = _create_library(admin)
    assert created.status_code == 303
    assert created.headers["location"] == f"/console/admin/faq/{LIBRARY}?done=created"
    form = _form(admin, f"/console/admin/faq/{LIBRARY}")
    # Duplicates and blank lines dropped; keywords split on either separator.
    assert form["questions"] == "市图书馆的借书证怎么办理\n办图书馆借书证要带什么"
    assert form["keywords"] == "借书证、图书馆、借阅卡"

    assert _create_library(admin).status_code == 400  # the id is taken now
    assert "已经存在" in _create_library(admin).text

    result = _preview(admin, "市图书馆的借书证怎么办理")
    assert result["kind"] == "answer"
    assert (result["topic"], result["answer"]) == (LIBRARY, LIBRARY_ANSWER)
    assert result["reply"] == msg.faq_answer("图书馆借书证办理", LIBRARY_ANSWER)

    # The bot itself answers with it, through the signed callback.
    reply = console_app.reply(
        console_app.post(console_app.signer.text("o-faq-create", "市图书馆的借书证怎么办理"))
    )
    assert reply is not None and LIBRARY_ANSWER in reply

    audit = _audit(admin, "faq.create")
    assert f"faq:{LIBRARY}" in audit and "li.admin" in audit


def test_a_new_variant_and_answer_take_effect_right_after_saving(
    console_app: RunningApp, admin: httpx.Client
) -> None:
    assert _create_library(admin).status_code == 303
    before = _preview(admin, "少儿借阅卡在哪里申请")
    assert before["topic"] != LIBRARY

    path = f"/console/admin/faq/{LIBRARY}"
    form = _form(admin, path)
    form["questions"] += "\n少儿借阅卡在哪里申请"
    form["answer"] = "新答案：借书证和少儿借阅卡都在市图书馆一楼办理。"
    saved = admin.post(path, data=form)
    assert saved.status_code == 303 and saved.headers["location"] == f"{path}?done=saved"
    assert "已保存" in admin.get(saved.headers["location"]).text

    after = _preview(admin, "少儿借阅卡在哪里申请")
    assert after["kind"] == "answer" and after["topic"] == LIBRARY
    assert after["answer"] == "新答案：借书证和少儿借阅卡都在市图书馆一楼办理。"
    reply = console_app.reply(
        console_app.post(console_app.signer.text("o-faq-edit", "少儿借阅卡在哪里申请"))
    )
    assert reply is not None and "新答案" in reply

    audit = _audit(admin, "faq.update")
    assert f"faq:{LIBRARY}" in audit and "答案" in audit and "问法 +1 -0" in audit


def test_editing_a_seeded_topic_and_a_stale_form(admin: httpx.Client) -> None:
    path = f"/console/admin/faq/{E_VOUCHER}"
    stale = _form(admin, path)
    fresh = _form(admin, path)
    fresh["answer"] = "医保码请在国家医保服务平台App里激活。"
    assert admin.post(path, data=fresh).status_code == 303
    assert (
        _preview(admin, "医保电子凭证怎么激活")["answer"] == "医保码请在国家医保服务平台App里激活。"
    )

    # A second admin's form loaded before that save does not silently overwrite it.
    stale["title"] = "旧表单的标题"
    conflict = admin.post(path, data=stale)
    assert conflict.status_code == 409
    assert "刚被别人修改过" in conflict.text
    assert "医保码请在国家医保服务平台App里激活。" in conflict.text
    assert "旧表单的标题" not in admin.get(path).text

    # Category and id stay as created, whatever the form claims.
    tampered = _form(admin, path) | {"category": "民政", "slug": "other"}
    assert admin.post(path, data=tampered).status_code == 303
    assert admin.get("/console/admin/faq/faq.civil.other").status_code == 404
    assert "分类 医保" in admin.get(path).text


def test_disable_and_enable(console_app: RunningApp, admin: httpx.Client) -> None:
    path = f"/console/admin/faq/{E_VOUCHER}"
    assert _preview(admin, "医保电子凭证怎么激活")["topic"] == E_VOUCHER

    token = csrf_token(admin, path)
    disabled = admin.post(path, data={"csrf_token": token, "action": "disable"})
    assert disabled.status_code == 303
    assert "已停用" in admin.get(path).text
    listed = admin.get("/console/admin/faq", params={"state": "disabled"}).text
    assert E_VOUCHER in listed and "faq.civil.dibao" not in listed

    off = _preview(admin, "医保电子凭证怎么激活")
    assert off["topic"] != E_VOUCHER and E_VOUCHER not in [c["topic"] for c in off["choices"]]
    reply = console_app.reply(
        console_app.post(console_app.signer.text("o-faq-off", "医保电子凭证怎么激活"))
    )
    assert "医保电子凭证激活与使用" not in (reply or "")

    enabled = admin.post(path, data={"csrf_token": token, "action": "enable"})
    assert enabled.status_code == 303
    assert _preview(admin, "医保电子凭证怎么激活")["topic"] == E_VOUCHER

    assert f"faq:{E_VOUCHER}" in _audit(admin, "faq.disable")
    assert f"faq:{E_VOUCHER}" in _audit(admin, "faq.enable")


def test_forms_need_the_csrf_token(admin: httpx.Client) -> None:
    path = f"/console/admin/faq/{E_VOUCHER}"
    form = _form(admin, path)
    form["csrf_token"] = "forged"
    form["answer"] = "不该保存"
    assert admin.post(path, data=form).status_code == 403
    assert admin.post(path, data={"action": "disable"}).status_code == 403
    assert "启用中" in admin.get(path).text
    no_header = admin.post("/console/api/faq/preview", json={"text": "医保"})
    assert no_header.status_code == 403


def test_preview_shows_intent_reply_and_limits(admin: httpx.Client) -> None:
    answer = _preview(admin, "医保电子凭证怎么激活")
    assert answer["intent"] == E_VOUCHER and answer["confidence"] >= 0.9
    assert answer["candidates"][0]["topic"] == E_VOUCHER
    assert answer["reply"].startswith("【医保电子凭证激活与使用】")

    report = _preview(admin, "我家楼下的路灯坏了")
    assert report["intent"] == "report.streetlight" and report["kind"] == "other"
    assert "路灯" in report["reply"] and "report.streetlight" not in report["reply"]

    handoff = _preview(admin, "转人工")
    assert handoff["actions"] == ["转人工客服"]

    choices = _preview(admin, "刚生了孩子")
    assert choices["kind"] == "choices"
    titles = [c["title"] for c in choices["choices"]]
    assert "新生儿参加医保" in titles and len(titles) >= 2
    assert choices["reply"] == msg.faq_choices(titles)

    unclear = _preview(admin, "怎么办理")
    assert unclear["kind"] == "other" and unclear["reply"].startswith("抱歉")

    headers = {"X-CSRF-Token": csrf_token(admin, "/console/admin/faq")}
    url = "/console/api/faq/preview"
    assert admin.post(url, json={"text": "问" * 601}, headers=headers).status_code == 413
    assert admin.post(url, json={"text": "  "}, headers=headers).status_code == 400
    assert admin.post(url, json=["x"], headers=headers).status_code == 400
