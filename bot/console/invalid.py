"""The console's answer to a request FastAPI refuses (a number or id out of bounds, a
missing field): 422 with a short Chinese explanation naming what was wrong, as a page or,
under ``/console/api`` and ``/simulator/api``, as JSON. Elsewhere (``/api``) FastAPI's own
422 stands."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

if TYPE_CHECKING:
    from bot.console.context import Console

__all__ = ["answer_invalid_request", "describe"]

#: what staff call the parameters that reach the console from URLs and forms
_LABELS = {
    "page": "页码",
    "handoff_id": "会话编号",
    "ticket_id": "工单号",
    "after": "消息位置",
    "example_id": "例句编号",
    "item": "待标注消息的编号",
    "text": "内容",
}


def describe(exc: RequestValidationError) -> str:
    """One sentence about the first refused parameter."""
    errors = exc.errors()
    if not errors:
        return "请求的内容不对，请返回上一页重新操作。"
    location = errors[0].get("loc") or ()
    name = str(location[-1]) if location else ""
    label = _LABELS.get(name, f"参数“{name}”" if name else "请求的内容")
    return f"{label}不对（超出范围或格式不符），请返回上一页重新操作。"


async def answer_invalid_request(
    console: Console, request: Request, exc: RequestValidationError
) -> Response:
    path = request.url.path
    if not path.startswith(("/console", "/simulator")):
        return await request_validation_exception_handler(request, exc)
    message = describe(exc)
    if path.startswith(("/console/api/", "/simulator/api/")):
        return JSONResponse(
            {"error": message, "detail": jsonable_encoder(exc.errors())}, status_code=422
        )
    return console.render(request, "error.html", 422, message=message)
