"""Fixtures of the e2e tier; the harness itself lives in `crm_devtools.e2e`."""

from collections.abc import AsyncIterator, Callable, Iterator

import httpx
import pytest

from crm_devtools import identity
from crm_devtools.e2e import E2ESuite, Members, build_suite


@pytest.fixture(scope="session", autouse=True)
def issuer() -> str:
    """The local Keycloak every suite's services verify tokens against (started if not running)."""
    return identity.start_keycloak()


@pytest.fixture(scope="session")
def make_suite(issuer: str) -> Iterator[Callable[..., E2ESuite]]:
    """Build fresh, isolated suites (`make_suite(members=...)` for other memberships than the
    demo users' of `main`); every suite built is stopped at the end of the session."""
    built: list[E2ESuite] = []

    def build(members: Members | None = None) -> E2ESuite:
        suite = build_suite(members)
        built.append(suite)
        return suite

    yield build
    for suite in built:
        suite.stop_all()


@pytest.fixture(scope="module")
def suite(request: pytest.FixtureRequest, make_suite: Callable[..., E2ESuite]) -> Iterator[E2ESuite]:
    """The five services started and seeded, shared by a module (modules needing more override it).
    A module's `MEMBERS` (workspace -> demo user -> role) replaces the default memberships."""
    suite = make_suite(getattr(request.module, "MEMBERS", None))
    suite.start_all()
    suite.seed()
    yield suite
    suite.stop_all()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """A client calling as the demo administrator (`admin`, an administrator of `main`), in
    `main` unless a request names another workspace."""
    async with httpx.AsyncClient(timeout=30, auth=identity.UserAuth("admin", "main")) as client:
        yield client


@pytest.fixture
async def anonymous() -> AsyncIterator[httpx.AsyncClient]:
    """A client without a token: the public edge (channel keys) and the refusals."""
    async with httpx.AsyncClient(timeout=30) as client:
        yield client
