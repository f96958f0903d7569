"""Several instances behave like one; a killed service loses nothing and duplicates nothing."""

import asyncio
import re
import uuid
from collections.abc import Iterator

import httpx
import pytest

from crm_devtools.e2e import E2ESuite, eventually

pytestmark = pytest.mark.e2e


async def post_leads(suite: E2ESuite, count: int, tag: str, concurrency: int = 32) -> list[str]:
    """Post `count` distinct leads through the API channel; returns the submission ids."""
    semaphore = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=concurrency)) as http:

        async def one(i: int) -> str:
            async with semaphore:
                body = {"first_name": "Lead", "last_name": f"{tag}-{i}", "emails": [f"{tag}.{i}@example.com"], "phones": [f"+9725{i:08d}"]}
                answer = await http.post(f"{suite.url('intake')}/v1/leads", headers={"X-Channel-Key": "dev-api-key"}, json=body)
                assert answer.status_code == 202, answer.text
                return str(answer.json()["submission_id"])

        return list(await asyncio.gather(*(one(i) for i in range(count))))


async def wait_for_owned_cards(suite: E2ESuite, count: int, timeout: float) -> None:
    async def owned() -> bool:
        return await suite.scalar("customer", "select count(*) from customers where owner_id is not null") == count

    await eventually(owned, timeout=timeout, interval=0.5, what=f"{count} cards with an owner")


async def processed_by(metrics_url: str) -> float:
    async with httpx.AsyncClient(timeout=5) as http:
        text = (await http.get(metrics_url)).text
    return sum(float(m) for m in re.findall(r'crm_consumer_messages_total\{outcome="ok",topic="[^"]+"\} ([0-9.e+]+)', text))


@pytest.fixture(scope="module")
def scaled(make_suite) -> Iterator[E2ESuite]:  # type: ignore[no-untyped-def]
    suite = make_suite()
    suite.start_all()
    for name in ("dedup", "customer"):
        suite.start(name, instance=1).wait_ready()
    suite.seed()
    yield suite
    suite.stop_all()


async def test_two_instances_of_dedup_and_customer_give_one_card_per_lead(scaled: E2ESuite) -> None:
    submissions = await post_leads(scaled, 500, f"scale{uuid.uuid4().hex[:6]}")
    await wait_for_owned_cards(scaled, 500, timeout=120)
    assert await scaled.scalar("customer", "select count(*) from customers") == 500
    assert await scaled.scalar("customer", "select count(distinct number) from customers") == 500
    assert await scaled.scalar("allocation", "select count(*) from assignments") == 500
    assert await scaled.scalar("dedup", "select count(distinct customer_id) from identities") == 500

    async def all_done() -> bool:
        return await scaled.scalar("intake", "select count(*) from submissions where state = 'done'") == len(submissions)

    await eventually(all_done, timeout=60, what="every submission done")
    # Both instances of each scaled service took a share of the partitions.
    for name in ("dedup", "customer"):
        shares = [await processed_by(scaled.metrics_url(name, instance)) for instance in (0, 1)]
        assert all(share > 0 for share in shares), f"{name}-svc instances processed {shares}"


@pytest.fixture(scope="module")
def crashable(make_suite) -> Iterator[E2ESuite]:  # type: ignore[no-untyped-def]
    suite = make_suite()
    suite.start_all()
    suite.seed()
    yield suite
    suite.stop_all()


async def test_sigkill_of_customer_svc_loses_no_lead_and_duplicates_nothing(crashable: E2ESuite) -> None:
    total = 2000
    customer = next(p for p in crashable.processes if p.name == "customer")
    posting = asyncio.create_task(post_leads(crashable, total, f"crash{uuid.uuid4().hex[:6]}"))

    async def some_cards() -> bool:
        return (await crashable.scalar("customer", "select count(*) from customers")) >= 200  # type: ignore[operator]

    await eventually(some_cards, timeout=120, what="the first cards while leads still flow")
    customer.kill()
    killed_at = await crashable.scalar("customer", "select count(*) from customers")
    await asyncio.sleep(1.0)
    customer.start()
    await asyncio.to_thread(customer.wait_ready)
    await posting
    assert killed_at < total, "the kill must happen while leads are in flight"  # type: ignore[operator]

    await wait_for_owned_cards(crashable, total, timeout=240)
    assert await crashable.scalar("customer", "select count(*) from customers") == total
    assert await crashable.scalar("customer", "select count(distinct number) from customers") == total

    async def timeline_complete() -> bool:
        return await crashable.scalar("timeline", "select count(*) from entries where kind = 'assigned'") == total

    await eventually(timeline_complete, timeout=120, what="every assignment on the timeline")
    duplicates = await crashable.scalar(
        "timeline", "select count(*) from (select customer_id, kind from entries group by 1, 2 having count(*) > 1) d"
    )
    assert duplicates == 0
    assert await crashable.scalar("timeline", "select count(*) from entries where kind = 'created'") == total
