"""Calls to the five services with the signed-in person's token: their permissions decide.

Every answer is either a decoded JSON body (`Answer`) or one of three failures the pages know
how to show: `Unavailable` (the service did not answer, or said `503`/`502`/`504`: a calm state
with a retry), `NotSignedIn` (`401`: renew or sign in again) and `ApiProblem` (any other `4xx`:
its problem `type`, `status` and the fields it names).
"""

from dataclasses import dataclass, field
from typing import Any

import httpx

from crm_runtime.problems import PROBLEM_TYPE_BASE

SERVICES = ("intake", "dedup", "customer", "allocation", "timeline")


class Unavailable(Exception):
    def __init__(self, service: str) -> None:
        super().__init__(service)
        self.service = service


class NotSignedIn(Exception):
    """The service refused the token (expired, revoked): renew it or sign in again."""


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str


@dataclass
class ApiProblem(Exception):
    status: int
    kind: str
    title: str = ""
    errors: list[FieldError] = field(default_factory=list)
    body: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.status, self.kind)

    @property
    def permission(self) -> str | None:
        value = self.body.get("permission")
        return value if isinstance(value, str) else None

    def errors_by_field(self) -> dict[str, str]:
        return {e.field: e.message for e in self.errors}


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any
    headers: httpx.Headers

    def json(self) -> Any:
        return self.body


def problem_of(status: int, body: Any) -> ApiProblem:
    doc = body if isinstance(body, dict) else {}
    kind = str(doc.get("type", "")).removeprefix(PROBLEM_TYPE_BASE) or "unknown"
    errors = [FieldError(str(e.get("field", "")), str(e.get("message", ""))) for e in doc.get("errors", []) or [] if isinstance(e, dict)]
    return ApiProblem(status, kind, str(doc.get("title", "")), errors, doc)


class ServiceClient:
    """One pooled HTTP client for every call of the process to the five services."""

    def __init__(self, urls: dict[str, str], http: httpx.AsyncClient) -> None:
        self._urls = urls
        self._http = http

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
    ) -> Answer:
        sent = {"Authorization": f"Bearer {token}", **(headers or {})}
        if workspace:
            sent["X-Workspace"] = workspace
        try:
            answer = await self._http.request(
                method, self._urls[service] + path, params=params, json=json, files=files, data=data, headers=sent
            )
        except httpx.HTTPError as exc:
            raise Unavailable(service) from exc
        if answer.status_code in (502, 503, 504) or answer.status_code >= 500:
            raise Unavailable(service)
        if answer.status_code == 401:
            raise NotSignedIn()
        if raw and answer.status_code < 400:
            return Answer(answer.status_code, answer.content, answer.headers)
        try:
            body = answer.json() if answer.content else None
        except ValueError:
            body = None
        if answer.status_code >= 400:
            raise problem_of(answer.status_code, body)
        return Answer(answer.status_code, body, answer.headers)

    async def close(self) -> None:
        await self._http.aclose()
