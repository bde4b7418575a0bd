"""A local Open311 GeoReport v2 server (JSON format), written from the spec, for tests and dev.

:class:`FakeOpen311Server` keeps service requests in memory and serves, as a Starlette app:
``GET services.json``, ``GET services/{code}.json``, ``POST requests.json``,
``GET requests.json``, ``GET requests/{id}.json`` and ``GET tokens/{token}.json``. It checks
what the spec asks of a client (form encoding, ``api_key``, ``service_code``, a location,
required attributes and list values, 4,000-character descriptions, ``jurisdiction_id`` when
configured) and answers errors as the spec's ``[{"code", "description"}]`` array.

Beyond the spec, for tests: a token mode (POST answers a token; the id appears after N token
look-ups), an ``Idempotency-Key`` header honoured on POST (optionally a custom attribute
too), injected faults (the next N calls answer 503, or are delayed past a client's timeout,
before or after the request is created), a steady per-call delay (a slow city system),
and staff-side helpers that change a request's
status and notes. Deliberately not modelled: XML, service discovery, pagination extensions.
"""

from __future__ import annotations

import asyncio
import copy
import enum
import hashlib
import itertools
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

__all__ = [
    "BEIJING",
    "DEFAULT_API_KEY",
    "DEFAULT_SERVICES",
    "FakeAttribute",
    "FakeOpen311Server",
    "FakeService",
    "RecordedCall",
    "StoredRequest",
    "create_app",
]

DEFAULT_API_KEY = "test-open311-api-key"
BEIJING = timezone(timedelta(hours=8), "CST")
_JSON_TYPE = "application/json; charset=utf-8"
_MAX_DESCRIPTION = 4000
_MAX_RESULTS = 1000  # the spec's default query limit
_DEFAULT_SPAN = timedelta(days=90)


@dataclass(frozen=True, slots=True)
class FakeAttribute:
    """One attribute of a service definition; ``values`` are ``(key, name)`` pairs."""

    code: str
    datatype: str = "string"
    required: bool = False
    description: str = ""
    order: int = 1
    variable: bool = True
    datatype_description: str | None = None
    values: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class FakeService:
    """One service type; ``metadata`` is true exactly when it has attributes."""

    service_code: str
    service_name: str
    description: str | None = None
    group: str | None = None
    keywords: str | None = None
    type: str = "realtime"
    service_notice: str | None = None
    attributes: tuple[FakeAttribute, ...] = ()

    @property
    def metadata(self) -> bool:
        return bool(self.attributes)


DEFAULT_SERVICES: tuple[FakeService, ...] = (
    FakeService("STREETLIGHT", "路灯不亮/损坏", "Streetlight out or damaged", "street"),
    FakeService("MANHOLE", "井盖缺失/破损", "Missing or broken manhole cover", "street"),
    FakeService("GARBAGE", "垃圾堆积", "Garbage not collected", "sanitation"),
)


@dataclass(slots=True)
class StoredRequest:
    """A service request as the city keeps it (what staff see and change)."""

    service_request_id: str
    service: FakeService
    status: str
    description: str | None
    address: str | None
    address_id: str | None
    lat: float | None
    long: float | None
    media_url: str | None
    requested_at: float
    updated_at: float
    form: dict[str, list[str]]
    attributes: dict[str, list[str]]
    idempotency_key: str | None = None
    token: str | None = None
    status_notes: str | None = None
    agency_responsible: str | None = None
    service_notice: str | None = None
    expected_at: float | None = None


@dataclass(slots=True)
class RecordedCall:
    """One HTTP call as the fake saw it; ``outcome`` is ``"ok"``, ``"replayed"``,
    ``"http N"`` or ``"fault N"`` once answered (``"pending"`` before)."""

    method: str
    path: str
    query: dict[str, str]
    form: dict[str, list[str]]
    headers: dict[str, str]
    outcome: str = "pending"

    def field(self, name: str) -> str | None:
        """The first value of a posted form field."""
        values = self.form.get(name)
        return values[0] if values else None


@dataclass(slots=True)
class _Fault:
    remaining: int
    status: int | None
    delay: float
    after: bool
    method: str | None
    path: str | None


@dataclass(slots=True)
class _PendingToken:
    lookups_left: int
    request: StoredRequest  # created at POST time; visible under an id once assigned
    assigned: bool = False


class _Unset(enum.Enum):
    UNSET = enum.auto()


_UNSET = _Unset.UNSET


class _Open311Error(Exception):
    def __init__(self, status: int, description: str, code: int | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.code = code if code is not None else status


def _w3c(timestamp: float, tz: tzinfo) -> str:
    return datetime.fromtimestamp(timestamp, tz).isoformat(timespec="seconds")


def _parse_w3c(text: str, name: str) -> float:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise _Open311Error(400, f"{name} is not a w3 datetime: {text!r}") from None
    if parsed.tzinfo is None:
        raise _Open311Error(400, f"{name} must include a timezone")
    return parsed.timestamp()


def _float(form: dict[str, list[str]], name: str, low: float, high: float) -> float | None:
    text = _first(form, name)
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        raise _Open311Error(400, f"{name} is not a number") from None
    if not low <= value <= high:
        raise _Open311Error(400, f"{name} is out of range")
    return value


def _first(form: dict[str, list[str]], name: str) -> str | None:
    values = form.get(name)
    if not values:
        return None
    return values[0].strip() or None  # the spec: an empty parameter is an absent one


def _attributes(form: dict[str, list[str]]) -> dict[str, list[str]]:
    """``attribute[code]=v`` and ``attribute[code][]=v1&attribute[code][]=v2`` by code."""
    found: dict[str, list[str]] = {}
    for name, values in form.items():
        if name.startswith("attribute[") and name.endswith("]"):
            code = name[len("attribute[") : -1]
            code = code.removesuffix("][")
            found.setdefault(code, []).extend(values)
    return found


def _is_url(text: str) -> bool:
    parts = urlsplit(text)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


class FakeOpen311Server:
    """An in-memory Open311 server; ``app`` is the ASGI app (serve it with uvicorn).

    Options: ``api_keys`` accepted on POST; ``jurisdiction_id`` (when set, required on every
    call, as for a server with several jurisdictions); ``token_mode`` with
    ``token_lookups_before_id`` (that many token look-ups answer without an id);
    ``dedupe_attribute`` (also deduplicate POSTs on that custom attribute's value);
    ``multi_id_lookup`` (``False``: refuse several ids in one GET, like some servers);
    ``numeric_ids`` (write ids as JSON numbers, as the spec's examples do); ``delay``
    (seconds every call waits before it is processed, like a slow CRM behind the
    server; may be changed while serving). State is shared
    between the server thread and the test thread under one lock.
    """

    def __init__(
        self,
        *,
        services: Sequence[FakeService] = DEFAULT_SERVICES,
        api_keys: Sequence[str] = (DEFAULT_API_KEY,),
        jurisdiction_id: str | None = None,
        token_mode: bool = False,
        token_lookups_before_id: int = 1,
        dedupe_attribute: str | None = None,
        multi_id_lookup: bool = True,
        numeric_ids: bool = False,
        first_id: int = 1000,
        delay: float = 0.0,
        clock: Callable[[], float] = time.time,
        tz: tzinfo = BEIJING,
    ) -> None:
        self.services = {service.service_code: service for service in services}
        self.api_keys = set(api_keys)
        self.jurisdiction_id = jurisdiction_id
        self.token_mode = token_mode
        self.token_lookups_before_id = token_lookups_before_id
        self.dedupe_attribute = dedupe_attribute
        self.multi_id_lookup = multi_id_lookup
        self.numeric_ids = numeric_ids
        self.delay = delay
        self.clock = clock
        self.tz = tz
        self.calls: list[RecordedCall] = []
        self._mutex = threading.Lock()
        self._requests: dict[str, StoredRequest] = {}
        self._tokens: dict[str, _PendingToken] = {}
        # idempotency key -> (fingerprint of the form, the answer given)
        self._replies: dict[str, tuple[str, list[dict[str, Any]]]] = {}
        self._faults: list[_Fault] = []
        self._ids = itertools.count(first_id)
        self._token_numbers = itertools.count(1)
        self.app = Starlette(
            routes=[
                Route("/services.{fmt}", self._endpoint(self._services), methods=["GET"]),
                Route(
                    "/services/{service_code}.{fmt}",
                    self._endpoint(self._definition),
                    methods=["GET"],
                ),
                Route("/requests.{fmt}", self._endpoint(self._requests_get), methods=["GET"]),
                Route("/requests.{fmt}", self._endpoint(self._requests_post), methods=["POST"]),
                Route(
                    "/requests/{service_request_id}.{fmt}",
                    self._endpoint(self._request_get),
                    methods=["GET"],
                ),
                Route("/tokens/{token}.{fmt}", self._endpoint(self._token_get), methods=["GET"]),
            ]
        )

    # -- control (test and staff side) ------------------------------------------------------

    def fail_next(
        self,
        count: int = 1,
        *,
        status: int | None = 503,
        delay: float = 0.0,
        after: bool = False,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        """The next ``count`` matching calls fail: answer ``status`` (unprocessed), or with
        ``status=None`` be delayed ``delay`` seconds, before processing or (``after``) once
        processed, so a client timing out leaves the request created: the lost answer."""
        with self._mutex:
            self._faults.append(_Fault(count, status, delay, after, method, path))

    def update_request(
        self,
        service_request_id: str,
        *,
        status: str | None = None,
        status_notes: str | _Unset | None = _UNSET,
        agency_responsible: str | _Unset | None = _UNSET,
        service_notice: str | _Unset | None = _UNSET,
        expected_at: float | _Unset | None = _UNSET,
    ) -> StoredRequest:
        """What city staff do: change status (``open``/``closed``) and notes; stamps
        ``updated_datetime``. Raises ``KeyError`` for an unknown id."""
        if status is not None and status not in ("open", "closed"):
            raise ValueError("GeoReport status is open or closed")
        with self._mutex:
            stored = self._requests[service_request_id]
            if status is not None:
                stored.status = status
            if not isinstance(status_notes, _Unset):
                stored.status_notes = status_notes
            if not isinstance(agency_responsible, _Unset):
                stored.agency_responsible = agency_responsible
            if not isinstance(service_notice, _Unset):
                stored.service_notice = service_notice
            if not isinstance(expected_at, _Unset):
                stored.expected_at = expected_at
            stored.updated_at = self.clock()
            return copy.deepcopy(stored)

    @property
    def requests(self) -> list[StoredRequest]:
        """Copies of the requests with an id, in creation order."""
        with self._mutex:
            return [copy.deepcopy(r) for r in self._requests.values()]

    def get_request(self, service_request_id: str) -> StoredRequest:
        with self._mutex:
            return copy.deepcopy(self._requests[service_request_id])

    def calls_to(self, method: str, path: str) -> list[RecordedCall]:
        return [c for c in self.calls if c.method == method and c.path == path]

    def asgi_transport(self) -> httpx.ASGITransport:
        """In-process transport for httpx (no sockets)."""
        return httpx.ASGITransport(app=self.app)

    # -- plumbing ----------------------------------------------------------------------------

    def _endpoint(
        self, handler: Callable[[Request, RecordedCall], Any]
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            body = await request.body()
            form: dict[str, list[str]] = {}
            form_error: str | None = None
            if request.method == "POST":
                form, form_error = self._parse_form(request, body)
            call = RecordedCall(
                request.method,
                request.url.path,
                dict(request.query_params),
                form,
                {k.lower(): v for k, v in request.headers.items()},
            )
            with self._mutex:
                self.calls.append(call)
            fault = self._take_fault(call)
            if fault is not None and fault.status is not None:
                call.outcome = f"fault {fault.status}"
                return self._errors(_Open311Error(fault.status, "injected fault"))
            if fault is not None and not fault.after:
                await asyncio.sleep(fault.delay)
            if self.delay > 0:
                await asyncio.sleep(self.delay)
            try:
                if request.path_params.get("fmt") != "json":
                    raise _Open311Error(400, "this server speaks json only")
                if form_error is not None:
                    raise _Open311Error(400, form_error)
                with self._mutex:
                    answer = handler(request, call)
            except _Open311Error as exc:
                call.outcome = f"http {exc.status}"
                response = self._errors(exc)
            else:
                if call.outcome == "pending":
                    call.outcome = "ok"
                response = JSONResponse(answer, media_type=_JSON_TYPE)
            if fault is not None and fault.after:
                await asyncio.sleep(fault.delay)
            return response

        return endpoint

    @staticmethod
    def _parse_form(request: Request, body: bytes) -> tuple[dict[str, list[str]], str | None]:
        content_type = request.headers.get("content-type", "")
        if content_type.split(";")[0].strip().lower() != "application/x-www-form-urlencoded":
            return {}, "POST body must be application/x-www-form-urlencoded"
        try:
            text = body.decode("utf-8")  # the spec: all text received is UTF-8
        except UnicodeDecodeError:
            return {}, "POST body is not UTF-8"
        form: dict[str, list[str]] = {}
        for name, value in parse_qsl(text, keep_blank_values=True):
            form.setdefault(name, []).append(value)
        return form, None

    def _take_fault(self, call: RecordedCall) -> _Fault | None:
        with self._mutex:
            for fault in self._faults:
                if (fault.method is None or fault.method == call.method) and (
                    fault.path is None or fault.path == call.path
                ):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    @staticmethod
    def _errors(exc: _Open311Error) -> Response:
        body = [{"code": exc.code, "description": exc.description}]
        return JSONResponse(body, status_code=exc.status, media_type=_JSON_TYPE)

    def _check_jurisdiction(self, given: str | None) -> None:
        if self.jurisdiction_id is None:
            return  # one jurisdiction: the spec lets the parameter be ignored
        if not given:
            raise _Open311Error(400, "jurisdiction_id was not provided")
        if given != self.jurisdiction_id:
            raise _Open311Error(404, f"jurisdiction_id {given!r} not found")

    def _id_value(self, service_request_id: str) -> str | int:
        if self.numeric_ids and service_request_id.isdigit():
            return int(service_request_id)
        return service_request_id

    def _record(self, stored: StoredRequest) -> dict[str, Any]:
        """A request as ``request.json`` in the shared schemas describes it."""
        return {
            "service_request_id": self._id_value(stored.service_request_id),
            "status": stored.status,
            "status_notes": stored.status_notes,
            "service_name": stored.service.service_name,
            "service_code": stored.service.service_code,
            "description": stored.description,
            "agency_responsible": stored.agency_responsible,
            "service_notice": stored.service_notice,
            "requested_datetime": _w3c(stored.requested_at, self.tz),
            "updated_datetime": _w3c(stored.updated_at, self.tz),
            "expected_datetime": (
                _w3c(stored.expected_at, self.tz) if stored.expected_at is not None else None
            ),
            "address": stored.address,
            "address_id": stored.address_id,
            "zipcode": None,
            "lat": stored.lat,
            "long": stored.long,
            "media_url": stored.media_url,
        }

    # -- services ----------------------------------------------------------------------------

    def _services(self, request: Request, call: RecordedCall) -> Any:
        self._check_jurisdiction(call.query.get("jurisdiction_id"))
        return [
            {
                "service_code": s.service_code,
                "service_name": s.service_name,
                "description": s.description,
                "metadata": s.metadata,
                "type": "batch" if self.token_mode else s.type,
                "keywords": s.keywords,
                "group": s.group,
            }
            for s in self.services.values()
        ]

    def _definition(self, request: Request, call: RecordedCall) -> Any:
        self._check_jurisdiction(call.query.get("jurisdiction_id"))
        service = self.services.get(request.path_params["service_code"])
        if service is None:
            raise _Open311Error(404, "service_code not found")
        attributes: list[dict[str, Any]] = []
        for a in service.attributes:
            attribute: dict[str, Any] = {
                "variable": a.variable,
                "code": a.code,
                "datatype": a.datatype,
                "required": a.required,
                "datatype_description": a.datatype_description,
                "order": a.order,
                "description": a.description,
            }
            if a.values:
                attribute["values"] = [{"key": k, "name": n} for k, n in a.values]
            attributes.append(attribute)
        return {"service_code": service.service_code, "attributes": attributes}

    # -- POST requests -----------------------------------------------------------------------

    def _requests_post(self, request: Request, call: RecordedCall) -> Any:
        form = call.form
        api_key = _first(form, "api_key")
        if api_key is None or api_key not in self.api_keys:
            raise _Open311Error(
                403, "Invalid api_key received -- can't proceed with create_request."
            )
        self._check_jurisdiction(_first(form, "jurisdiction_id"))

        keys = self._idempotency_keys(call)
        fingerprint = hashlib.sha256(repr(sorted(form.items())).encode()).hexdigest()
        for key in keys:
            seen = self._replies.get(key)
            if seen is not None:
                if seen[0] != fingerprint:
                    raise _Open311Error(422, "Idempotency-Key reused with a different request")
                call.outcome = "replayed"
                return copy.deepcopy(seen[1])

        stored = self._validate_new(form)
        stored.idempotency_key = call.headers.get("idempotency-key")
        if self.token_mode:
            token = f"T{next(self._token_numbers):05d}"
            stored.token = token
            self._tokens[token] = _PendingToken(self.token_lookups_before_id, stored)
            if self.token_lookups_before_id <= 0:
                self._assign(self._tokens[token])
            answer: list[dict[str, Any]] = [{"token": token}]
        else:
            stored.service_request_id = str(next(self._ids))
            self._requests[stored.service_request_id] = stored
            answer = [{"service_request_id": self._id_value(stored.service_request_id)}]
        if stored.service_notice:
            answer[0]["service_notice"] = stored.service_notice
        for key in keys:
            self._replies[key] = (fingerprint, copy.deepcopy(answer))
        return answer

    def _idempotency_keys(self, call: RecordedCall) -> list[str]:
        keys: list[str] = []
        header = call.headers.get("idempotency-key", "").strip()
        if header:
            keys.append(f"header:{header}")
        if self.dedupe_attribute:
            value = _first(call.form, f"attribute[{self.dedupe_attribute}]")
            if value:
                keys.append(f"attribute:{value}")
        return keys

    def _validate_new(self, form: dict[str, list[str]]) -> StoredRequest:
        code = _first(form, "service_code")
        if code is None:
            raise _Open311Error(400, "service_code was not provided")
        service = self.services.get(code)
        if service is None:
            raise _Open311Error(404, f"service_code {code!r} not found")
        lat = _float(form, "lat", -90.0, 90.0)
        long = _float(form, "long", -180.0, 180.0)
        if (lat is None) != (long is None):
            raise _Open311Error(400, "lat and long must be sent together")
        address = _first(form, "address_string")
        address_id = _first(form, "address_id")
        if lat is None and address is None and address_id is None:
            raise _Open311Error(
                400, "a location (lat & long, address_string or address_id) is required"
            )
        description = _first(form, "description")
        if description is not None and len(description) > _MAX_DESCRIPTION:
            raise _Open311Error(400, "description is longer than 4000 characters")
        media_url = _first(form, "media_url")
        if media_url is not None and not _is_url(media_url):
            raise _Open311Error(400, "media_url is not a URL")
        attributes = _attributes(form)
        self._check_attributes(service, attributes)
        now = self.clock()
        return StoredRequest(
            service_request_id="",
            service=service,
            status="open",
            description=description,
            address=address,
            address_id=address_id,
            lat=lat,
            long=long,
            media_url=media_url,
            requested_at=now,
            updated_at=now,
            form={k: list(v) for k, v in form.items()},
            attributes=attributes,
            service_notice=service.service_notice,
        )

    @staticmethod
    def _check_attributes(service: FakeService, given: dict[str, list[str]]) -> None:
        # Attributes the definition does not name are let through (mySociety's endpoint does
        # the same): that is what lets clients send their own reference attributes.
        for attribute in service.attributes:
            values = [v for v in given.get(attribute.code, []) if v.strip()]
            if not values:
                if attribute.required:
                    raise _Open311Error(400, f"attribute {attribute.code} is required")
                continue
            if attribute.datatype in ("singlevaluelist", "multivaluelist"):
                if attribute.datatype == "singlevaluelist" and len(values) > 1:
                    raise _Open311Error(400, f"attribute {attribute.code} takes one value")
                keys = {key for key, _ in attribute.values}
                bad = [v for v in values if v not in keys]
                if bad:
                    raise _Open311Error(
                        400, f"attribute {attribute.code}: {bad[0]!r} is not an option"
                    )
            elif attribute.datatype == "number":
                try:
                    float(values[0])
                except ValueError:
                    raise _Open311Error(
                        400, f"attribute {attribute.code} is not a number"
                    ) from None
            elif attribute.datatype == "datetime":
                _parse_w3c(values[0], f"attribute {attribute.code}")

    # -- GET requests, tokens ----------------------------------------------------------------

    def _requests_get(self, request: Request, call: RecordedCall) -> Any:
        query = call.query
        self._check_jurisdiction(query.get("jurisdiction_id"))
        ids_param = query.get("service_request_id", "").strip()
        if ids_param:
            ids = [i.strip() for i in ids_param.split(",") if i.strip()]
            if len(ids) > 1 and not self.multi_id_lookup:
                raise _Open311Error(400, "service_request_id takes one id on this server")
            # "This overrides all other arguments."
            return [self._record(self._requests[i]) for i in ids if i in self._requests]
        codes = {c.strip() for c in query.get("service_code", "").split(",") if c.strip()}
        statuses = {s.strip() for s in query.get("status", "").split(",") if s.strip()}
        if statuses - {"open", "closed"}:
            raise _Open311Error(400, "status must be open or closed")
        end = _parse_w3c(query["end_date"], "end_date") if query.get("end_date") else None
        start = _parse_w3c(query["start_date"], "start_date") if query.get("start_date") else None
        span = _DEFAULT_SPAN.total_seconds()
        if start is not None and end is not None and end - start > span:
            raise _Open311Error(400, "start_date to end_date may not span more than 90 days")
        if end is None:
            end = start + span if start is not None else self.clock()
        if start is None:
            start = end - span
        found = [
            r
            for r in self._requests.values()
            if (not codes or r.service.service_code in codes)
            and (not statuses or r.status in statuses)
            and start <= r.requested_at <= end
        ]
        found.sort(key=lambda r: r.requested_at, reverse=True)
        return [self._record(r) for r in found[:_MAX_RESULTS]]

    def _request_get(self, request: Request, call: RecordedCall) -> Any:
        self._check_jurisdiction(call.query.get("jurisdiction_id"))
        stored = self._requests.get(request.path_params["service_request_id"])
        if stored is None:
            raise _Open311Error(404, "service_request_id not found")
        return [self._record(stored)]

    def _token_get(self, request: Request, call: RecordedCall) -> Any:
        self._check_jurisdiction(call.query.get("jurisdiction_id"))
        token = request.path_params["token"]
        pending = self._tokens.get(token)
        if pending is None:
            raise _Open311Error(404, "token not found")
        if not pending.assigned:
            if pending.lookups_left > 0:
                pending.lookups_left -= 1
                return [{"token": token}]
            self._assign(pending)
        return [
            {
                "service_request_id": self._id_value(pending.request.service_request_id),
                "token": token,
            }
        ]

    def _assign(self, pending: _PendingToken) -> None:
        if pending.assigned:
            return
        stored = pending.request
        stored.service_request_id = str(next(self._ids))
        self._requests[stored.service_request_id] = stored
        pending.assigned = True


def create_app() -> Starlette:
    """A fake server with the default services and API key, for ``uvicorn --factory``."""
    return FakeOpen311Server().app
