"""Fixtures of the e2e tier; the harness itself lives in `crm_devtools.e2e`."""

from collections.abc import Callable, Iterator

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
