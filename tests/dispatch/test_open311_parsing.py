"""The Open311 client's pure parts: parsing (the spec's own examples), status mapping, config."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from core.errors import ConfigurationError
from core.settings import Settings
from integrations.dispatch.open311 import (
    Open311Config,
    Open311ErrorItem,
    load_service_map,
    map_georeport_status,
    parse_errors,
    parse_json,
    parse_service_requests,
    parse_submit_response,
    parse_token_response,
)

OPEN311 = Path(__file__).resolve().parents[1] / "data" / "shared" / "open311"
EXAMPLES = OPEN311 / "spec_examples"
PST = timezone(timedelta(hours=-8))


def example(name: str) -> str:
    return (EXAMPLES / name).read_text(encoding="utf-8")


def http_body(text: str) -> str:
    """The body of an example written as an HTTP answer (status line, blank line, body)."""
    return text.split("\n\n", 1)[1]


# -- the spec's examples --------------------------------------------------------------------


def test_every_json_example_is_read_even_the_invalid_ones() -> None:
    """INDEX.json marks three JSON examples as not strict JSON (``"service_code":001``)."""
    index = json.loads(example("INDEX.json"))
    json_files = [entry["file"] for entry in index if entry["format"] == "json"]
    assert len(json_files) == 6
    not_strict = [entry["file"] for entry in index if isinstance(entry["parses"], str)]
    assert len(not_strict) == 3
    for name in json_files:
        assert parse_json(example(Path(name).name)) is not None


def test_leading_zero_codes_are_kept_as_strings() -> None:
    services = parse_json(example("01_GET_Service_List_Example_Response.json"))
    assert [s["service_code"] for s in services] == ["001", "002", "003"]
    assert services[0]["metadata"] is True  # the rest is ordinary JSON


def test_post_response_example() -> None:
    receipt = parse_submit_response(
        parse_json(example("06_POST_Service_Request_Example_Response.json"))
    )
    assert receipt.external_id == "293944"  # a JSON number in the example
    assert receipt.token is None
    assert receipt.status == "dispatched"
    assert receipt.note is not None and receipt.note.startswith("The City will inspect")


def test_token_response_example() -> None:
    body = parse_json(example("08_GET_service_request_id_from_a_token_Example_Response.json"))
    assert parse_token_response(body) == "638344"
    assert parse_token_response(body, "12345") == "638344"  # the token is a number there
    assert parse_token_response(body, "99999") is None


def test_service_requests_example() -> None:
    body = parse_json(example("10_GET_Service_Requests_Example_Response.json"))
    statuses = parse_service_requests(body)
    assert [(s.external_id, s.status, s.note) for s in statuses] == [
        ("638344", "rejected", "Duplicate request."),  # closed as a duplicate
        ("638349", "dispatched", None),
    ]
    assert statuses[0].updated_at == datetime(2010, 4, 14, 6, 37, 38, tzinfo=PST)


def test_service_request_example() -> None:
    body = parse_json(example("12_GET_Service_Request_Example_Response.json"))
    [status] = parse_service_requests(body)
    assert (status.external_id, status.status) == ("638344", "rejected")


def test_error_example() -> None:
    text = example("14_Errors_Example_Response.txt")
    assert text.startswith("HTTP/1.1 403 Forbidden")
    errors = parse_errors(parse_json(http_body(text)))
    assert errors == [
        Open311ErrorItem("403", "Invalid api_key received -- can't proceed with create_request.")
    ]
    assert str(errors[0]) == "403: Invalid api_key received -- can't proceed with create_request."


def test_service_definition_example_is_strict_json() -> None:
    definition = parse_json(example("03_GET_Service_Definition_Example_Response.json"))
    assert definition["service_code"] == "DMV66"


# -- tolerance ------------------------------------------------------------------------------


def test_lenient_json_leaves_strings_and_valid_numbers_alone() -> None:
    text = '{"a": "x:001,", "b": [007, 100, 0, 0.5, -012], "c":  08.50 , "d": "\\"01"}'
    assert parse_json(text) == {
        "a": "x:001,",
        "b": ["007", 100, 0, 0.5, "-012"],
        "c": "08.50",
        "d": '"01',
    }
    assert parse_json(b'\xef\xbb\xbf[{"token": 1}]') == [{"token": 1}]  # a BOM
    with pytest.raises(ValueError):
        parse_json("<html>")


@pytest.mark.parametrize(
    "body",
    [
        [{"service_request_id": "42"}],
        [{"service_request_id": 42}],
        [{"service_request_id": 42.0}],
        {"service_request_id": 42},
        {"service_requests": [{"service_request_id": " 42 "}]},
        {"service_requests": {"request": {"service_request_id": 42}}},
        {"service_requests": {"request": [{"service_request_id": 42}]}},
    ],
)
def test_ids_as_numbers_or_strings_in_any_wrapping(body: object) -> None:
    assert parse_submit_response(body).external_id == "42"


def test_token_and_blackbox_receipts() -> None:
    assert parse_submit_response([{"token": "abc", "service_notice": ""}]).token == "abc"
    blackbox = parse_submit_response([{"service_notice": "We will look into it"}])
    assert (blackbox.external_id, blackbox.token, blackbox.status) == (None, None, "dispatched")
    assert blackbox.note == "We will look into it"
    with pytest.raises(ValueError):
        parse_submit_response([])
    with pytest.raises(ValueError):
        parse_submit_response({"service_requests": ""})  # Spark's empty element


def test_token_not_yet_assigned() -> None:
    assert parse_token_response([{"token": "T1"}]) is None
    assert parse_token_response([{"token": "T1", "service_request_id": None}]) is None
    assert parse_token_response([{"token": "T1", "service_request_id": ""}]) is None
    assert parse_token_response([]) is None


def test_records_without_id_or_with_unknown_status_are_skipped() -> None:
    body = [
        {"status": "open"},
        {"service_request_id": "1", "status": "pending_review"},
        {"service_request_id": True, "status": "open"},
        {"service_request_id": "2", "status": "open", "updated_datetime": "not a date"},
        "garbage",
    ]
    [status] = parse_service_requests(body)
    assert (status.external_id, status.status, status.updated_at) == ("2", "dispatched", None)


def test_naive_datetimes_take_the_configured_zone() -> None:
    beijing = timezone(timedelta(hours=8))
    body = [{"service_request_id": "1", "status": "open", "requested_datetime": "2024-05-01T10:00"}]
    assert parse_service_requests(body)[0].updated_at == datetime(2024, 5, 1, 10, tzinfo=UTC)
    [status] = parse_service_requests(body, naive_timezone=beijing)
    assert status.updated_at == datetime(2024, 5, 1, 2, tzinfo=UTC)  # fell back to requested


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            [{"code": 400, "description": "service_code was not provided"}],
            ["400: service_code was not provided"],
        ),
        ({"errors": {"error": {"code": "404", "description": "not found"}}}, ["404: not found"]),
        ([{"description": "only a description"}], ["only a description"]),
        ([{"code": 400}, {"code": None, "description": None}], ["400"]),
        ({"message": "not the spec"}, []),
    ],
)
def test_error_arrays(body: object, expected: list[str]) -> None:
    assert [str(e) for e in parse_errors(body)] == expected


# -- status mapping -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "notes", "ours"),
    [
        ("open", None, "dispatched"),
        ("open", "  ", "dispatched"),
        ("open", "Crew assigned", "in_progress"),
        ("OPEN", "维修人员已出发", "in_progress"),
        ("closed", None, "resolved"),
        ("closed", "Pothole filled", "resolved"),
        ("closed", "已修复", "resolved"),
        ("closed", "Duplicate request.", "rejected"),
        ("closed", "Rejected: not enough detail", "rejected"),
        ("closed", "Not the council's responsibility", "rejected"),
        ("closed", "重复工单，已合并", "rejected"),
        ("closed", "不属于本部门职责", "rejected"),
        ("closed", "经核实不予受理", "rejected"),
        ("fixed", None, "resolved"),
        ("in_progress", None, "in_progress"),
        ("duplicate", None, "rejected"),
        ("pending_review", None, None),
        (None, None, None),
    ],
)
def test_status_mapping(status: str | None, notes: str | None, ours: str | None) -> None:
    assert map_georeport_status(status, notes) == ours


# -- configuration --------------------------------------------------------------------------


def test_service_map_keeps_codes_as_written(tmp_path: Path) -> None:
    path = tmp_path / "services.yaml"
    path.write_text(
        "# taxonomy id: Open311 service_code\n"
        "report.streetlight: 001\n"
        "report.manhole: '002'\n"
        "report.garbage: GARBAGE\n"
        "report.noise: 1.50\n"
        "'*': OTHER\n",
        encoding="utf-8",
    )
    assert load_service_map(path) == {
        "report.streetlight": "001",
        "report.manhole": "002",
        "report.garbage": "GARBAGE",
        "report.noise": "1.50",
        "*": "OTHER",
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "non-empty mapping"),
        ("- a\n- b\n", "non-empty mapping"),
        ("report.x: [1, 2]\n", "one service code"),
        ("report.x: ''\n", "one service code"),
        ("report.x: {a: 1}\n", "one service code"),
        ("report.x: : :\n  - ]", "not valid YAML"),
        # Tags are not interpreted at all: nothing is built, let alone run.
        ("report.x: !!python/object/apply:os.system ['echo owned']\n", "one service code"),
    ],
)
def test_bad_service_maps(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "services.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigurationError, match=message):
        load_service_map(path)


def test_missing_service_map_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"OPEN311_SERVICE_MAP .*cannot read"):
        load_service_map(tmp_path / "nope.yaml")


def _config(environ: dict[str, str]) -> Open311Config | None:
    """The client's configuration as a process builds it: from the one settings object."""
    return Open311Config.from_settings(Settings.read(environ).open311)


def test_config_from_the_settings(tmp_path: Path) -> None:
    assert _config({}) is None
    path = tmp_path / "map.yaml"
    path.write_text("report.streetlight: 001\n", encoding="utf-8")
    config = _config(
        {
            "OPEN311_URL": "https://open311.hp.gov.cn/dev/v2/",
            "OPEN311_API_KEY": "k-123",
            "OPEN311_JURISDICTION_ID": "hp.gov.cn",
            "OPEN311_SERVICE_MAP": str(path),
        }
    )
    assert config is not None
    assert config.url == "https://open311.hp.gov.cn/dev/v2"
    assert config.api_key == "k-123"
    assert config.jurisdiction_id == "hp.gov.cn"
    assert dict(config.service_map) == {"report.streetlight": "001"}
    assert config.format == "json"
    assert config.ticket_attribute == "intake_ticket_id"
    assert "k-123" not in repr(config)
    with pytest.raises(TypeError):
        config.service_map["x"] = "y"  # type: ignore[index]

    defaults = _config(
        {
            "OPEN311_URL": "http://127.0.0.1:9/v2",
            "OPEN311_API_KEY": "k",
            "OPEN311_TICKET_ATTRIBUTE": "",
        }
    )
    assert defaults is not None
    assert defaults.service_map == {}
    assert defaults.jurisdiction_id is None
    assert defaults.ticket_attribute is None


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"OPEN311_URL": "https://x/v2"}, "OPEN311_API_KEY is not set"),
        ({"OPEN311_URL": "ftp://x/v2", "OPEN311_API_KEY": "k"}, "http:// or https://"),
        ({"OPEN311_URL": "https://x/v2/requests.json", "OPEN311_API_KEY": "k"}, "endpoint base"),
        (
            {"OPEN311_URL": "https://x", "OPEN311_API_KEY": "k", "OPEN311_POLL_SECONDS": "soon"},
            "INTAKE_DISPATCH_POLL_SECONDS: Input should be a valid number",
        ),
        (
            {"OPEN311_URL": "https://x", "OPEN311_API_KEY": "k", "OPEN311_POLL_SECONDS": "0"},
            "INTAKE_DISPATCH_POLL_SECONDS: Input should be greater than 0",
        ),
        (
            {"OPEN311_URL": "https://x", "OPEN311_API_KEY": "k", "OPEN311_FORMAT": "xml"},
            "OPEN311_FORMAT: Input should be 'json'",
        ),
        (
            {
                "OPEN311_URL": "https://x",
                "OPEN311_API_KEY": "k",
                "OPEN311_SERVICE_MAP": "/nonexistent/m.yaml",
            },
            "cannot read",
        ),
    ],
)
def test_bad_config(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        _config(environ)
