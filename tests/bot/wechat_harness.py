"""A running app (real uvicorn, real HTTP) wired to a fake WeChat API, for callback tests."""

from __future__ import annotations

import base64
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import redis
from fastapi import FastAPI

from bot.app import create_app
from bot.config import Settings, load_settings
from bot.dispatcher import Router
from bot.runtime import Runtime
from bot.wechat.security import AESEnvelope
from bot.wechat.simulator import CallbackRequest, CallbackSigner, reply_text
from integrations.wechat.fake_server import FakeWeChatAPI
from nlu.parser import NLUService
from testing.servers import serve_asgi, serve_wechat_fake

TOKEN = "intakeTestToken0123"  # production wants at least 16 characters
APP_ID = "wxintaketest0001"
APP_SECRET = "intake-test-secret"
AES_KEY = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"


@dataclass
class RunningApp:
    """Base URL of the app, the fake WeChat API it talks to, and a signer for requests."""

    url: str
    fake: FakeWeChatAPI
    settings: Settings
    runtime: Runtime
    signer: CallbackSigner
    envelope: AESEnvelope | None
    app: FastAPI

    def post(self, request: CallbackRequest, **kwargs: object) -> httpx.Response:
        return httpx.post(
            self.url + "/wechat",
            params=request.params,
            content=request.body,
            timeout=10,
            **kwargs,  # type: ignore[arg-type]
        )

    async def apost(self, client: httpx.AsyncClient, request: CallbackRequest) -> httpx.Response:
        return await client.post(self.url + "/wechat", params=request.params, content=request.body)

    def reply(self, response: httpx.Response) -> str | None:
        assert response.status_code == 200, response.text
        return reply_text(response.text, self.envelope)


_NLU: NLUService | None = None


def shared_nlu() -> NLUService:
    """One trained NLU model for the whole test run (training takes seconds, loading one)."""
    global _NLU
    if _NLU is None:
        _NLU = NLUService(Path(tempfile.mkdtemp(prefix="intake-test-models-")))
        _NLU.warm_up()
    return _NLU


def shared_model_dir() -> Path:
    return shared_nlu().model_dir


def production_overrides(redis_url: str) -> dict[str, object]:
    """What ``running_app(..., env="production")`` needs to start: Redis (emptied first)
    and safe mode with a fresh EncodingAESKey (the published sample keys are refused)."""
    redis.Redis.from_url(redis_url).flushdb()
    return {
        "INTAKE_ENV": "production",
        "REDIS_URL": redis_url,
        "WECHAT_ENCODING_AES_KEY": base64.b64encode(os.urandom(32)).decode().rstrip("="),
        "INTAKE_PERSONAL_DATA_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
    }


def make_settings(tmp: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "INTAKE_DATA_DIR": tmp,
        "INTAKE_MODEL_DIR": shared_model_dir(),
        "WECHAT_TOKEN": TOKEN,
        "WECHAT_APP_ID": APP_ID,
        "WECHAT_APP_SECRET": APP_SECRET,
        "INTAKE_ADMIN_TOKEN": "test-admin-token-0123456789",
        # Tests file the same complaint for several residents; the "已有居民反映" offer
        # (tests/analytics/test_chat_notice.py turns it on) would stand between them.
        "INTAKE_CLUSTER_NOTICE": False,
        **overrides,
    }
    return load_settings(**values)


@contextmanager
def running_app(
    tmp: Path,
    *,
    routers: Sequence[Router] | None = None,
    clock: Callable[[], float] | None = None,
    fake: FakeWeChatAPI | None = None,
    nlu: NLUService | None = None,
    settle_heap: bool = False,
    **overrides: object,
) -> Iterator[RunningApp]:
    """``nlu``: a model of the test's own (one that a test retrains or publishes into);
    by default all tests share one trained model."""
    fake = fake or FakeWeChatAPI(app_id=APP_ID, app_secret=APP_SECRET)
    with serve_wechat_fake(fake) as fake_url:
        if nlu is not None:
            overrides.setdefault("INTAKE_MODEL_DIR", nlu.model_dir)
        settings = make_settings(tmp, WECHAT_API_BASE_URL=fake_url, **overrides)
        kwargs = {"clock": clock} if clock else {}
        runtime = Runtime.from_settings(
            settings, routers=routers, nlu=nlu or shared_nlu(), **kwargs
        )
        runtime.dev_wechat = fake  # the simulator shows what the fake recorded
        # Tests share one process: settling its heap at every app start would cost a full
        # collection of everything the suite holds each time.
        app = create_app(settings, runtime=runtime, settle_heap=settle_heap)
        envelope = (
            AESEnvelope(TOKEN, settings.wechat.encoding_aes_key, APP_ID)
            if settings.wechat.encoding_aes_key
            else None
        )
        with serve_asgi(app) as url:
            yield RunningApp(
                url=url,
                fake=fake,
                settings=settings,
                runtime=runtime,
                signer=CallbackSigner(TOKEN, envelope=envelope, **kwargs),
                envelope=envelope,
                app=app,
            )
