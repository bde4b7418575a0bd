"""Bounds on numbers and ids that arrive in URLs and forms, shared by ``/api`` and the
console.

Without them an absurd value (``offset=10**30``, an id past 64 bits) reaches the database
driver and fails there (SQLite: "Python int too large to convert to SQLite INTEGER"), which
the client saw as a 500. With them FastAPI answers 422 naming the parameter and the bound
before anything runs.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Path, Query

__all__ = [
    "MAX_ID",
    "MAX_LIMIT",
    "MAX_OFFSET",
    "MAX_TICKET_ID",
    "FormId",
    "Limit",
    "LineAfter",
    "Offset",
    "RowId",
    "TicketId",
]

#: The largest id a table holds (``BIGINT`` on PostgreSQL, ``INTEGER`` on SQLite).
MAX_ID = 2**63 - 1
#: Far past any real list (a hundred million rows); larger offsets are mistakes or probes.
MAX_OFFSET = 100_000_000
#: Rows one call may ask for.
MAX_LIMIT = 500
#: Ticket ids are ``20261123-0001``; a longer one is not ours.
MAX_TICKET_ID = 32


#: ``limit`` of a list: 1 … :data:`MAX_LIMIT`.
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="rows to return")]
#: ``offset`` of a list: 0 … :data:`MAX_OFFSET`.
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="rows to skip")]
#: A row id in the path: 1 … :data:`MAX_ID`.
RowId = Annotated[int, Path(ge=1, le=MAX_ID)]
#: ``after``: the last line id the client has (0: none yet).
LineAfter = Annotated[int, Query(ge=0, le=MAX_ID)]
#: A row id in a form field (0: none given).
FormId = Annotated[int, Form(ge=0, le=MAX_ID)]
#: A ticket id in the path.
TicketId = Annotated[str, Path(min_length=1, max_length=MAX_TICKET_ID)]
