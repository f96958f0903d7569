"""What every consumed event meets before dedup-svc builds a statement from it."""

from crm_contracts.envelope import Envelope
from crm_runtime.consumer import PoisonMessage
from dedup_svc.domain.storable import storable_problems

WORKSPACE_MAX = 100  # people.workspace, identities.workspace


def storable_event(event: Envelope) -> Envelope:
    """`event`, or PoisonMessage naming what the store could never keep (field paths only,
    no values), so the consumer dead-letters it at once instead of failing on every retry."""
    if not 0 < len(event.workspace) <= WORKSPACE_MAX or storable_problems(event.workspace):
        raise PoisonMessage(f"event workspace is not a workspace name (1..{WORKSPACE_MAX} storable characters)")
    problems = storable_problems(event.data, ("data",))
    if problems:
        raise PoisonMessage("unstorable values: " + ", ".join(f"{field} {message}" for field, message in problems[:10]))
    return event


def same_workspace(event: Envelope, record_workspace: str) -> None:
    """DESIGN 5.3: a consumer never applies an event to a record of another workspace."""
    if record_workspace != event.workspace:
        raise PoisonMessage(f"workspace mismatch: event workspace {event.workspace}, record workspace {record_workspace}")
