"""Open311 GeoReport v2 client: tickets become service requests on a city's Open311 server.

``submit`` posts ``{url}/requests.json`` (form-encoded, as the spec requires), ``resolve_token``
turns a batch server's token into a ``service_request_id``, and ``poll`` reads statuses back
with ``GET {url}/requests.json?service_request_id=a,b,c`` and maps them to our vocabulary
(see :func:`map_georeport_status` for the heuristic). Only the JSON format is spoken.

Failures are translated at this boundary: timeouts, connection errors, 408/425/429 and 5xx
become :class:`DispatchUnavailable` (retry later with the same key); other 4xx answers become
:class:`DispatchRejected` carrying the server's error descriptions (403: the API key).

Idempotency: GeoReport v2 has no idempotency field, so ``submit`` sends the two hints a
server may honour: an ``Idempotency-Key`` header (the IETF httpapi draft) and the ticket id as
a custom attribute (``attribute[intake_ticket_id]``, which the spec's ``attribute[code]`` form
lets through on servers that accept unknown attributes). On a server honouring neither, a
retry after a lost answer can create a second request: delivery is then at-least-once.

Quirks tolerated in answers: ids and tokens as numbers or strings; the spec's own examples'
invalid JSON (``"service_code":001``: numbers with leading zeros are read as strings, keeping
the zeros); one-element arrays, bare objects and Spark-convention wrappers
(``{"service_requests": {"request": …}}``); naive datetimes (taken in ``naive_timezone``).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote, urlencode

import httpx
import yaml

from core.errors import ConfigurationError
from integrations.dispatch.base import (
    DispatchBackend,
    DispatchReceipt,
    DispatchRejected,
    DispatchRequest,
    DispatchUnavailable,
    ExternalStatus,
)
from integrations.http_calls import Answer, CallFailed, ClosesItsCalls, HTTPCalls

if TYPE_CHECKING:
    from core.settings import Open311Settings

__all__ = [
    "DEFAULT_TIMEOUT",
    "ENV_API_KEY",
    "ENV_FORMAT",
    "ENV_JURISDICTION_ID",
    "ENV_SERVICE_MAP",
    "ENV_TICKET_ATTRIBUTE",
    "ENV_URL",
    "Open311Backend",
    "Open311Config",
    "Open311ErrorItem",
    "load_service_map",
    "map_georeport_status",
    "parse_errors",
    "parse_json",
    "parse_service_requests",
    "parse_submit_response",
    "parse_token_response",
]

log = logging.getLogger(__name__)

ENV_URL = "OPEN311_URL"
ENV_API_KEY = "OPEN311_API_KEY"
ENV_JURISDICTION_ID = "OPEN311_JURISDICTION_ID"
ENV_SERVICE_MAP = "OPEN311_SERVICE_MAP"
ENV_FORMAT = "OPEN311_FORMAT"
ENV_TICKET_ATTRIBUTE = "OPEN311_TICKET_ATTRIBUTE"

#: City servers are often slow (a CRM behind them), but a stuck call must not hold the outbox.
DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=20.0, write=10.0, pool=5.0)
#: The spec limits ``description`` to 4,000 characters; longer text would only earn a 400.
MAX_DESCRIPTION = 4000
#: A catch-all entry of the service map, for categories without their own line.
SERVICE_MAP_DEFAULT_KEY = "*"

_FORM_CONTENT_TYPE = "application/x-www-form-urlencoded; charset=utf-8"
_ACCEPT_JSON = MappingProxyType({"Accept": "application/json"})
_TRANSIENT_STATUSES = frozenset({408, 425, 429})
_MAX_ERROR_TEXT = 500


# -- configuration -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Open311Config:
    """Where the Open311 server is and how to talk to it (see ``docs/dispatch.md``).

    ``url`` is the endpoint base, the part before ``requests.json`` (``…/dev/v2``).
    ``service_map`` maps our taxonomy ids to the server's service codes (empty: the taxonomy
    id is the service code). ``ticket_attribute`` names the custom attribute carrying our
    ticket id (``None``: not sent, for servers that refuse unknown attributes).
    """

    url: str
    api_key: str = field(repr=False)
    jurisdiction_id: str | None = None
    service_map: Mapping[str, str] = field(default_factory=dict)
    format: Literal["json"] = "json"
    ticket_attribute: str | None = "intake_ticket_id"
    poll_batch_size: int = 50

    def __post_init__(self) -> None:
        url = self.url.strip().rstrip("/")
        if not url.startswith(("https://", "http://")):
            raise ConfigurationError(f"{ENV_URL} must start with http:// or https://, got {url!r}")
        if url.endswith(("/requests.json", "/requests.xml", "/requests")):
            raise ConfigurationError(
                f"{ENV_URL} is the endpoint base, without /requests.json (got {url!r})"
            )
        if not self.api_key:
            raise ConfigurationError(f"{ENV_API_KEY} is not set (the Open311 server requires it)")
        if self.format != "json":
            raise ConfigurationError(f"{ENV_FORMAT}: only json is supported, got {self.format!r}")
        if self.poll_batch_size < 1:
            raise ConfigurationError("poll_batch_size must be at least 1")
        object.__setattr__(self, "url", url)
        object.__setattr__(self, "jurisdiction_id", self.jurisdiction_id or None)
        object.__setattr__(self, "ticket_attribute", self.ticket_attribute or None)
        # A read-only copy: the config is shared by every request of the process.
        object.__setattr__(self, "service_map", MappingProxyType(dict(self.service_map)))

    @classmethod
    def from_settings(cls, section: Open311Settings) -> Open311Config | None:
        """From the settings' ``open311`` section; ``None`` when ``OPEN311_URL`` is unset.

        Raises :class:`ConfigurationError` (one line) when a value is unusable.
        """
        if not section.url:
            return None
        return cls(
            url=section.url,
            api_key=section.api_key or "",
            jurisdiction_id=section.jurisdiction_id,
            service_map=load_service_map(section.service_map) if section.service_map else {},
            format=section.format,
            ticket_attribute=section.ticket_attribute,
        )


def load_service_map(path: str | Path) -> dict[str, str]:
    """Read a YAML mapping ``taxonomy id: service code`` (``"*"``: the code for the rest).

    Every scalar is read as text, so ``report.garbage: 001`` keeps its leading zeros (plain
    YAML would read the number 1). Raises :class:`ConfigurationError` on any problem.
    """
    where = f"{ENV_SERVICE_MAP} {str(path)!r}"
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"{where}: cannot read ({exc.__class__.__name__})") from None
    # BaseLoader builds nothing but str/list/dict (no tags, no objects): safe, and it keeps
    # every code as written. Driven directly because yaml.load(Loader=BaseLoader) is flagged.
    loader = yaml.BaseLoader(text)
    try:
        data = loader.get_single_data()
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"{where}: not valid YAML ({exc.__class__.__name__})") from None
    finally:
        loader.dispose()
    if not isinstance(data, dict) or not data:
        raise ConfigurationError(f"{where}: expected a non-empty mapping of taxonomy id: code")
    service_map: dict[str, str] = {}
    for key, value in data.items():
        if not isinstance(key, str) or not isinstance(value, str) or not value.strip():
            raise ConfigurationError(f"{where}: entry {key!r} must map to one service code")
        service_map[key.strip()] = value.strip()
    return service_map


# -- parsing (pure functions, also used on the spec's examples) -------------------------------


@dataclass(frozen=True, slots=True)
class Open311ErrorItem:
    """One entry of the spec's error array ``[{"code": …, "description": …}]``."""

    code: str | None
    description: str | None

    def __str__(self) -> str:
        if self.code and self.description:
            return f"{self.code}: {self.description}"
        return self.description or self.code or "unspecified error"


# A JSON string (skipped as a whole), or a number with a leading zero where a value starts.
_LEADING_ZERO_NUMBER = re.compile(
    r'"(?:\\.|[^"\\])*"|(?<=[:\[,])(\s*)(-?0\d+(?:\.\d+)?)(?=\s*[,\]}])'
)


def _quote_leading_zero_numbers(text: str) -> str:
    def replace(match: re.Match[str]) -> str:
        if match.group(2) is None:
            return match.group(0)
        return f'{match.group(1)}"{match.group(2)}"'

    return _LEADING_ZERO_NUMBER.sub(replace, text)


def parse_json(raw: str | bytes) -> Any:
    """``json.loads``, but numbers written with leading zeros become strings.

    The spec's own examples send ``"service_code":001`` (not JSON); servers copied them. Strict
    parsing is tried first, so valid JSON is never altered. Raises ``ValueError`` otherwise.
    """
    text = raw.decode("utf-8-sig") if isinstance(raw, bytes) else raw
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return json.loads(_quote_leading_zero_numbers(text))


_WRAPPERS = frozenset({"service_requests", "request", "errors", "error", "services", "service"})


def _records(body: Any) -> list[dict[str, Any]]:
    """The objects of an answer, whatever wrapping the server chose.

    The spec answers arrays (one element for POST, tokens and single requests), but XML-to-
    JSON conversions following the Spark convention wrap them (``{"service_requests":
    {"request": …}}``) and collapse one-element arrays into the bare object.
    """
    if isinstance(body, list):
        return [record for item in body for record in _records(item)]
    if isinstance(body, dict):
        if len(body) == 1:
            ((key, value),) = body.items()
            if key in _WRAPPERS:
                return _records(value) if isinstance(value, list | dict) else []
        return [body]
    return []


def _text(value: Any) -> str | None:
    """A non-empty string from a string or a number; ``None`` for null, empty or other."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # 638344.0 from a sloppy serializer is still id 638344
    if isinstance(value, str | int | float):
        text = str(value).strip()
        return text or None
    return None


def _datetime(value: Any, naive_timezone: tzinfo) -> datetime | None:
    text = _text(value)
    if text is None:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        # The spec requires an offset; a server that leaves it out means its own zone.
        parsed = parsed.replace(tzinfo=naive_timezone)
    return parsed


def parse_errors(body: Any) -> list[Open311ErrorItem]:
    """The spec's error array (or a wrapped / single-object variant) as items."""
    items: list[Open311ErrorItem] = []
    for record in _records(body):
        code, description = _text(record.get("code")), _text(record.get("description"))
        if code is not None or description is not None:
            items.append(Open311ErrorItem(code, description))
    return items


def parse_submit_response(body: Any) -> DispatchReceipt:
    """``[{"service_request_id": …}]`` or ``[{"token": …}]`` (token flow) → receipt.

    A blackbox service answers neither; the receipt then has neither (``status`` is still
    ``dispatched``: the server took the request). ``service_notice`` becomes the note.
    Raises ``ValueError`` when the answer has no request object at all.
    """
    records = _records(body)
    if not records:
        raise ValueError("POST answer holds no request object")
    record = records[0]
    external_id = _text(record.get("service_request_id"))
    token = None if external_id is not None else _text(record.get("token"))
    return DispatchReceipt(
        external_id=external_id,
        token=token,
        status="dispatched",
        note=_text(record.get("service_notice")),
    )


def parse_token_response(body: Any, token: str | None = None) -> str | None:
    """The ``service_request_id`` a token answer assigns, or ``None`` when not yet assigned.

    With ``token`` given, a record naming another token is ignored (a server answering a
    list of tokens); records without a token field are taken as answering ours.
    """
    for record in _records(body):
        record_token = _text(record.get("token"))
        if token is not None and record_token is not None and record_token != token:
            continue
        external_id = _text(record.get("service_request_id"))
        if external_id is not None:
            return external_id
    return None


# Markers in closing notes meaning "refused / not handled" rather than "fixed", lowercase.
# A heuristic on free text: a note like "not a duplicate, repaired" is misread as rejected.
_REJECTION_MARKERS = (
    "duplicate",
    "reject",
    "declined",
    "refused",
    "invalid",
    "spam",
    "not our responsibility",
    "not councils responsibility",
    "not council's responsibility",
    "not the council's",
    "not responsible",
    "wrong jurisdiction",
    "outside our jurisdiction",
    "out of scope",
    "no further action",
    "no action taken",
    "unable to",
    "cannot be",
    "重复",
    "驳回",
    "退回",
    "不予",
    "不受理",
    "不属于",
    "非本部门",
    "无效",
    "拒绝",
    "无法办理",
    "无法处理",
)

# Non-standard status values seen in the wild (mySociety's extended statuses, FixMyStreet,
# SeeClickFix); anything else is skipped with a warning rather than guessed.
_EXTENDED_STATUSES = {
    "acknowledged": "in_progress",
    "in_progress": "in_progress",
    "in progress": "in_progress",
    "investigating": "in_progress",
    "action_scheduled": "in_progress",
    "fixed": "resolved",
    "resolved": "resolved",
    "duplicate": "rejected",
    "rejected": "rejected",
    "not_councils_responsibility": "rejected",
    "no_further_action": "rejected",
    "unable_to_fix": "rejected",
}


def map_georeport_status(status: str | None, status_notes: str | None) -> str | None:
    """Map a GeoReport ``status`` (+ ``status_notes``) to our vocabulary.

    - ``open`` without notes → ``dispatched`` (the city has it, nobody said more);
    - ``open`` with notes → ``in_progress`` (staff wrote something: work has started);
    - ``closed`` → ``resolved``, unless the notes carry a rejection marker (duplicate,
      rejected, not our responsibility, 重复, 驳回, 不予受理, …) → ``rejected``;
    - a few non-standard values (``fixed``, ``in_progress``, ``duplicate``, …) by table;
    - anything else → ``None`` (the caller skips the record).

    ``reopened`` is never produced: it needs the previous status, which the ticket service
    has and this stateless mapping does not (open after resolved means reopened there).
    """
    value = (status or "").strip().lower()
    notes = (status_notes or "").strip()
    if value == "open":
        return "in_progress" if notes else "dispatched"
    if value == "closed":
        lowered = notes.lower()
        if any(marker in lowered for marker in _REJECTION_MARKERS):
            return "rejected"
        return "resolved"
    return _EXTENDED_STATUSES.get(value)


def _note(status_notes: str | None, agency: str | None) -> str | None:
    if status_notes and agency:
        return f"{agency}: {status_notes}"
    return status_notes or agency


def parse_service_requests(body: Any, *, naive_timezone: tzinfo = UTC) -> list[ExternalStatus]:
    """GET requests / GET request answers → statuses in our vocabulary.

    Records without an id or with an unmappable status are skipped (logged). The note is
    ``status_notes``, prefixed by ``agency_responsible`` when the server names one;
    ``updated_at`` is ``updated_datetime``, else ``requested_datetime``, else ``None``.
    """
    statuses: list[ExternalStatus] = []
    for record in _records(body):
        external_id = _text(record.get("service_request_id"))
        if external_id is None:
            continue
        raw_status = _text(record.get("status"))
        notes = _text(record.get("status_notes"))
        ours = map_georeport_status(raw_status, notes)
        if ours is None:
            log.warning(
                "Open311 request %s has unknown status %r; skipped", external_id, raw_status
            )
            continue
        statuses.append(
            ExternalStatus(
                external_id=external_id,
                status=ours,
                note=_note(notes, _text(record.get("agency_responsible"))),
                updated_at=_datetime(record.get("updated_datetime"), naive_timezone)
                or _datetime(record.get("requested_datetime"), naive_timezone),
            )
        )
    return statuses


# -- the backend -----------------------------------------------------------------------------


def _decode(answer: Answer) -> str:
    """The answer's text: UTF-8 as the spec requires, unless the server declares another
    charset (GBK-declaring servers exist). Raises ``ValueError`` when it does not decode."""
    charset = (answer.charset or "utf-8").lower().replace("_", "-")
    if charset in ("utf-8", "utf8"):
        charset = "utf-8-sig"  # tolerate a byte-order mark
    try:
        return answer.body.decode(charset)
    except LookupError:
        raise ValueError(f"unknown charset {charset!r}") from None


def _chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Open311Backend(ClosesItsCalls, DispatchBackend):
    """A :class:`DispatchBackend` over one Open311 GeoReport v2 server (JSON format).

    It talks aiohttp (:mod:`integrations.http_calls`); ``http_client`` (or ``transport``)
    injects an httpx layer instead (tests), and an injected client is not closed by
    :meth:`aclose`. Redirects are not followed: a POST must not be replayed elsewhere, and
    a moved endpoint is a configuration error.
    """

    name = "open311"

    def __init__(
        self,
        config: Open311Config,
        *,
        http_client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        naive_timezone: tzinfo = UTC,
    ) -> None:
        self.config = config
        self._timeout = httpx.Timeout(timeout)
        self._naive_timezone = naive_timezone
        self._http = HTTPCalls(
            timeout=self._timeout, http_client=http_client, transport=transport
        )

    def __repr__(self) -> str:
        return f"Open311Backend(url={self.config.url!r})"

    # -- DispatchBackend -------------------------------------------------------------------

    def service_code(self, category: str) -> str:
        """The server's service code for one of our taxonomy ids.

        Raises :class:`DispatchRejected` when a service map is configured but has neither an
        entry for ``category`` nor a ``"*"`` default: sending our id would only earn a 404.
        """
        service_map = self.config.service_map
        if not service_map:
            return category
        code = service_map.get(category) or service_map.get(SERVICE_MAP_DEFAULT_KEY)
        if code is None:
            raise DispatchRejected(
                f"no Open311 service code for category {category!r} in {ENV_SERVICE_MAP}"
            )
        return code

    async def submit(self, request: DispatchRequest) -> DispatchReceipt:
        """``POST {url}/requests.json``; see the module docstring for idempotency."""
        form = self._form(request)
        headers = {
            "Content-Type": _FORM_CONTENT_TYPE,
            "Accept": "application/json",
            "Idempotency-Key": request.idempotency_key,
        }
        response = await self._send(
            "POST", "/requests.json", content=urlencode(form).encode("utf-8"), headers=headers
        )
        self._raise_for_status(response, "POST requests")
        body = self._body(response, "POST requests")
        try:
            receipt = parse_submit_response(body)
        except ValueError as exc:
            # The request may exist downstream: retrying with the same key is the safe path.
            raise DispatchUnavailable(f"Open311 POST requests: {exc}") from None
        if receipt.external_id is not None:
            outcome = f"request {receipt.external_id}"
        elif receipt.token is not None:
            outcome = f"token {receipt.token}"
        else:
            outcome = "a blackbox request (no id)"
        log.info("ticket %s sent to Open311: %s", request.ticket_id, outcome)
        return receipt

    async def resolve_token(self, token: str) -> str | None:
        """``GET {url}/tokens/{token}.json``; ``None`` while the id is not assigned.

        A 404 also gives ``None``: batch servers may not know a token until their batch run
        has created the request, so the caller's own deadline decides when to give up.
        """
        response = await self._send(
            "GET", f"/tokens/{quote(token, safe='')}.json", params=self._common_params()
        )
        if response.status == 404:
            return None
        self._raise_for_status(response, "GET token")
        return parse_token_response(self._body(response, "GET token"), token)

    async def poll(self, external_ids: Sequence[str]) -> list[ExternalStatus]:
        """Statuses of ``external_ids`` (in that order; unknown ids are left out).

        Ids are asked ``poll_batch_size`` at a time with the comma-separated
        ``service_request_id`` parameter; ids a server leaves out of that answer (some
        ignore the parameter or accept one id only) are then asked one by one with
        ``GET requests/{id}.json``. Any transient failure raises
        :class:`DispatchUnavailable` for the whole poll: the caller just polls again.
        """
        ids = list(dict.fromkeys(i.strip() for i in external_ids if i.strip()))
        found: dict[str, ExternalStatus] = {}
        for batch in _chunks(ids, self.config.poll_batch_size):
            wanted = set(batch)
            for status in await self._poll_batch(batch):
                if status.external_id in wanted:
                    found[status.external_id] = status
        for external_id in ids:
            if external_id not in found:
                one = await self._poll_one(external_id)
                if one is not None:
                    found[external_id] = one
        return [found[i] for i in ids if i in found]

    # -- helpers ---------------------------------------------------------------------------

    def _common_params(self) -> dict[str, str]:
        jurisdiction = self.config.jurisdiction_id
        return {"jurisdiction_id": jurisdiction} if jurisdiction else {}

    def _form(self, request: DispatchRequest) -> list[tuple[str, str]]:
        if not request.location.strip() and (request.latitude is None or request.longitude is None):
            # The spec requires lat/long or address_string; the server would answer 400.
            raise DispatchRejected(f"ticket {request.ticket_id} has no location to send")
        form: list[tuple[str, str]] = [("api_key", self.config.api_key)]
        if self.config.jurisdiction_id:
            form.append(("jurisdiction_id", self.config.jurisdiction_id))
        form.append(("service_code", self.service_code(request.category)))
        if request.latitude is not None and request.longitude is not None:
            form += [("lat", repr(request.latitude)), ("long", repr(request.longitude))]
        if request.location.strip():
            form.append(("address_string", request.location.strip()))
        if request.phone.strip():
            form.append(("phone", request.phone.strip()))
        form.append(("description", request.description[:MAX_DESCRIPTION]))
        # media_url must be a URL the city can open; WeChat media ids are not.
        media = next((p for p in request.photos if p.startswith(("https://", "http://"))), None)
        if media is not None:
            form.append(("media_url", media))
        if self.config.ticket_attribute:
            form.append((f"attribute[{self.config.ticket_attribute}]", request.ticket_id))
        return form

    async def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Answer:
        try:
            return await self._http.call(
                method,
                self.config.url + path,
                params=params,
                content=content,
                headers=headers or _ACCEPT_JSON,
            )
        except CallFailed as exc:
            # The kind only: an HTTP library's text carries the URL, and messages end up in
            # tickets.
            why = "timed out" if exc.timed_out else exc.kind
            raise DispatchUnavailable(f"Open311 {method} {path}: {why}") from exc

    def _raise_for_status(self, response: Answer, what: str) -> None:
        status = response.status
        if 200 <= status < 300:
            return
        if status >= 500 or status in _TRANSIENT_STATUSES:
            raise DispatchUnavailable(f"Open311 {what}: HTTP {status}")
        if 300 <= status < 400:
            location = response.headers.get("location", "?")
            raise DispatchRejected(f"Open311 {what}: redirected to {location}; fix {ENV_URL}")
        try:
            errors = parse_errors(parse_json(_decode(response)))
        except ValueError:
            errors = []
        detail = "; ".join(str(e) for e in errors) or response.reason or "no detail"
        detail = detail[:_MAX_ERROR_TEXT]
        if status in (401, 403):
            raise DispatchRejected(f"Open311 refused the API key (HTTP {status}): {detail}")
        raise DispatchRejected(f"Open311 {what} rejected (HTTP {status}): {detail}")

    def _body(self, response: Answer, what: str) -> Any:
        try:
            return parse_json(_decode(response))
        except ValueError:
            raise DispatchUnavailable(f"Open311 {what}: answer is not JSON") from None

    async def _poll_batch(self, batch: Sequence[str]) -> list[ExternalStatus]:
        params = {**self._common_params(), "service_request_id": ",".join(batch)}
        response = await self._send("GET", "/requests.json", params=params)
        if response.status in (400, 404, 422):
            # Servers without multi-id support answer these; the one-by-one path follows.
            return []
        self._raise_for_status(response, "GET requests")
        return parse_service_requests(
            self._body(response, "GET requests"), naive_timezone=self._naive_timezone
        )

    async def _poll_one(self, external_id: str) -> ExternalStatus | None:
        response = await self._send(
            "GET", f"/requests/{quote(external_id, safe='')}.json", params=self._common_params()
        )
        if response.status == 404:
            return None
        self._raise_for_status(response, "GET request")
        statuses = parse_service_requests(
            self._body(response, "GET request"), naive_timezone=self._naive_timezone
        )
        return next((s for s in statuses if s.external_id == external_id), None)
