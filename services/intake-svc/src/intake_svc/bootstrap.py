"""Wiring: settings → runtime, adapters and the service object used by the entrypoints."""

from dataclasses import dataclass

from redis.asyncio import Redis

from crm_runtime.runtime import ServiceRuntime
from intake_svc.adapters.idempotency import IdempotencyCache
from intake_svc.adapters.tables import metadata
from intake_svc.config import IntakeSettings
from intake_svc.service_layer import handlers
from intake_svc.service_layer.handlers import IntakeService


@dataclass
class Container:
    settings: IntakeSettings
    runtime: ServiceRuntime
    redis: Redis
    service: IntakeService


def bootstrap(settings: IntakeSettings) -> Container:
    runtime = ServiceRuntime(settings, metadata)
    runtime.subscribe(handlers.SUBSCRIPTIONS, handlers.HANDLERS)
    redis = Redis.from_url(settings.redis_url)
    runtime.add_dependency("redis", redis.ping, redis.aclose)
    service = IntakeService(runtime.sessions, runtime.outbox, IdempotencyCache(redis, settings.idempotency_ttl_s))
    return Container(settings, runtime, redis, service)
