"""The deployment plan: the one table the Dockerfiles, the compose file and the Kubernetes base are written from.

Edit here, then run `crm-deploy-files` (the deploy tests fail while the files differ from it).
"""

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from allocation_svc.config import AllocationSettings
from crm_console.bootstrap import HTMX_SSE_VERSION, HTMX_VERSION
from crm_console.config import ConsoleSettings
from crm_contracts import catalog, topics
from crm_runtime.settings import METRICS_PORT_OFFSET, ProcessSettings, ServiceSettings
from customer_svc.config import CustomerSettings
from dedup_svc.config import DedupSettings
from intake_svc.config import IntakeSettings
from timeline_svc.config import TimelineSettings

KAFKA_VERSION = "3.9.1"  # the version scripts/infra.sh runs; compose and the dev cluster run the same
KAFKA_METADATA_VERSION = "3.9-IV0"
KAFKA_CLUSTER = "crm-kafka"  # the Strimzi Kafka resource: its bootstrap Service is <name>-kafka-bootstrap
# The cluster's only listener: TLS, SCRAM-SHA-512 clients, `authorization: simple` (KafkaUser ACLs).
KAFKA_PORT = 9093
KAFKA_LISTENER = "tls"
KAFKA_BOOTSTRAP = f"{KAFKA_CLUSTER}-kafka-bootstrap:{KAFKA_PORT}"
# Strimzi writes the cluster CA (key `ca.crt`) into this Secret, and each KafkaUser's password
# (key `password`) into a Secret named after the user.
KAFKA_CA_SECRET = f"{KAFKA_CLUSTER}-cluster-ca-cert"
KAFKA_CA_DIR = "/etc/crm/kafka-ca"
KAFKA_CA_FILE = f"{KAFKA_CA_DIR}/ca.crt"
REDIS_SECRET = "crm-redis"  # key `url`: redis://[:password@]host:6379/0
# The OpenID Connect issuer a cluster's services trust (overlays set their own) and the Secret
# holding each service's client secret: `<service>-oidc`, key `client-secret`.
OIDC_ISSUER = "https://sso.example.com/realms/crm"
OIDC_SECRET_KEY = "client-secret"
# Who may reach the pods at all (NetworkPolicies): the ingress controller's namespace on the API
# ports, the monitoring namespace on the metrics ports (namespaces matched by these labels).
INGRESS_NAMESPACE = {"kubernetes.io/metadata.name": "ingress-nginx"}
MONITORING_NAMESPACE = {"kubernetes.io/metadata.name": "monitoring"}
# Where the issuer is: a documentation range here, the overlays name the real one.
ISSUER_CIDR = "203.0.113.0/24"
ISSUER_PORT = 443
PYTHON_IMAGE = "python:3.11-slim-bookworm"
APP_UID = 10001
# The console's browser code (htmx 2 and its SSE extension) comes from the npm registry at the
# versions scripts/console-assets.sh pins, fetched in a build stage of its image on this Node.
NODE_IMAGE = "node:24-bookworm-slim"
CONSOLE_NPM_PACKAGES = (f"htmx.org@{HTMX_VERSION}", f"htmx-ext-sse@{HTMX_SSE_VERSION}")
CONSOLE_ASSETS_DIR = "/app/assets"  # in the image: htmx.min.js and sse.js, nothing else
# Where people open the console: the Ingress host (TLS from Secret CONSOLE_TLS_SECRET, written by
# the platform or cert-manager). Overlays set their own; the issuer must list
# <public url>/auth/callback as a redirect URI and <public url>/ as a post-logout redirect URI.
CONSOLE_HOST = "crm.example.com"
CONSOLE_TLS_SECRET = "console-tls"
INGRESS_CLASS = "nginx"


@dataclass(frozen=True)
class Topic:
    name: str
    partitions: int
    retention: timedelta
    why: str
    compacted: bool = False  # state, not events: the newest record per key is kept, whatever its age

    @property
    def retention_ms(self) -> int:
        return int(self.retention.total_seconds() * 1000)


# Partitions cap a consumer group: instances beyond the partition count sit idle. The counts
# leave room to scale the heaviest consumer of each topic well past what one node handles,
# and stay divisible by 2, 3, 4 and 6 so instances share partitions evenly.
TOPICS: tuple[Topic, ...] = (
    Topic(topics.LEADS, 24, timedelta(days=7), "bursts of submissions; dedup-svc (matching) is the heaviest consumer"),
    Topic(topics.DECISIONS, 24, timedelta(days=7), "one decision per lead; customer-svc creates or updates cards from it"),
    Topic(topics.CUSTOMER_EVENTS, 24, timedelta(days=14), "every card change; four services and outside systems read it"),
    Topic(topics.ALLOCATION_EVENTS, 12, timedelta(days=7), "one or two events per lead; assignment is serialised per workspace anyway"),
    Topic(topics.TIMELINE_EVENTS, 12, timedelta(days=7), "contact-date facts for customer-svc"),
    Topic(topics.TIMELINE_INTERACTIONS, 12, timedelta(days=7), "calls, mails and messages from gateways"),
    Topic(topics.SUBMISSIONS, 12, timedelta(days=7), "leads from lead sources that speak Kafka; intake-svc stages them"),
    Topic(topics.ACCESS, 3, timedelta(0), "memberships and roles, read whole by every service into its access cache", compacted=True),
    # The audit log's lines: customer-svc keeps them for good in its audit_log table; the topics
    # keep them long enough for other systems (a SIEM) to read them at their own pace.
    *(Topic(topics.audit(s), 6, timedelta(days=30), f"{s}-svc's audit lines, kept by customer-svc's audit log") for s in topics.AUDITED),
)
DLQ_PARTITIONS = 3
DLQ_RETENTION = timedelta(days=30)  # time to look at a poison message, fix the cause and replay it


def topic_plan(name: str) -> Topic:
    return next(t for t in TOPICS if t.name == name)


@dataclass(frozen=True)
class Resources:
    cpu_request: str
    memory_request: str
    cpu_limit: str
    memory_limit: str


API_RESOURCES = Resources("250m", "256Mi", "1", "512Mi")
WORKER_RESOURCES = Resources("500m", "320Mi", "1", "640Mi")
RELAY_RESOURCES = Resources("100m", "192Mi", "500m", "384Mi")
MIGRATE_RESOURCES = Resources("100m", "192Mi", "500m", "384Mi")


@dataclass(frozen=True)
class Service:
    name: str
    settings: type[ProcessSettings]
    # Other services' APIs this one calls: settings field -> service name.
    calls: dict[str, str] = field(default_factory=dict)
    uses_redis: bool = False
    # Lag per worker instance that KEDA aims for; about ten seconds of one instance's work.
    lag_per_worker: int = 2000
    # Serves Prometheus' /metrics on its own port (crm_runtime.metrics); without, `METRICS_PORT=0`.
    metrics: bool = True
    # Has a confidential OIDC client of its own (client credentials, secret `<name>-oidc`).
    oidc_client: bool = True
    # People open it in a browser: the Ingress host it is published at (None: an API only).
    public_host: str | None = None

    @property
    def prefix(self) -> str:
        return str(self.settings.model_config.get("env_prefix", ""))

    def default(self, setting: str) -> Any:
        return self.settings.model_fields[setting].default

    @property
    def port(self) -> int:
        return int(self.default("http_port"))

    @property
    def metrics_port(self) -> int:
        """Prometheus' port: a cluster sets it explicitly (the runtime's default rule, HTTP + 1000; 0: none)."""
        return self.port + METRICS_PORT_OFFSET if self.metrics else 0

    @property
    def owns_database(self) -> bool:
        """A database of its own (and so an outbox, a relay and a `migrate` step)."""
        return issubclass(self.settings, ServiceSettings)

    @property
    def roles(self) -> tuple[str, ...]:
        """What it runs as on a cluster: the API always; a worker if it consumes a topic with a
        group; the outbox relay and the migration if it owns a database."""
        roles = ["api"]
        if self.subscribes:
            roles.append("worker")
        if self.owns_database:
            roles += ["relay", "migrate"]
        return tuple(roles)

    @property
    def public_url(self) -> str | None:
        return f"https://{self.public_host}" if self.public_host else None

    @property
    def callers(self) -> tuple[str, ...]:
        """The services that call this one's API (the only pods besides the ingress that may)."""
        return tuple(s.name for s in SERVICES if self.name in s.calls.values())

    @property
    def oidc_secret(self) -> str | None:
        return f"{self.name}-oidc" if self.oidc_client else None

    @property
    def database(self) -> str:
        return self.name.removesuffix("-svc")

    @property
    def db_cluster(self) -> str:
        return f"{self.database}-db"

    @property
    def db_secret(self) -> str:
        """CloudNativePG writes `<cluster>-app` with key `uri`; with external databases the platform team writes it."""
        return f"{self.db_cluster}-app"

    @property
    def subscribes(self) -> tuple[str, ...]:
        """The topics it consumes with its consumer group (the console reads without one)."""
        return catalog.SUBSCRIBERS.get(self.name, ())

    @property
    def max_workers(self) -> int:
        return max(topic_plan(t).partitions for t in self.subscribes)

    def env(self, setting: str) -> str:
        return (self.prefix + setting).upper()


SERVICES: tuple[Service, ...] = (
    Service("intake-svc", IntakeSettings, calls={"customer_url": "customer-svc"}, uses_redis=True),
    Service("dedup-svc", DedupSettings),
    Service("customer-svc", CustomerSettings, calls={"dedup_url": "dedup-svc"}, lag_per_worker=1000),
    Service("allocation-svc", AllocationSettings),
    Service("timeline-svc", TimelineSettings, calls={"customer_url": "customer-svc"}, lag_per_worker=1000),
    # The web console: an API role only (no database, nothing to migrate, no consumer group: each
    # instance reads the public topics of catalog.WATCHED_BY_CONSOLE from their end as principal
    # `console`), sessions in Redis, every service's API behind it, published through the Ingress.
    # It signs people in as the issuer's public client (PKCE), so it has no client secret, and it
    # serves no /metrics.
    Service(
        "console",
        ConsoleSettings,
        calls={
            f"{name.removesuffix('-svc')}_url": name
            for name in ("intake-svc", "dedup-svc", "customer-svc", "allocation-svc", "timeline-svc")
        },
        uses_redis=True,
        metrics=False,
        oidc_client=False,
        public_host=CONSOLE_HOST,
    ),
)


def service(name: str) -> Service:
    return next(s for s in SERVICES if s.name == name)


def with_role(role: str) -> tuple[Service, ...]:
    """The services that run `role` (`api`, `worker`, `relay`, `migrate`)."""
    return tuple(s for s in SERVICES if role in s.roles)
