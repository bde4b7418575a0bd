"""The Open311 backend against the fake Open311 server, over real HTTP on loopback."""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from core.errors import IntakeError
from integrations.dispatch import (
    DispatchBackend,
    DispatchRejected,
    DispatchUnavailable,
)
from integrations.dispatch.open311 import Open311Backend, Open311Config
from testing.open311_fake import FakeService
from testing.servers import serve_asgi
from tests.dispatch.conftest import API_KEY, MakeBackend, Served, StartServer, ticket

# -- submit ---------------------------------------------------------------------------------


async def test_backend_satisfies_the_protocol(served: Served, make_backend: MakeBackend) -> None:
    backend: DispatchBackend = make_backend(served.url)
    assert backend.name == "open311"


async def test_create_posts_the_spec_form_fields(served: Served, make_backend: MakeBackend) -> None:
    backend = make_backend(served.url)
    receipt = await backend.submit(
        ticket(
            latitude=39.9087,
            longitude=116.3975,
            photos=("wxmedia:abc123", "https://img.example.cn/p/1.jpg", "https://x/2.jpg"),
        )
    )

    assert receipt.external_id == "1000"
    assert receipt.token is None
    assert receipt.status == "dispatched"
    [call] = served.fake.calls_to("POST", "/requests.json")
    assert call.outcome == "ok"
    assert call.headers["content-type"] == "application/x-www-form-urlencoded; charset=utf-8"
    assert call.headers["idempotency-key"] == "idem-T20240501-0001"
    assert call.field("api_key") == API_KEY
    assert call.field("service_code") == "001"  # the service map, leading zeros kept
    assert call.field("description") == "和平路12号门口的路灯不亮已经三天了"
    assert call.field("address_string") == "和平路12号"
    assert call.field("phone") == "13800138000"
    assert (call.field("lat"), call.field("long")) == ("39.9087", "116.3975")
    # The first photo that is a URL: a WeChat media id means nothing to the city.
    assert call.form["media_url"] == ["https://img.example.cn/p/1.jpg"]
    assert call.field("attribute[intake_ticket_id]") == "T20240501-0001"
    assert "jurisdiction_id" not in call.form

    stored = served.fake.get_request("1000")
    assert stored.service.service_code == "001"
    assert (stored.lat, stored.long) == (39.9087, 116.3975)
    assert stored.attributes == {"intake_ticket_id": ["T20240501-0001"]}


async def test_create_sends_jurisdiction_and_service_notice_becomes_the_note(
    start_server: StartServer, make_backend: MakeBackend
) -> None:
    served = start_server(jurisdiction_id="hp.gov.cn")
    backend = make_backend(served.url, jurisdiction_id="hp.gov.cn")

    receipt = await backend.submit(ticket(category="report.garbage"))

    assert receipt.note == "环卫所将在24小时内处理"
    assert served.fake.calls[-1].field("jurisdiction_id") == "hp.gov.cn"
    assert served.fake.get_request(receipt.external_id or "").service.service_code == "GARBAGE"
    # Polls carry it too (the server refuses calls without it).
    [status] = await backend.poll([receipt.external_id or ""])
    assert status.status == "dispatched"


async def test_without_a_service_map_the_taxonomy_id_is_the_service_code(
    start_server: StartServer, make_backend: MakeBackend
) -> None:
    served = start_server(services=(FakeService("report.streetlight", "路灯"),))
    backend = make_backend(served.url, service_map={})

    receipt = await backend.submit(ticket())

    assert served.fake.get_request(receipt.external_id or "").service.service_code == (
        "report.streetlight"
    )


async def test_service_map_default_entry_and_unmapped_category(
    served: Served, make_backend: MakeBackend
) -> None:
    with_default = make_backend(served.url, service_map={"*": "GARBAGE"})
    receipt = await with_default.submit(ticket(category="report.corridor_clutter"))
    assert served.fake.get_request(receipt.external_id or "").service.service_code == "GARBAGE"

    strict = make_backend(served.url)
    with pytest.raises(DispatchRejected, match=r"report\.corridor_clutter"):
        await strict.submit(ticket(category="report.corridor_clutter"))
    assert len(served.fake.calls) == 1  # refused locally: nothing sent


async def test_ticket_attribute_can_be_switched_off(
    served: Served, make_backend: MakeBackend
) -> None:
    backend = make_backend(served.url, ticket_attribute=None)
    await backend.submit(ticket())
    assert not [name for name in served.fake.calls[-1].form if name.startswith("attribute[")]


async def test_ticket_without_location_is_rejected_locally(
    served: Served, make_backend: MakeBackend
) -> None:
    backend = make_backend(served.url)
    with pytest.raises(DispatchRejected, match="no location"):
        await backend.submit(ticket(location="  "))
    assert served.fake.calls == []
    # Coordinates alone are a location.
    receipt = await backend.submit(ticket(location="", latitude=39.9, longitude=116.4))
    assert served.fake.get_request(receipt.external_id or "").address is None


async def test_long_description_is_cut_to_the_spec_limit(
    served: Served, make_backend: MakeBackend
) -> None:
    backend = make_backend(served.url)
    await backend.submit(ticket(description="路" * 5000))
    assert served.fake.calls[-1].field("description") == "路" * 4000


# -- idempotency ----------------------------------------------------------------------------


async def test_retry_after_lost_answer_creates_one_request(
    served: Served, make_backend: MakeBackend
) -> None:
    backend = make_backend(served.url, timeout=0.3)
    # The server creates the request, then answers too late: the client times out.
    served.fake.fail_next(status=None, delay=1.0, after=True, method="POST")

    with pytest.raises(DispatchUnavailable, match="timed out"):
        await backend.submit(ticket())
    assert len(served.fake.requests) == 1

    receipt = await backend.submit(ticket())  # the outbox retries with the same key

    assert receipt.external_id == "1000"
    assert [r.service_request_id for r in served.fake.requests] == ["1000"]
    assert [c.outcome for c in served.fake.calls_to("POST", "/requests.json")] == [
        "ok",
        "replayed",
    ]


async def test_different_keys_create_different_requests(
    served: Served, make_backend: MakeBackend
) -> None:
    backend = make_backend(served.url)
    first = await backend.submit(ticket())
    second = await backend.submit(ticket(ticket_id="T2", idempotency_key="idem-T2"))
    assert (first.external_id, second.external_id) == ("1000", "1001")


async def test_server_deduplicating_on_the_ticket_attribute(
    start_server: StartServer, make_backend: MakeBackend
) -> None:
    """A server that ignores the header but keys on our attribute (a CRM rule)."""
    served = start_server(dedupe_attribute="intake_ticket_id")
    backend = make_backend(served.url)
    first = await backend.submit(ticket())
    again = await backend.submit(ticket(idempotency_key="another-key-same-ticket"))
    assert first.external_id == again.external_id
    assert len(served.fake.requests) == 1


# -- token flow -----------------------------------------------------------------------------


async def test_token_flow_token_then_id(
    start_server: StartServer, make_backend: MakeBackend
) -> None:
    served = start_server(token_mode=True, token_lookups_before_id=2)
    backend = make_backend(served.url)

    receipt = await backend.submit(ticket())

    assert receipt.external_id is None
    assert receipt.token == "T00001"
    assert await backend.resolve_token("T00001") is None
    assert await backend.resolve_token("T00001") is None
    assert await backend.resolve_token("T00001") == "1000"
    assert await backend.resolve_token("T00001") == "1000"  # stable once assigned
    [status] = await backend.poll(["1000"])
    assert status.status == "dispatched"


async def test_token_retry_returns_the_same_token(
    start_server: StartServer, make_backend: MakeBackend
) -> None:
    served = start_server(token_mode=True, token_lookups_before_id=0)
    backend = make_backend(served.url)
    first = await backend.submit(ticket())
    second = await backend.submit(ticket())
    assert first.token == second.token == "T00001"
    assert await backend.resolve_token("T00001") == "1000"
    assert len(served.fake.requests) == 1


async def test_unknown_token_is_not_yet_assigned(served: Served, make_backend: MakeBackend) -> None:
    backend = make_backend(served.url)
    assert await backend.resolve_token("T99999") is None
    assert served.fake.calls[-1].outcome == "http 404"


async def test_token_is_quoted_into_the_path(make_backend: MakeBackend) -> None:
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.raw_path.decode())
        return httpx.Response(200, json=[{"token": "a/b c"}])

    backend = make_backend("https://open311.example.cn/v2", transport=httpx.MockTransport(answer))
    assert await backend.resolve_token("a/b c") is None
    assert seen == ["/v2/tokens/a%2Fb%20c.json"]


# -- polling --------------------------------------------------------------------------------


async def test_poll_maps_georeport_statuses_to_ours(
    served: Served, make_backend: MakeBackend
) -> None:
    backend = make_backend(served.url)
    ids = [
        (await backend.submit(ticket(ticket_id=f"T{i}", idempotency_key=f"k{i}"))).external_id or ""
        for i in range(5)
    ]
    staff = served.fake.update_request
    staff(ids[1], status_notes="维修人员已派出", agency_responsible="市政照明管理处")
    staff(ids[2], status="closed", status_notes="路灯已修复")
    staff(ids[3], status="closed", status_notes="Duplicate request.")
    staff(ids[4], status="closed", status_notes="经核实不属于本部门职责，已退回")

    statuses = await backend.poll(ids)

    assert [(s.external_id, s.status) for s in statuses] == [
        (ids[0], "dispatched"),
        (ids[1], "in_progress"),
        (ids[2], "resolved"),
        (ids[3], "rejected"),
        (ids[4], "rejected"),
    ]
    assert statuses[0].note is None
    assert statuses[1].note == "市政照明管理处: 维修人员已派出"
    assert statuses[2].note == "路灯已修复"
    assert all(isinstance(s.updated_at, datetime) and s.updated_at.tzinfo for s in statuses)
    # One batched GET for all five.
    [get] = served.fake.calls_to("GET", "/requests.json")
    assert get.query["service_request_id"] == ",".join(ids)


async def test_poll_batches_ids_and_leaves_out_unknown_ones(
    served: Served, make_backend: MakeBackend
) -> None:
    backend = make_backend(served.url, poll_batch_size=2)
    ids = [
        (await backend.submit(ticket(ticket_id=f"T{i}", idempotency_key=f"k{i}"))).external_id or ""
        for i in range(3)
    ]

    statuses = await backend.poll([ids[2], "999999", ids[0], ids[1], ids[0]])

    assert [s.external_id for s in statuses] == [ids[2], ids[0], ids[1]]
    batches = [c.query["service_request_id"] for c in served.fake.calls_to("GET", "/requests.json")]
    assert batches == [f"{ids[2]},999999", f"{ids[0]},{ids[1]}"]
    # The id missing from its batch was asked once on its own, and is unknown there too.
    assert [c.outcome for c in served.fake.calls_to("GET", "/requests/999999.json")] == ["http 404"]


async def test_poll_falls_back_to_one_by_one_when_multi_id_is_refused(
    start_server: StartServer, make_backend: MakeBackend
) -> None:
    served = start_server(multi_id_lookup=False)
    backend = make_backend(served.url)
    ids = [
        (await backend.submit(ticket(ticket_id=f"T{i}", idempotency_key=f"k{i}"))).external_id or ""
        for i in range(2)
    ]
    served.fake.update_request(ids[1], status="closed")

    statuses = await backend.poll(ids)

    assert [(s.external_id, s.status) for s in statuses] == [
        (ids[0], "dispatched"),
        (ids[1], "resolved"),
    ]
    assert [c.outcome for c in served.fake.calls_to("GET", "/requests.json")] == ["http 400"]


async def test_poll_tolerates_numeric_ids(
    start_server: StartServer, make_backend: MakeBackend
) -> None:
    served = start_server(numeric_ids=True)  # ids as JSON numbers, as the spec's examples
    backend = make_backend(served.url)
    receipt = await backend.submit(ticket())
    assert receipt.external_id == "1000"
    [status] = await backend.poll(["1000"])
    assert (status.external_id, status.status) == ("1000", "dispatched")


async def test_poll_of_nothing_calls_nothing(served: Served, make_backend: MakeBackend) -> None:
    assert await make_backend(served.url).poll([]) == []
    assert served.fake.calls == []


# -- failures -------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 504, 429])
async def test_5xx_and_429_are_unavailable(
    served: Served, make_backend: MakeBackend, status: int
) -> None:
    backend = make_backend(served.url)
    served.fake.fail_next(status=status)
    with pytest.raises(DispatchUnavailable, match=f"HTTP {status}"):
        await backend.submit(ticket())
    assert served.fake.requests == []
    # The next attempt goes through.
    assert (await backend.submit(ticket())).external_id == "1000"


async def test_poll_and_token_failures_are_unavailable(
    served: Served, make_backend: MakeBackend
) -> None:
    backend = make_backend(served.url)
    served.fake.fail_next(2, status=503)
    with pytest.raises(DispatchUnavailable):
        await backend.poll(["1000"])
    with pytest.raises(DispatchUnavailable):
        await backend.resolve_token("T1")


async def test_timeout_is_unavailable(served: Served, make_backend: MakeBackend) -> None:
    backend = make_backend(served.url, timeout=0.2)
    served.fake.fail_next(status=None, delay=1.0)
    with pytest.raises(DispatchUnavailable, match="timed out"):
        await backend.poll(["1000"])


async def test_connection_refused_is_unavailable(make_backend: MakeBackend) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connections are refused
        backend = make_backend(f"http://127.0.0.1:{port}")
        with pytest.raises(DispatchUnavailable, match=r"Connect(or)?Error") as caught:
            await backend.submit(ticket())
    assert isinstance(caught.value, IntakeError)
    assert API_KEY not in str(caught.value)


async def test_unknown_service_code_is_rejected_with_the_servers_description(
    served: Served, make_backend: MakeBackend
) -> None:
    backend = make_backend(served.url, service_map={"report.streetlight": "NOPE"})
    with pytest.raises(DispatchRejected) as caught:
        await backend.submit(ticket())
    assert "HTTP 404" in str(caught.value)
    assert "service_code 'NOPE' not found" in str(caught.value)


async def test_missing_required_attribute_is_rejected(
    served: Served, make_backend: MakeBackend
) -> None:
    backend = make_backend(served.url, service_map={"report.streetlight": "POT"})
    with pytest.raises(DispatchRejected, match=r"HTTP 400.*attribute depth is required"):
        await backend.submit(ticket())


async def test_bad_api_key_is_rejected(served: Served, make_backend: MakeBackend) -> None:
    backend = make_backend(served.url, api_key="wrong-key")
    with pytest.raises(DispatchRejected, match=r"API key .*HTTP 403.*Invalid api_key") as caught:
        await backend.submit(ticket())
    assert "wrong-key" not in str(caught.value)


async def test_wrong_jurisdiction_is_rejected(
    start_server: StartServer, make_backend: MakeBackend
) -> None:
    served = start_server(jurisdiction_id="hp.gov.cn")
    with pytest.raises(DispatchRejected, match="jurisdiction_id was not provided"):
        await make_backend(served.url).submit(ticket())
    with pytest.raises(DispatchRejected, match="HTTP 404"):
        await make_backend(served.url, jurisdiction_id="other.gov.cn").submit(ticket())


# -- odd answers (MockTransport: shapes the fake never sends) -------------------------------


def _mock_backend(handler: httpx.MockTransport) -> Open311Backend:
    return Open311Backend(
        Open311Config(url="https://open311.example.cn/v2", api_key="k"), transport=handler
    )


async def test_4xx_without_error_array_and_redirect_are_rejected() -> None:
    answers = iter(
        [
            httpx.Response(400, text="<html>Bad Request</html>"),
            httpx.Response(301, headers={"location": "https://new.example.cn/v2/requests.json"}),
        ]
    )
    async with _mock_backend(httpx.MockTransport(lambda request: next(answers))) as backend:
        with pytest.raises(DispatchRejected, match=r"HTTP 400.*Bad Request"):
            await backend.submit(ticket())
        with pytest.raises(DispatchRejected, match=r"redirected to https://new\.example\.cn"):
            await backend.submit(ticket())


async def test_the_default_http_layer_follows_no_redirect_and_reads_a_declared_charset(
    make_backend: MakeBackend,
) -> None:
    """The backend's own layer (aiohttp, on real loopback HTTP): a POST answered with a
    redirect is rejected without being replayed at the new address, and an error answer in
    the GBK its Content-Type declares is read."""
    seen: list[str] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        seen.append(f"{scope['method']} {scope['path']}")
        if scope["method"] == "POST":
            status, headers, body = 301, [(b"location", b"/moved/requests.json")], b""
        else:
            status = 403
            headers = [(b"content-type", b"application/json; charset=GBK")]
            body = json.dumps([{"code": 403, "description": "密钥无效"}], ensure_ascii=False)
            body = body.encode("gbk")
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    with serve_asgi(app, lifespan="off") as url:
        backend = make_backend(url + "/v2")
        with pytest.raises(DispatchRejected, match=r"redirected to /moved/requests\.json"):
            await backend.submit(ticket())
        with pytest.raises(DispatchRejected, match=r"refused the API key.*密钥无效"):
            await backend.resolve_token("abc")
    assert seen == ["POST /v2/requests.json", "GET /v2/tokens/abc.json"]


async def test_2xx_that_is_not_an_answer_is_unavailable() -> None:
    answers = iter(
        [httpx.Response(200, text="<html>maintenance</html>"), httpx.Response(200, json=[])]
    )
    async with _mock_backend(httpx.MockTransport(lambda request: next(answers))) as backend:
        with pytest.raises(DispatchUnavailable, match="not JSON"):
            await backend.submit(ticket())
        with pytest.raises(DispatchUnavailable, match="no request object"):
            await backend.submit(ticket())


async def test_spark_wrapped_and_naive_answers_are_understood() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(200, json={"service_requests": {"request": {"token": 12345}}})
        if request.url.path.startswith("/v2/tokens/"):
            return httpx.Response(
                200,
                json={"service_requests": {"request": {"token": 12345, "service_request_id": 7.0}}},
            )
        return httpx.Response(
            200,
            json={
                "service_requests": {
                    "request": {
                        "service_request_id": 7,
                        "status": "CLOSED",
                        "status_notes": "fixed",
                        "updated_datetime": "2024-05-01T10:00:00",
                    }
                }
            },
        )

    async with _mock_backend(httpx.MockTransport(answer)) as backend:
        receipt = await backend.submit(ticket())
        assert (receipt.external_id, receipt.token) == (None, "12345")
        assert await backend.resolve_token("12345") == "7"
        [status] = await backend.poll(["7"])
    assert status.status == "resolved"
    assert status.updated_at == datetime(2024, 5, 1, 10, 0, tzinfo=UTC)


async def test_answers_in_a_declared_charset_are_read() -> None:
    """The spec says UTF-8; a server declaring GBK is still understood."""
    gbk = json.dumps([{"code": 400, "description": "服务代码无效"}], ensure_ascii=False)
    answers = iter(
        [
            httpx.Response(
                400,
                content=gbk.encode("gbk"),
                headers={"content-type": "application/json; charset=GBK"},
            ),
            httpx.Response(200, content=b'\xef\xbb\xbf[{"service_request_id": "9"}]'),
        ]
    )
    async with _mock_backend(httpx.MockTransport(lambda request: next(answers))) as backend:
        with pytest.raises(DispatchRejected, match="服务代码无效"):
            await backend.submit(ticket())
        assert (await backend.submit(ticket())).external_id == "9"
