"""Bearer-token authentication of the staff API (``INTAKE_ADMIN_TOKEN``)."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable

from fastapi import HTTPException, Request, status

__all__ = ["require_bearer_token"]


def require_bearer_token(token: str) -> Callable[[Request], Awaitable[None]]:
    """A FastAPI dependency accepting only ``Authorization: Bearer <token>``.

    Missing or wrong credentials get 401 with ``WWW-Authenticate: Bearer``; the comparison
    takes the same time whatever the mismatch (``hmac.compare_digest``).
    """
    if not token:
        raise ValueError("the admin token must not be empty")
    expected = token.encode("utf-8")

    async def check_bearer_token(request: Request) -> None:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        given = value.strip().encode("utf-8")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given, expected):
            raise HTTPException(
                status_code=status.HTTP_401_UNAUTHORIZED,
                detail="missing or invalid bearer token",
                headers={"WWW-Authenticate": "Bearer"},
            )

    return check_bearer_token
