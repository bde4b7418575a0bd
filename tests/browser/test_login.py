"""Logging in and out in a real browser; staff see no admin pages."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.bot.wechat_harness import RunningApp
from tests.browser.conftest import log_in
from tests.console.harness import ADMIN, STAFF


def test_wrong_password_then_login_and_logout(web_app: RunningApp, page: Page) -> None:
    page.goto(web_app.url + "/console/tickets")
    expect(page).to_have_url(web_app.url + "/console/login?next=%2Fconsole%2Ftickets")
    page.fill("input[name=username]", STAFF[0])
    page.fill("input[name=password]", "wrong-password")
    page.click("button[type=submit]")
    expect(page.locator(".error")).to_contain_text("用户名或密码不对")

    log_in(page, web_app.url, *STAFF)
    expect(page.locator(".who")).to_contain_text(STAFF[0])
    expect(page.locator("nav a", has_text="工单")).to_be_visible()
    expect(page.locator("nav a", has_text="模型训练")).to_have_count(0)
    page.goto(web_app.url + "/console/admin/model")
    expect(page.locator(".error")).to_contain_text("只有管理员")

    page.click("text=退出")
    page.wait_for_url("**/console/login")
    page.goto(web_app.url + "/console/inbox")
    expect(page).to_have_url(web_app.url + "/console/login?next=%2Fconsole%2Finbox")


def test_admin_sees_admin_navigation(web_app: RunningApp, page: Page) -> None:
    log_in(page, web_app.url, *ADMIN)
    expect(page.locator("nav a", has_text="模型训练")).to_be_visible()
    page.click("nav a:has-text('审计日志')")
    expect(page.locator("table")).to_contain_text("login")
