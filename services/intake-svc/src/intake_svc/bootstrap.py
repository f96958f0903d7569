"""Wiring: settings → runtime, adapters and the services used by the entrypoints."""

from dataclasses import dataclass
from uuid import UUID

from redis.asyncio import BlockingConnectionPool, Redis

from crm_contracts.leads import ChannelKind
from crm_runtime.registry import Registry
from crm_runtime.runtime import ServiceRuntime
from crm_runtime.service_token import ServiceToken
from intake_svc.adapters.field_definitions import FieldDefinitionsClient
from intake_svc.adapters.idempotency import IdempotencyCache
from intake_svc.adapters.rate_limit import FailureFeed, RateLimiter
from intake_svc.adapters.spreadsheets import Limits
from intake_svc.adapters.tables import metadata
from intake_svc.config import IntakeSettings
from intake_svc.domain.channels import Channel
from intake_svc.service_layer import handlers
from intake_svc.service_layer.bulk import BulkIntake
from intake_svc.service_layer.channels import Channels
from intake_svc.service_layer.edge import EdgeGuard, KeyFailures, Network, trusted_networks
from intake_svc.service_layer.erasure import Erasure
from intake_svc.service_layer.handlers import IntakeService
from intake_svc.service_layer.imports import ImportService
from intake_svc.service_layer.streaming import StreamedLeads


@dataclass
class Container:
    settings: IntakeSettings
    runtime: ServiceRuntime
    redis: Redis
    service: IntakeService
    imports: ImportService
    guard: EdgeGuard
    channels: Channels
    failures: KeyFailures
    trusted_proxies: tuple[Network, ...]
    registry: Registry  # what the consumer runs, by payload class
    bulk: BulkIntake


def bootstrap(settings: IntakeSettings) -> Container:
    runtime = ServiceRuntime(settings, metadata)
    pool = BlockingConnectionPool.from_url(
        settings.redis_url, max_connections=settings.redis_max_connections, timeout=settings.redis_pool_timeout_s
    )
    redis = Redis.from_pool(pool)  # owns the pool: closed with the client
    runtime.add_dependency("redis", redis.ping, redis.aclose)
    idempotency = IdempotencyCache(redis, settings.idempotency_ttl_s)
    definitions = FieldDefinitionsClient(settings.customer_url, 2.0, settings.field_definitions_ttl_s, auth=ServiceToken(settings))
    runtime.close_on_stop(definitions.close)
    channels = Channels(runtime.sessions, runtime.audit)
    registry = (
        Registry()
        .include(StreamedLeads(channels, runtime.outbox, definitions.of).registry())
        .include(handlers.decisions_and_cards())
        .include(Erasure(idempotency).registry())
    )
    runtime.consume(registry)
    service = IntakeService(runtime.sessions, runtime.outbox, idempotency, definitions=definitions.of)
    runtime.drain_on_stop(service.close)
    imports = ImportService(
        runtime.sessions,
        runtime.outbox,
        settings.max_import_bytes,
        settings.import_chunk_rows,
        settings.import_lease_s,
        definitions=definitions.of,
        limits=Limits(
            max_rows=settings.import_max_rows,
            max_columns=settings.import_max_columns,
            max_cell_chars=settings.import_max_cell_chars,
            max_uncompressed_bytes=settings.import_max_uncompressed_bytes,
            max_compression_ratio=settings.import_max_compression_ratio,
        ),
        max_attempts=settings.import_max_attempts,
        audit=runtime.audit,
    )
    runtime.drain_on_stop(imports.close)

    async def import_channel(channel_id: UUID) -> Channel:
        return await channels.by_id(channel_id, {ChannelKind.IMPORT})

    if settings.run_consumers:
        runtime.add_worker("imports", lambda stop: imports.run(stop, import_channel))
    limiter = RateLimiter(redis)
    guard = EdgeGuard(limiter, settings.channel_rate_limit_per_minute, settings.address_rate_limit_per_minute)
    failures = KeyFailures(limiter, settings.key_failure_limit, settings.key_failure_window_s, FailureFeed(redis))
    runtime.add_worker("key-failures", failures.watch)  # hears every instance's failed key attempts
    return Container(
        settings,
        runtime,
        redis,
        service,
        imports,
        guard,
        channels,
        failures,
        trusted_networks(settings.trusted_proxies),
        registry,
        BulkIntake(runtime.sessions, runtime.outbox, definitions.of),
    )
