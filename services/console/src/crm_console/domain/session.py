"""A signed-in person's session as the console keeps it (server side, never in the browser)."""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

# An access token closer to its expiry than this is renewed before a call (silent renewal).
RENEW_BEFORE = timedelta(seconds=30)


@dataclass
class Session:
    """`id` is the cookie's value; `csrf` the token every form and htmx request carries back."""

    id: str
    csrf: str
    subject: str = ""
    username: str = ""
    access_token: str = field(default="", repr=False)
    refresh_token: str = field(default="", repr=False)
    id_token: str = field(default="", repr=False)
    access_expires_at: float = 0.0  # epoch seconds
    workspace: str | None = None
    language: str = "he"

    @property
    def signed_in(self) -> bool:
        return bool(self.subject and self.access_token)

    def needs_renewal(self, now: datetime | None = None) -> bool:
        moment = (now or datetime.now(UTC)).timestamp()
        return self.access_expires_at - moment < RENEW_BEFORE.total_seconds()


@dataclass(frozen=True)
class PendingLogin:
    """A started sign-in: what the callback needs to finish it (RFC 7636 verifier, OIDC nonce)."""

    state: str
    verifier: str = field(repr=False)
    nonce: str = field(repr=False)
    next_path: str = "/"
    language: str = "he"


def safe_next(path: str | None) -> str:
    """Where to return after signing in: a path of this site only (no scheme, host or `//`),
    so a crafted link cannot send a person elsewhere."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path or any(ord(c) < 32 for c in path):
        return "/"
    return path[:2000]
