"""An admin resets a colleague's password in a real browser; the colleague opens the link,
finds the code filled in (it travels after ``#``, which reset.js copies into the form and
removes from the address bar), sets a new password and logs in."""

from __future__ import annotations

from playwright.sync_api import Browser, Dialog, Page, expect

from tests.bot.wechat_harness import RunningApp
from tests.browser.conftest import log_in
from tests.console.harness import ADMIN, STAFF


def test_reset_link_fills_the_code_and_sets_a_new_password(
    web_app: RunningApp, page: Page, browser: Browser
) -> None:
    log_in(page, web_app.url, *ADMIN)
    page.click("nav a:has-text('账号')")
    row = page.locator(f"tr[data-username='{STAFF[0]}']")
    expect(row).to_contain_text("正常")

    def accept(dialog: Dialog) -> None:
        assert "重置" in dialog.message
        dialog.accept()

    page.once("dialog", accept)
    row.locator("button", has_text="重置密码").click()
    expect(page.locator("h1")).to_contain_text(f"{STAFF[0]} 的重置链接")
    link = page.locator("#reset-link").input_value()
    code = page.locator("#reset-code").input_value()
    assert link.endswith("/console/reset#" + code)

    colleague = browser.new_context(locale="zh-CN")
    try:
        other = colleague.new_page()
        other.set_default_timeout(15_000)
        other.goto(link)
        expect(other.locator("#reset-code")).to_have_value(code)
        expect(other).to_have_url(web_app.url + "/console/reset")  # the code left the URL
        other.fill("input[name=password]", "aaaaaaaaaaaa")
        other.fill("input[name=password2]", "aaaaaaaaaaaa")
        other.click("button[type=submit]")
        expect(other.locator(".error")).to_contain_text("重复或连续")
        other.fill("input[name=code]", code)
        other.fill("input[name=password]", "Lantern-harbor-42")
        other.fill("input[name=password2]", "Lantern-harbor-42")
        other.click("button[type=submit]")
        expect(other.locator(".flash")).to_contain_text("新密码已设置")
        log_in(other, web_app.url, STAFF[0], "Lantern-harbor-42")
        expect(other.locator(".who")).to_contain_text(STAFF[0])
    finally:
        colleague.close()

    page.goto(web_app.url + "/console/admin/accounts")
    expect(page.locator(f"tr[data-username='{STAFF[0]}']")).to_contain_text("正常")
