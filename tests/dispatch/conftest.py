"""Fixtures for the dispatch tests: fake Open311 servers on real loopback HTTP, backends."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import pytest

from integrations.dispatch import DispatchRequest
from integrations.dispatch.open311 import Open311Backend, Open311Config
from testing.open311_fake import (
    DEFAULT_API_KEY,
    FakeAttribute,
    FakeOpen311Server,
    FakeService,
)
from testing.servers import serve_asgi

API_KEY = DEFAULT_API_KEY

SERVICES = (
    FakeService("001", "路灯不亮/损坏", "Streetlight out", "street"),
    FakeService("002", "井盖缺失/破损", "Manhole cover", "street"),
    FakeService(
        "GARBAGE",
        "垃圾堆积",
        "Garbage not collected",
        "sanitation",
        service_notice="环卫所将在24小时内处理",
    ),
    FakeService(
        "POT",
        "Pothole Repairs",
        "Pothole Repairs Service",
        "highways",
        keywords="deep,hole,wow",
        attributes=(
            FakeAttribute("depth", "number", required=True, description="depth, in cm"),
            FakeAttribute(
                "shape",
                "singlevaluelist",
                description="shape of the pothole",
                order=2,
                values=(("circle", "Circle"), ("square", "Square"), ("triangle", "Triangle")),
            ),
        ),
    ),
)

SERVICE_MAP = {"report.streetlight": "001", "report.manhole": "002", "report.garbage": "GARBAGE"}


@dataclass
class Served:
    """A fake Open311 server and the base URL it answers on."""

    fake: FakeOpen311Server
    url: str


StartServer = Callable[..., Served]
MakeBackend = Callable[..., Open311Backend]


@pytest.fixture
def start_server() -> Iterator[StartServer]:
    """Starts fake Open311 servers (options as FakeOpen311Server's) on uvicorn."""
    with ExitStack() as stack:

        def start(**options: Any) -> Served:
            options.setdefault("services", SERVICES)
            fake = FakeOpen311Server(**options)
            url = stack.enter_context(serve_asgi(fake.app, lifespan="off"))
            return Served(fake, url)

        yield start


@pytest.fixture
def served(start_server: StartServer) -> Served:
    return start_server()


@pytest.fixture
async def make_backend() -> AsyncIterator[MakeBackend]:
    """Builds backends (closed after the test); config fields and backend options by name."""
    backends: list[Open311Backend] = []

    def make(url: str, **options: Any) -> Open311Backend:
        backend_options = {
            name: options.pop(name)
            for name in ("timeout", "transport", "http_client", "naive_timezone")
            if name in options
        }
        backend_options.setdefault("timeout", 2.0)
        options.setdefault("api_key", API_KEY)
        options.setdefault("service_map", SERVICE_MAP)
        backend = Open311Backend(Open311Config(url=url, **options), **backend_options)
        backends.append(backend)
        return backend

    yield make
    for backend in backends:
        await backend.aclose()


def ticket(**overrides: Any) -> DispatchRequest:
    """A ticket as the outbox hands it over (a streetlight near 和平路)."""
    fields: dict[str, Any] = {
        "ticket_id": "T20240501-0001",
        "idempotency_key": "idem-T20240501-0001",
        "category": "report.streetlight",
        "description": "和平路12号门口的路灯不亮已经三天了",
        "location": "和平路12号",
        "phone": "13800138000",
        "urgent": False,
        "department": "市政照明管理处",
        "level": "district",
    }
    fields.update(overrides)
    return DispatchRequest(**fields)
