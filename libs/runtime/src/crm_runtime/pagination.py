"""Opaque keyset cursors over (timestamp, id), newest first."""

import base64
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from crm_runtime.problems import Problem


def encode_cursor(at: datetime, ident: UUID) -> str:
    return base64.urlsafe_b64encode(f"{at.isoformat()}|{ident}".encode()).decode()


def decode_cursor(cursor: str | None) -> tuple[datetime, UUID] | None:
    if not cursor:
        return None
    try:
        at, _, ident = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        return datetime.fromisoformat(at), UUID(ident)
    except ValueError as exc:
        raise Problem(400, "Invalid cursor", "The cursor is not one this API handed out.", field="cursor") from exc


def next_cursor(rows: Sequence[Any], limit: int, at: str = "created_at", ident: str = "id") -> str | None:
    """The cursor after a page, given `limit + 1` rows fetched (None on the last page)."""
    if len(rows) <= limit:
        return None
    last = rows[limit - 1]
    return encode_cursor(getattr(last, at), getattr(last, ident))
