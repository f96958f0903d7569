"""The five services as one signed-in person sees them, for the length of one request.

`Backend` renews the access token silently when it is about to expire (the refresh token,
kept server side), and once more when a service answers `401`; when the identity provider
refuses the renewal the person must sign in again (`NotSignedIn`), and the page sends them
to the sign-in with the address they were on.
"""

from datetime import UTC, datetime
from typing import Any, Protocol

from crm_console.adapters.oidc import SignInFailed, Tokens
from crm_console.adapters.services import Answer, NotSignedIn
from crm_console.adapters.sessions import SessionStore
from crm_console.domain.session import Session


class Caller(Protocol):
    async def call(
        self,
        service: str,
        method: str,
        path: str,
        *,
        token: str,
        workspace: str | None,
        params: Any = None,
        json: Any = None,
        files: Any = None,
        data: Any = None,
        headers: dict[str, str] | None = None,
        raw: bool = False,
    ) -> Answer: ...


class Services(Caller, Protocol):
    async def close(self) -> None: ...


class Renewer(Protocol):
    async def refresh(self, refresh_token: str) -> Tokens: ...


def adopt(session: Session, tokens: Tokens) -> None:
    """Put freshly issued tokens into the session."""
    session.access_token = tokens.access_token
    session.refresh_token = tokens.refresh_token or session.refresh_token
    session.id_token = tokens.id_token or session.id_token
    session.access_expires_at = tokens.identity.expires_at.timestamp()
    session.subject = tokens.identity.subject
    session.username = tokens.identity.preferred_username or session.username


class Backend:
    def __init__(self, session: Session, store: SessionStore, caller: Caller, renewer: Renewer) -> None:
        self.session = session
        self._store = store
        self._caller = caller
        self._renewer = renewer

    @property
    def workspace(self) -> str | None:
        return self.session.workspace

    async def renew(self) -> None:
        if not self.session.refresh_token:
            raise NotSignedIn()
        try:
            tokens = await self._renewer.refresh(self.session.refresh_token)
        except SignInFailed as exc:
            raise NotSignedIn() from exc
        adopt(self.session, tokens)
        await self._store.save(self.session)

    async def call(self, service: str, method: str, path: str, **options: Any) -> Answer:
        if not self.session.signed_in:
            raise NotSignedIn()
        if self.session.needs_renewal(datetime.now(UTC)):
            await self.renew()
        workspace = options.pop("workspace", self.session.workspace)
        try:
            return await self._caller.call(service, method, path, token=self.session.access_token, workspace=workspace, **options)
        except NotSignedIn:
            await self.renew()
            return await self._caller.call(service, method, path, token=self.session.access_token, workspace=workspace, **options)

    async def get(self, service: str, path: str, **options: Any) -> Any:
        return (await self.call(service, "GET", path, **options)).body

    async def post(self, service: str, path: str, **options: Any) -> Any:
        return (await self.call(service, "POST", path, **options)).body

    async def put(self, service: str, path: str, **options: Any) -> Any:
        return (await self.call(service, "PUT", path, **options)).body

    async def patch(self, service: str, path: str, **options: Any) -> Any:
        return (await self.call(service, "PATCH", path, **options)).body

    async def delete(self, service: str, path: str, **options: Any) -> Any:
        return (await self.call(service, "DELETE", path, **options)).body
