"""The fake Open311 server keeps to the spec: its answers validate against the shared JSON
schemas, and mySociety's endpoint test vectors pass against it (over real HTTP)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
import pytest

from testing.open311_fake import FakeAttribute, FakeService
from tests.dispatch.conftest import API_KEY, Served, StartServer

jsonschema = pytest.importorskip(
    "jsonschema", reason="jsonschema is not installed (add it to the dev extras)"
)
referencing = pytest.importorskip("referencing")
from referencing.jsonschema import DRAFT7  # noqa: E402 - only once jsonschema is known present

OPEN311 = Path(__file__).resolve().parents[1] / "data" / "shared" / "open311"
SCHEMAS = OPEN311 / "json_schema"
VECTORS = OPEN311 / "mysociety_endpoint_vectors" / "endpoint_t_vectors.json"
FORM = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}

# w3 note datetime, with the offset the spec makes mandatory
_W3C = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)$")


def _format_checker() -> Any:
    """Our own checks for the two formats the schemas use: jsonschema's need extra packages
    and would otherwise be skipped silently."""
    checker = jsonschema.FormatChecker(formats=())

    @checker.checks("date-time")
    def is_datetime(value: object) -> bool:
        if not isinstance(value, str):
            return True
        return bool(_W3C.match(value)) and datetime.fromisoformat(value).tzinfo is not None

    @checker.checks("uri")
    def is_uri(value: object) -> bool:
        if not isinstance(value, str):
            return True
        parts = urlsplit(value)
        return bool(parts.scheme and parts.netloc)

    return checker


class Schemas:
    """The GeoReport v2 schemas (json_schema/ and swagger.json's definitions)."""

    def __init__(self) -> None:
        documents = {p.name: json.loads(p.read_text()) for p in SCHEMAS.glob("*.json")}
        # "$ref": "request.json" resolves against these names.
        self.registry = referencing.Registry().with_resources(
            (name, referencing.Resource.from_contents(doc, default_specification=DRAFT7))
            for name, doc in documents.items()
        )
        self.documents = documents
        self.checker = _format_checker()

    def validator(self, name: str) -> Any:
        schema = self.documents[name]
        return jsonschema.Draft7Validator(
            schema, registry=self.registry, format_checker=self.checker
        )

    def definition(self, name: str) -> Any:
        schema = self.documents["swagger.json"]["definitions"][name]
        return jsonschema.Draft7Validator(schema, format_checker=self.checker)

    def check(self, name: str, instance: Any) -> None:
        self.validator(name).validate(instance)


@pytest.fixture(scope="module")
def schemas() -> Schemas:
    return Schemas()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5.0) as client:
        yield client


async def post(
    http: httpx.AsyncClient, url: str, fields: dict[str, str], **headers: str
) -> httpx.Response:
    return await http.post(
        f"{url}/requests.json", content=urlencode(fields).encode(), headers={**FORM, **headers}
    )


def report(**fields: str) -> dict[str, str]:
    form = {
        "api_key": API_KEY,
        "service_code": "001",
        "address_string": "和平路12号",
        "description": "路灯不亮",
    }
    form.update(fields)
    return form


# -- schema validation ----------------------------------------------------------------------


def test_the_validator_is_not_vacuous(schemas: Schemas) -> None:
    good = {
        "service_request_id": "1",
        "status": "open",
        "service_code": "001",
        "requested_datetime": "2024-05-01T10:00:00+08:00",
    }
    schemas.check("requests.json", [good])
    for bad in (
        {**good, "service_request_id": 1},  # the spec examples' numeric ids
        {**good, "status": "pending"},
        {**good, "requested_datetime": "2024-05-01 10:00"},
        {**good, "media_url": "not a url"},
        {key: value for key, value in good.items() if key != "service_code"},
    ):
        with pytest.raises(jsonschema.ValidationError):
            schemas.check("requests.json", [bad])


async def test_services_answers_match_the_schemas(
    start_server: StartServer, http: httpx.AsyncClient, schemas: Schemas
) -> None:
    for options in ({}, {"token_mode": True}):
        served = start_server(**options)
        response = await http.get(f"{served.url}/services.json")
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json; charset=utf-8"
        services = response.json()
        schemas.check("services.json", services)
        assert [s["service_code"] for s in services] == ["001", "002", "GARBAGE", "POT"]
        assert {s["type"] for s in services} == {"batch" if options else "realtime"}
        assert [s["metadata"] for s in services] == [False, False, False, True]

    definition = (await http.get(f"{served.url}/services/POT.json")).json()
    schemas.check("service-definition.json", definition)
    assert [a["code"] for a in definition["attributes"]] == ["depth", "shape"]
    assert (await http.get(f"{served.url}/services/NOPE.json")).status_code == 404


async def test_request_answers_match_the_schemas(
    served: Served, http: httpx.AsyncClient, schemas: Schemas
) -> None:
    created = []
    for fields in (
        report(),
        report(lat="39.9087", long="116.3975", media_url="https://img.example.cn/1.jpg"),
        report(service_code="GARBAGE", address_string="", address_id="A-77"),
        report(service_code="POT", **{"attribute[depth]": "12", "attribute[shape]": "circle"}),
    ):
        response = await post(http, served.url, fields)
        assert response.status_code == 200, response.text
        body = response.json()
        assert len(body) == 1
        schemas.definition("RequestResponse").validate(body[0])
        created.append(body[0]["service_request_id"])
    assert created == ["1000", "1001", "1002", "1003"]
    served.fake.update_request(
        "1000", status="closed", status_notes="已修复", agency_responsible="市政照明管理处"
    )
    served.fake.update_request("1001", expected_at=served.fake.clock() + 86400)

    everything = (await http.get(f"{served.url}/requests.json")).json()
    schemas.check("requests.json", everything)
    assert sorted(r["service_request_id"] for r in everything) == created
    some = (await http.get(f"{served.url}/requests.json?service_request_id=1003,1000")).json()
    schemas.check("requests.json", some)
    assert [r["service_request_id"] for r in some] == ["1003", "1000"]
    for request_id in created:
        one = (await http.get(f"{served.url}/requests/{request_id}.json")).json()
        schemas.check("requests.json", one)
        assert [r["service_request_id"] for r in one] == [request_id]
    closed = (await http.get(f"{served.url}/requests/1000.json")).json()[0]
    assert (closed["status"], closed["status_notes"]) == ("closed", "已修复")
    empty = (await http.get(f"{served.url}/requests.json?service_code=002")).json()
    assert empty == []
    schemas.check("requests.json", empty)


async def test_token_answers_match_swagger(
    start_server: StartServer, http: httpx.AsyncClient, schemas: Schemas
) -> None:
    served = start_server(token_mode=True, token_lookups_before_id=1)
    [answer] = (await post(http, served.url, report())).json()
    schemas.definition("RequestResponse").validate(answer)
    token = answer["token"]
    assert "service_request_id" not in answer
    assert served.fake.requests == []  # nothing has an id yet

    pending = (await http.get(f"{served.url}/tokens/{token}.json")).json()
    assigned = (await http.get(f"{served.url}/tokens/{token}.json")).json()
    for body in (pending, assigned):
        [record] = body
        schemas.definition("TokenResponse").validate(record)
    assert pending == [{"token": token}]
    assert assigned == [{"service_request_id": "1000", "token": token}]
    schemas.check("requests.json", (await http.get(f"{served.url}/requests/1000.json")).json())


async def test_error_answers_are_the_spec_error_array(
    served: Served, http: httpx.AsyncClient
) -> None:
    cases = [
        (await post(http, served.url, report(api_key="")), 403),
        (await post(http, served.url, report(service_code="")), 400),
        (await post(http, served.url, report(service_code="NOPE")), 404),
        (await http.get(f"{served.url}/requests/424242.json"), 404),
        (await http.get(f"{served.url}/tokens/nope.json"), 404),
        (await http.get(f"{served.url}/services.xml"), 400),
    ]
    for response, status in cases:
        assert response.status_code == status
        assert response.headers["content-type"] == "application/json; charset=utf-8"
        [error] = response.json()
        assert error["code"] == status
        assert isinstance(error["description"], str) and error["description"]
    assert cases[0][0].json()[0]["description"].startswith("Invalid api_key received")


# -- the spec's rules for POST --------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "status", "description"),
    [
        ({"address_string": ""}, 400, "a location"),
        ({"address_string": "", "lat": "39.9"}, 400, "lat and long"),
        ({"lat": "north", "long": "1"}, 400, "lat is not a number"),
        ({"lat": "91", "long": "1"}, 400, "lat is out of range"),
        ({"description": "x" * 4001}, 400, "4000"),
        ({"media_url": "wxmedia:123"}, 400, "media_url"),
        ({"service_code": "POT"}, 400, "attribute depth is required"),
        ({"service_code": "POT", "attribute[depth]": "deep"}, 400, "not a number"),
    ],
)
async def test_post_validation(
    served: Served, http: httpx.AsyncClient, fields: dict[str, str], status: int, description: str
) -> None:
    response = await post(http, served.url, report(**fields))
    assert response.status_code == status
    assert description in response.json()[0]["description"]
    assert served.fake.requests == []


async def test_post_must_be_form_encoded_utf8(served: Served, http: httpx.AsyncClient) -> None:
    as_json = await http.post(f"{served.url}/requests.json", json=report())
    assert as_json.status_code == 400
    assert "x-www-form-urlencoded" in as_json.json()[0]["description"]
    # "路灯" in GBK, raw bytes: not UTF-8.
    gbk = await http.post(
        f"{served.url}/requests.json", content=b"description=" + "路灯".encode("gbk"), headers=FORM
    )
    assert gbk.status_code == 400
    assert "UTF-8" in gbk.json()[0]["description"]


async def test_multivaluelist_attributes(
    start_server: StartServer, http: httpx.AsyncClient
) -> None:
    colours = FakeAttribute(
        "colour", "multivaluelist", required=True, values=(("r", "Red"), ("g", "Green"))
    )
    served = start_server(services=(FakeService("PAINT", "Graffiti", attributes=(colours,)),))
    ok = await http.post(
        f"{served.url}/requests.json",
        content=urlencode(
            [
                ("api_key", API_KEY),
                ("service_code", "PAINT"),
                ("address_string", "x"),
                ("attribute[colour][]", "r"),
                ("attribute[colour][]", "g"),
            ]
        ).encode(),
        headers=FORM,
    )
    assert ok.status_code == 200, ok.text
    assert served.fake.requests[0].attributes == {"colour": ["r", "g"]}
    bad = await post(http, served.url, report(service_code="PAINT", **{"attribute[colour][]": "b"}))
    assert bad.status_code == 400


async def test_idempotency_key_replays_and_refuses_reuse(
    served: Served, http: httpx.AsyncClient
) -> None:
    first = await post(http, served.url, report(), **{"Idempotency-Key": "k1"})
    again = await post(http, served.url, report(), **{"Idempotency-Key": "k1"})
    other = await post(http, served.url, report(description="别的"), **{"Idempotency-Key": "k1"})
    fresh = await post(http, served.url, report())
    assert first.json() == again.json() == [{"service_request_id": "1000"}]
    assert other.status_code == 422
    assert fresh.json() == [{"service_request_id": "1001"}]
    assert [r.idempotency_key for r in served.fake.requests] == ["k1", None]


async def test_jurisdiction_is_enforced_when_configured(
    start_server: StartServer, http: httpx.AsyncClient
) -> None:
    served = start_server(jurisdiction_id="hp.gov.cn")
    assert (await http.get(f"{served.url}/services.json")).status_code == 400
    assert (await http.get(f"{served.url}/services.json?jurisdiction_id=x")).status_code == 404
    ok = await http.get(f"{served.url}/services.json?jurisdiction_id=hp.gov.cn")
    assert ok.status_code == 200
    created = await post(http, served.url, report(jurisdiction_id="hp.gov.cn"))
    assert created.status_code == 200


async def test_get_requests_filters(served: Served, http: httpx.AsyncClient) -> None:
    for code in ("001", "001", "GARBAGE"):
        assert (await post(http, served.url, report(service_code=code))).status_code == 200
    served.fake.update_request("1001", status="closed")

    async def ids(query: str) -> list[str] | int:
        response = await http.get(f"{served.url}/requests.json?{query}")
        if response.status_code != 200:
            return response.status_code
        return sorted(r["service_request_id"] for r in response.json())

    assert await ids("service_code=001") == ["1000", "1001"]
    assert await ids("status=open") == ["1000", "1002"]
    assert await ids("status=open,closed&service_code=GARBAGE,001") == ["1000", "1001", "1002"]
    assert await ids("service_request_id=1002&service_code=001") == ["1002"]  # id overrides
    assert await ids("start_date=2000-01-01T00:00:00Z&end_date=2000-02-01T00:00:00Z") == []
    assert await ids("start_date=2000-01-01T00:00:00Z&end_date=2001-01-01T00:00:00Z") == 400
    assert await ids("start_date=yesterday") == 400
    assert await ids("status=pending") == 400


async def test_faults_and_staff_helpers(served: Served, http: httpx.AsyncClient) -> None:
    served.fake.fail_next(2, status=503, path="/services.json")
    statuses = [(await http.get(f"{served.url}/services.json")).status_code for _ in range(3)]
    assert statuses == [503, 503, 200]
    assert [c.outcome for c in served.fake.calls] == ["fault 503", "fault 503", "ok"]
    with pytest.raises(KeyError):
        served.fake.update_request("nope", status="closed")
    with pytest.raises(ValueError, match="open or closed"):
        served.fake.update_request("1000", status="resolved")


async def test_a_steady_delay_slows_every_call(
    start_server: StartServer, http: httpx.AsyncClient
) -> None:
    served = start_server(delay=0.3)
    started = time.perf_counter()
    assert (await http.get(f"{served.url}/services.json")).status_code == 200
    assert time.perf_counter() - started >= 0.3
    served.fake.delay = 0.0  # changed while serving: the city system is fast again
    started = time.perf_counter()
    assert (await http.get(f"{served.url}/services.json")).status_code == 200
    assert time.perf_counter() - started < 0.3


# -- mySociety's endpoint test vectors --------------------------------------------------------


def _vector_services() -> tuple[FakeService, ...]:
    """The fixture services of mySociety's Endpoint1.pm, as the vectors' expected XML shows."""
    depth = FakeAttribute(
        "depth", "number", required=True, description="depth of pothole, in centimetres"
    )
    shape = FakeAttribute(
        "shape",
        "singlevaluelist",
        description="shape of the pothole",
        order=2,
        datatype_description="square | circle | triangle",
        values=(("circle", "Circle"), ("square", "Square"), ("triangle", "Triangle")),
    )
    return (
        FakeService(
            "POT",
            "Pothole Repairs",
            "Pothole Repairs Service",
            "highways",
            "deep,hole,wow",
            attributes=(depth, shape),
        ),
        FakeService(
            "SPOT",
            "Sorted Pothole Repairs",
            "Sorted Pothole Repairs Service",
            "highways",
            "deep,hole,wow",
            attributes=(depth, shape),
        ),
        FakeService("BIN", "Bin Enforcement", "Bin Enforcement Service", "sanitation", "bin"),
    )


def _json_vectors() -> list[Any]:
    data = json.loads(VECTORS.read_text())
    return [
        (subtest["subtest"], request)
        for subtest in data["subtests"]
        for request in subtest["requests"]
        if urlsplit(request["path"]).path.endswith(".json")
    ]


@pytest.mark.parametrize(
    ("subtest", "vector"),
    _json_vectors(),
    ids=lambda v: v if isinstance(v, str) else v.get("assert_label", ""),
)
async def test_mysociety_endpoint_vectors(
    start_server: StartServer, http: httpx.AsyncClient, subtest: str, vector: dict[str, Any]
) -> None:
    served = start_server(services=_vector_services(), api_keys=("test",))
    if vector["method"] == "POST":
        response = await http.post(
            served.url + vector["path"], content=urlencode(vector["params"]).encode(), headers=FORM
        )
    else:
        response = await http.get(served.url + vector["path"], params=vector["params"])
    succeeded = 200 <= response.status_code < 300
    assert succeeded is vector["expect_success"], (subtest, vector, response.text)
    if not succeeded:
        assert response.json()[0]["description"]
