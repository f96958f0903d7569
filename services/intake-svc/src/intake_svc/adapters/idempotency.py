"""A Redis cache of idempotent answers: the fast path before the database's unique key."""

from redis.asyncio import Redis


class IdempotencyCache:
    def __init__(self, redis: Redis, ttl_s: int) -> None:
        self._redis = redis
        self._ttl = ttl_s

    @staticmethod
    def _key(channel_key: str, idempotency_key: str) -> str:
        return f"intake:idem:{channel_key}:{idempotency_key}"

    async def get(self, channel_key: str, idempotency_key: str) -> str | None:
        value = await self._redis.get(self._key(channel_key, idempotency_key))
        if value is None:
            return None
        return value.decode() if isinstance(value, bytes) else str(value)

    async def remember(self, channel_key: str, idempotency_key: str, submission_id: str) -> None:
        await self._redis.set(self._key(channel_key, idempotency_key), submission_id, ex=self._ttl, nx=True)
