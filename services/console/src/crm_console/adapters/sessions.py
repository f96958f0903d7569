"""Where sessions and started sign-ins live: Redis, so any console instance serves any request.

A session is stored as JSON under `console:session:<id>` and expires after `session_idle_s` without
use (each save pushes the expiry back). A started sign-in lives under `console:login:<state>`
for `login_wait_s` and is taken (read and deleted atomically) by its callback: a state works once.
"""

import dataclasses
import json
import secrets
from typing import Protocol

from redis.asyncio import Redis

from crm_console.domain.session import PendingLogin, Session

SESSION_PREFIX = "console:session:"
LOGIN_PREFIX = "console:login:"


def new_session(language: str) -> Session:
    return Session(id=secrets.token_urlsafe(32), csrf=secrets.token_urlsafe(32), language=language)


class SessionStore(Protocol):
    async def load(self, session_id: str) -> Session | None: ...
    async def save(self, session: Session) -> None: ...
    async def delete(self, session_id: str) -> None: ...
    async def put_login(self, login: PendingLogin) -> None: ...
    async def take_login(self, state: str) -> PendingLogin | None: ...
    async def ping(self) -> bool: ...
    async def close(self) -> None: ...


class RedisSessionStore:
    def __init__(self, redis: Redis, idle_s: int, login_wait_s: int) -> None:
        self._redis = redis
        self._idle_s = idle_s
        self._login_wait_s = login_wait_s

    async def load(self, session_id: str) -> Session | None:
        if not session_id or len(session_id) > 100:
            return None
        raw = await self._redis.get(SESSION_PREFIX + session_id)
        if raw is None:
            return None
        try:
            return Session(**json.loads(raw))
        except (TypeError, ValueError):
            return None

    async def save(self, session: Session) -> None:
        await self._redis.set(SESSION_PREFIX + session.id, json.dumps(dataclasses.asdict(session)), ex=self._idle_s)

    async def delete(self, session_id: str) -> None:
        await self._redis.delete(SESSION_PREFIX + session_id)

    async def put_login(self, login: PendingLogin) -> None:
        await self._redis.set(LOGIN_PREFIX + login.state, json.dumps(dataclasses.asdict(login)), ex=self._login_wait_s)

    async def take_login(self, state: str) -> PendingLogin | None:
        if not state or len(state) > 100:
            return None
        raw = await self._redis.getdel(LOGIN_PREFIX + state)
        if raw is None:
            return None
        try:
            return PendingLogin(**json.loads(raw))
        except (TypeError, ValueError):
            return None

    async def ping(self) -> bool:
        return bool(await self._redis.ping())

    async def close(self) -> None:
        await self._redis.aclose()


class MemorySessionStore:
    """The same contract in a dict, for unit tests."""

    def __init__(self) -> None:
        self.sessions: dict[str, Session] = {}
        self.logins: dict[str, PendingLogin] = {}

    async def load(self, session_id: str) -> Session | None:
        found = self.sessions.get(session_id)
        return dataclasses.replace(found) if found else None

    async def save(self, session: Session) -> None:
        self.sessions[session.id] = dataclasses.replace(session)

    async def delete(self, session_id: str) -> None:
        self.sessions.pop(session_id, None)

    async def put_login(self, login: PendingLogin) -> None:
        self.logins[login.state] = login

    async def take_login(self, state: str) -> PendingLogin | None:
        return self.logins.pop(state, None)

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        return None
