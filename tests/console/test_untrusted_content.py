"""Issue 13: resident text and photos cannot deceive or track staff.

Bidi controls (which reorder how text is shown) are neutralised on the inbox, ticket and
review pages and in the inbox's JSON; the CSP forbids remote images; a resident's photo is
shown through the console's own origin, fetched only from WeChat's image hosts, with size
and type limits.
"""

from __future__ import annotations

import asyncio
import re
import time

import httpx
import pytest

from bot.console.bidi import BIDI_CONTROLS
from integrations.training.review import ReviewQueue
from integrations.wechat.photos import PhotoFetcher
from tests.bot.wechat_harness import RunningApp
from tests.console.harness import csrf_token
from tests.console.test_inbox import ask_for_person, handoff_id_in_inbox, resident_says
from tests.console.test_tickets_pages import file_ticket

#: "my account is 1234" whose digits a right-to-left override shows as 4321
TRICK = "我的账号是\u202e1234\u202c，麻烦\u2066核实\u2069一下\u200f"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def assert_no_bidi(text: str) -> None:
    found = sorted({f"U+{ord(c):04X}" for c in text if c in BIDI_CONTROLS})
    assert found == [], found


def test_bidi_controls_are_neutralised_in_the_inbox(
    console_app: RunningApp, staff: httpx.Client
) -> None:
    openid = "o-bidi-chat"
    ask_for_person(console_app, openid)
    resident_says(console_app, openid, TRICK)
    handoff_id = handoff_id_in_inbox(staff, openid)

    listing = staff.get("/console/inbox").text
    chat = staff.get(f"/console/inbox/{handoff_id}").text
    lines = staff.get(f"/console/api/handoffs/{handoff_id}/messages").json()["lines"]
    for shown in (listing, chat, *(line["text"] for line in lines)):
        assert_no_bidi(shown)
    assert "我的账号是[U+202E]1234[U+202C]，麻烦[U+2066]核实[U+2069]一下[U+200F]" in chat
    assert any(line["text"].startswith("我的账号是[U+202E]1234") for line in lines)


def test_bidi_controls_are_neutralised_on_ticket_pages(
    console_app: RunningApp, staff: httpx.Client
) -> None:
    ticket = file_ticket(console_app, description=TRICK, location="幸福路\u202e88号")
    page = staff.get(f"/console/tickets/{ticket['id']}").text
    token = csrf_token(staff, f"/console/tickets/{ticket['id']}")
    revealed = staff.post(
        f"/console/tickets/{ticket['id']}/reveal", data={"csrf_token": token}
    ).text
    listing = staff.get("/console/tickets").text
    for shown in (page, revealed, listing):
        assert_no_bidi(shown)
    assert "[U+202E]1234[U+202C]" in revealed and "幸福路[U+202E]88号" in revealed


def test_bidi_controls_are_neutralised_on_the_review_page(
    console_app: RunningApp, admin: httpx.Client
) -> None:
    resident_says(console_app, "o-bidi-review", "阿巴\u202e阿巴阿巴")
    deadline = time.monotonic() + 10
    while not asyncio.run(ReviewQueue(console_app.runtime.engine).list("open")):
        assert time.monotonic() < deadline, "the message did not reach the review queue"
        time.sleep(0.1)
    page = admin.get("/console/admin/review").text
    assert_no_bidi(page)
    assert "阿巴[U+202E]阿巴阿巴" in page


# -- images ---------------------------------------------------------------------------------


def test_the_csp_forbids_remote_images(console_app: RunningApp, staff: httpx.Client) -> None:
    for path in ("/console/inbox", "/console/tickets", "/console/login", "/simulator"):
        policy = staff.get(path).headers["content-security-policy"]
        directives = {
            name: value
            for name, _, value in (part.strip().partition(" ") for part in policy.split(";"))
            if name
        }
        assert directives["img-src"].split() == ["'self'", "data:"], path
        assert "http:" not in directives["default-src"] and "https:" not in policy


class FakeCDN:
    """Stands in for WeChat's image CDN (and anything else asked); records every request."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if path.endswith("/big"):
            return httpx.Response(200, content=PNG + b"\x00" * (6 * 1024 * 1024))
        if path.endswith("/page"):
            return httpx.Response(200, content=b"<html>not an image</html>")
        if path.endswith("/moved"):
            return httpx.Response(302, headers={"Location": "https://tracker.example/x.png"})
        return httpx.Response(200, content=PNG, headers={"Content-Type": "text/html"})


@pytest.fixture
def cdn(console_app: RunningApp) -> FakeCDN:
    fake = FakeCDN()
    console_app.app.state.console.photos = PhotoFetcher(transport=httpx.MockTransport(fake))
    return fake


def test_photos_come_through_the_console_from_wechat_hosts_only(
    console_app: RunningApp, staff: httpx.Client, cdn: FakeCDN
) -> None:
    photos = [
        "http://mmbiz.qpic.cn/mmbiz_jpg/abc/0",
        "https://tracker.example/pixel.png?who=staff",
        "https://mmbiz.qpic.cn/mmbiz_jpg/big",
        "https://mmbiz.qpic.cn/mmbiz_jpg/page",
        "https://mmbiz.qpic.cn/mmbiz_jpg/moved",
        "MEDIA_ID_123",
    ]
    ticket = file_ticket(console_app, photos=photos)
    page = staff.get(f"/console/tickets/{ticket['id']}").text
    sources = re.findall(r'<img[^>]* src="([^"]+)"', page)
    assert sources == [f"/console/tickets/{ticket['id']}/photos/{n}" for n in (0, 2, 3, 4)]
    assert 'href="https://tracker.example' not in page and "不加载" in page

    shown = staff.get(f"/console/tickets/{ticket['id']}/photos/0")
    assert shown.status_code == 200
    assert shown.headers["content-type"] == "image/png"  # from the bytes, not the CDN's header
    assert shown.content == PNG
    assert str(cdn.requests[0].url) == "https://mmbiz.qpic.cn/mmbiz_jpg/abc/0"  # upgraded

    for n in (1, 2, 3, 4, 5, 6):  # not WeChat's, too big, not an image, a redirect, a media id
        assert staff.get(f"/console/tickets/{ticket['id']}/photos/{n}").status_code == 404, n
    assert [r.url.host for r in cdn.requests] == ["mmbiz.qpic.cn"] * 4
    with httpx.Client(base_url=console_app.url) as anonymous:
        assert anonymous.get(f"/console/tickets/{ticket['id']}/photos/0").status_code == 303
