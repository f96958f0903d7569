"""Channel keys: the credential of a channel's edge paths, kept only as a hash.

A key is shown once (in the answer that made it) and stored as its SHA-256. A fast hash is
right here, unlike for passwords: generated keys are 256-bit random tokens (and keys an
administrator chooses are at least `KEY_MIN_LENGTH` characters), so there is nothing for a
slow, salted hash to protect against a dictionary; what the hash must prevent is reading the
keys out of the database (a dump, a backup, a replica) and it does. Being unsalted and
deterministic, it is also the lookup index, so checking a key costs one indexed read.

What is kept besides the hash: the last `HINT_LENGTH` characters (to tell keys apart), when
and by whom the key was made, and when a replaced key stops working (rotation's grace).
"""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

KEY_MIN_LENGTH = 8
KEY_MAX_LENGTH = 200
KEY_PATTERN = r"^[A-Za-z0-9._~-]+$"  # what a URL path segment carries unescaped (web keys are in the capture URL)
HINT_LENGTH = 4
GENERATED_KEY_BYTES = 32  # secrets.token_urlsafe: 43 characters
MAX_GRACE_S = 30 * 24 * 3600  # the longest a replaced key may keep working


def key_hash(key: str) -> str:
    """The stored form of a key: SHA-256 of its UTF-8 bytes, 64 hex digits."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def new_key() -> str:
    return secrets.token_urlsafe(GENERATED_KEY_BYTES)


def key_hint(key: str) -> str:
    """The last characters of a key, to tell keys apart ("" for a key too short to show any)."""
    return key[-HINT_LENGTH:] if len(key) >= 2 * HINT_LENGTH else ""


@dataclass(frozen=True)
class KeyInfo:
    """What is known about one stored key of a channel (never the key itself)."""

    hint: str
    created_at: datetime
    created_by: str | None  # who made it (None: before this was recorded)
    expires_at: datetime | None  # None for the current key; the end of the grace period for a replaced one
