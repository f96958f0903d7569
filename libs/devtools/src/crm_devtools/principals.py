"""Who may do what on the broker: one principal per service, the gateway's, and the operators'.

The one table the local broker's ACLs (scripts/infra.sh) and the platform's `KafkaUser`
resources (deploy/) are both made from, derived from `crm_contracts.catalog`:

- a service **writes** the topics it publishes and the dead-letter topics of what it consumes;
- it **reads** what it consumes, the access topic every service caches, and its own
  dead-letter topics (`dlq list|show`);
- it **creates** (and describes) the topics its `migrate` step ensures;
- it uses its **consumer group** and its DLQ replay group.
- The gateways' principal writes only `crm.timeline.interactions.v1`.
- `crm-admin` is the operators' (and the test harness's) super user. Replaying dead letters
  writes into another service's topic, so `dlq replay` runs with operator credentials.

Development passwords are `dev-<short name>-kafka`; nothing outside development uses them.
"""

from dataclasses import dataclass

from crm_contracts import catalog, topics
from crm_runtime.dlq import REPLAY_GROUP_SUFFIX

ADMIN = "crm-admin"
ADMIN_PASSWORD = "dev-admin-kafka"
GATEWAY = "crm-gateway"
SERVICES = ("intake-svc", "dedup-svc", "customer-svc", "allocation-svc", "timeline-svc")


@dataclass(frozen=True)
class Principal:
    name: str
    writes: tuple[str, ...]
    reads: tuple[str, ...]
    creates: tuple[str, ...]
    groups: tuple[str, ...]

    @property
    def dev_password(self) -> str:
        return f"dev-{self.name.removesuffix('-svc').removeprefix('crm-')}-kafka"


def published(service: str) -> tuple[str, ...]:
    return tuple(t for t, publisher in catalog.PUBLISHERS.items() if publisher == service)


def ensured(service: str) -> tuple[str, ...]:
    """The topics `migrate` creates (with their dead-letter topics): published and consumed."""
    return tuple(dict.fromkeys([*published(service), *catalog.SUBSCRIBERS[service]]))


def service_principal(service: str) -> Principal:
    consumed = catalog.SUBSCRIBERS[service]
    dead_letters = tuple(topics.dead_letter(t) for t in consumed)
    return Principal(
        name=service,
        writes=(*published(service), *dead_letters),
        reads=(*consumed, *catalog.CACHED_BY_EVERY_SERVICE, *dead_letters),
        creates=tuple(name for t in ensured(service) for name in (t, topics.dead_letter(t))),
        groups=(service, service + REPLAY_GROUP_SUFFIX),
    )


def principals() -> list[Principal]:
    """Every principal but the super user, services first."""
    gateway = Principal(GATEWAY, writes=(topics.TIMELINE_INTERACTIONS,), reads=(), creates=(), groups=())
    return [*(service_principal(s) for s in SERVICES), gateway]
