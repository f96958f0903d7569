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


@pytest.mark.parametrize("service", list(SERVICES))
async def test_no_operation_lets_a_missing_or_forged_token_through_or_fails_on_it(
    service: str, fuzz_runs: dict[str, "asyncio.Task[Run]"]
) -> None:
    """Each operation asked with no token, other schemes, malformed and forged tokens, refused
    algorithms, wrong claims and seeded junk: a secured one answers 401 every time (a signed-in
    stranger 403), and no operation, public ones included, answers with a server error."""
    run = await fuzz_runs[service]
    wrong = run.token_refusals
    report = "\n".join(f"{op}: {', '.join(answers)}" for op, answers in sorted(wrong.items()))
    assert not wrong, f"{service}-svc:\n{report}"
