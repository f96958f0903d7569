"""Waiting out a dependency that says "not now": capped exponential backoff with jitter."""

import asyncio
import random

# 0.1 s doubling up to 5 s; each pause is drawn between half and all of that, so instances
# that met the same outage do not come back in lockstep.
FIRST_S = 0.1
CAP_S = 5.0


def backoff(tries: int) -> float:
    """The pause before try `tries + 1` of something a dependency keeps refusing."""
    ceiling: float = min(CAP_S, FIRST_S * 2.0 ** min(tries, 16))
    return random.uniform(0.5, 1.0) * ceiling


async def sleep_or_stop(stop: asyncio.Event, seconds: float) -> bool:
    """Pause for `seconds`, or less when `stop` is set meanwhile; True when stopping."""
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        pass
    return stop.is_set()
