"""Fixtures of the e2e tier; the harness itself lives in `crm_devtools.e2e`."""

from collections.abc import AsyncIterator, Callable, Iterator

import httpx
import pytest

from crm_devtools.e2e import E2ESuite, build_suite


@pytest.fixture(scope="session")
def make_suite() -> Iterator[Callable[[], E2ESuite]]:
    """Build fresh, isolated suites; every suite built is stopped at the end of the session."""
    built: list[E2ESuite] = []

    def build() -> E2ESuite:
        suite = build_suite()
        built.append(suite)
        return suite

    yield build
    for suite in built:
        suite.stop_all()


@pytest.fixture(scope="module")
def suite(make_suite: Callable[[], E2ESuite]) -> Iterator[E2ESuite]:
    """The five services started and seeded, shared by a module (modules needing more override it)."""
    suite = make_suite()
    suite.start_all()
    suite.seed()
    yield suite
    suite.stop_all()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as client:
        yield client
