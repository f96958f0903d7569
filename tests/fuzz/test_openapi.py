"""schemathesis over every service's OpenAPI: no server error and no response that
contradicts the document, for generated valid and invalid requests and stateful sequences."""

import asyncio

import pytest

from crm_contracts.export import dangling_refs

from .conftest import SERVICES, Run

pytestmark = pytest.mark.fuzz


@pytest.mark.parametrize("service", list(SERVICES))
async def test_openapi_holds_under_generated_requests(service: str, fuzz_runs: dict[str, "asyncio.Task[Run]"]) -> None:
    run = await fuzz_runs[service]
    outcome = run.outcome
    print(outcome.console)
    report = outcome.report
    assert report["complete"], outcome.console
    assert report["operations"]["tested"] == report["operations"]["selected"] > 0, outcome.console
    problems: list[str] = []
    # A reference that names nothing hides the schema it stands for: no body is checked against it.
    if dangling := sorted(set(dangling_refs(run.document))):
        problems.append(f"the OpenAPI document refers to what it does not define: {dangling}")
    if report["failures"] or report["errors"]:
        problems.append(outcome.summary())
    assert not problems, f"{service}-svc:\n" + "\n".join(problems)
