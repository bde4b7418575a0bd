"""Safe parsing of callback bodies and rendering of passive replies.

Bodies are parsed with defusedxml, which refuses DTDs and entity declarations before any
expansion (XXE, billion laughs), so hostile input costs microseconds, not memory.
"""

from __future__ import annotations

import time
from typing import Any
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from core.errors import IntakeError

__all__ = ["MalformedXML", "parse_xml", "render_text_reply"]


class MalformedXML(IntakeError):
    """The body is not a WeChat ``<xml>`` document (or carries forbidden DTD/entities)."""


def _element_value(element: Element) -> Any:
    children = list(element)
    if not children:
        return element.text or ""
    # Nested blocks (ScanCodeInfo, SendPicsInfo…) become dicts; repeated tags become lists.
    nested: dict[str, Any] = {}
    for child in children:
        value = _element_value(child)
        if child.tag in nested:
            existing = nested[child.tag]
            if isinstance(existing, list):
                existing.append(value)
            else:
                nested[child.tag] = [existing, value]
        else:
            nested[child.tag] = value
    return nested


def parse_xml(body: bytes | str) -> dict[str, Any]:
    """Return the children of the root ``<xml>`` element as a dict of tag → text (or dict)."""
    try:
        root = fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (ParseError, DefusedXmlException, ValueError) as exc:
        raise MalformedXML(f"malformed XML: {type(exc).__name__}") from exc
    if root.tag != "xml":
        raise MalformedXML("root element is not <xml>")
    fields = _element_value(root)
    if not isinstance(fields, dict):
        raise MalformedXML("empty <xml> document")
    return fields


def _cdata(text: str) -> str:
    # "]]>" cannot appear inside CDATA: split it across two sections.
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def render_text_reply(
    to_user: str, from_user: str, content: str, *, create_time: int | None = None
) -> str:
    """XML of a passive text reply (to the resident ``to_user`` from the account ``from_user``)."""
    ts = int(time.time()) if create_time is None else create_time
    return (
        "<xml>"
        f"<ToUserName>{_cdata(to_user)}</ToUserName>"
        f"<FromUserName>{_cdata(from_user)}</FromUserName>"
        f"<CreateTime>{ts}</CreateTime>"
        "<MsgType><![CDATA[text]]></MsgType>"
        f"<Content>{_cdata(content)}</Content>"
        "</xml>"
    )
