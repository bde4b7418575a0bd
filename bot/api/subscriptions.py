"""The staff API of residents' consents to subscription messages (订阅通知).

WeChat tells the bot when a resident accepts or refuses the subscribe popup (recorded by
:mod:`bot.handlers.subscriptions`); these endpoints record a consent given another way —
the resident's H5 page that calls ``wx.requestSubscribeMessage``-style components through
the operator's own backend, or the console after a phone call — and show or revoke it.
Bearer ``INTAKE_ADMIN_TOKEN``.

=================================================================  ==========================
``GET    /api/residents/{openid}/subscriptions``                   the resident's consents
``POST   /api/residents/{openid}/subscriptions``                   ``{"template_id", "kind",
                                                                   "count"}`` → 201 (all
                                                                   optional: the configured
                                                                   template and kind, 1)
``DELETE /api/residents/{openid}/subscriptions/{template_id}``     revoke → 204 (404: none)
=================================================================  ==========================
"""

from __future__ import annotations

from datetime import tzinfo
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from bot.api.auth import require_bearer_token
from integrations.notify.consents import Consent, InvalidConsent, SubscriptionConsents

__all__ = ["consent_json", "create_subscriptions_router"]

OpenId = Annotated[str, Path(min_length=1, max_length=64)]
TemplateId = Annotated[str, Path(min_length=1, max_length=128)]


class ConsentIn(BaseModel):
    """A consent recorded by staff or the operator's resident page."""

    model_config = ConfigDict(extra="forbid")

    template_id: str | None = Field(None, min_length=1, max_length=128)
    kind: Literal["one_time", "long_term"] | None = None
    count: int = Field(1, ge=1, le=1000, description="one-time sends allowed")


def consent_json(consent: Consent, tz: tzinfo) -> dict[str, Any]:
    return {
        "openid": consent.openid,
        "template_id": consent.template_id,
        "kind": consent.kind,
        "remaining": consent.remaining if consent.kind == "one_time" else None,
        "source": consent.source,
        "granted_at": consent.granted_at.astimezone(tz).isoformat(),
        "updated_at": consent.updated_at.astimezone(tz).isoformat(),
    }


def create_subscriptions_router(
    consents: SubscriptionConsents, *, admin_token: str, default_template: str | None
) -> APIRouter:
    """The endpoints above; ``default_template`` is ``WECHAT_SUBSCRIBE_TEMPLATE_ID``."""
    router = APIRouter(prefix="/api", dependencies=[Depends(require_bearer_token(admin_token))])
    tz = consents.core.tz

    @router.get("/residents/{openid}/subscriptions", tags=["pushes"])
    async def list_consents(openid: OpenId) -> Any:
        return {"items": [consent_json(c, tz) for c in await consents.of(openid)]}

    @router.post("/residents/{openid}/subscriptions", status_code=201, tags=["pushes"])
    async def grant_consent(openid: OpenId, body: ConsentIn) -> Any:
        template_id = body.template_id or default_template
        if not template_id:
            return JSONResponse(
                {"detail": "template_id is required: WECHAT_SUBSCRIBE_TEMPLATE_ID is not set"},
                status_code=422,
            )
        try:
            consent = await consents.grant(
                openid, template_id, kind=body.kind, count=body.count, source="api"
            )
        except InvalidConsent as exc:
            return JSONResponse({"detail": str(exc)}, status_code=422)
        return JSONResponse(consent_json(consent, tz), status_code=201)

    @router.delete("/residents/{openid}/subscriptions/{template_id}", tags=["pushes"])
    async def revoke_consent(openid: OpenId, template_id: TemplateId) -> Any:
        if not await consents.revoke(openid, template_id, source="api"):
            return JSONResponse({"detail": "no such consent"}, status_code=404)
        return Response(status_code=204)

    return router
