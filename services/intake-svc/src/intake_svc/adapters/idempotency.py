"""A Redis cache of idempotent answers: the fast path before the database's unique key."""

from redis.asyncio import Redis


class IdempotencyCache:
    """Keeps, per channel and key, the first submission's id and its body's fingerprint."""

    def __init__(self, redis: Redis, ttl_s: int) -> None:
        self._redis = redis
        self._ttl = ttl_s

    @staticmethod
    def _key(channel_key: str, idempotency_key: str) -> str:
        return f"intake:idem:{channel_key}:{idempotency_key}"

    async def get(self, channel_key: str, idempotency_key: str) -> tuple[str, str | None] | None:
        """(submission id, body fingerprint or None for entries written before fingerprints)."""
        value = await self._redis.get(self._key(channel_key, idempotency_key))
        if value is None:
            return None
        text = value.decode() if isinstance(value, bytes) else str(value)
        submission_id, _, fingerprint = text.partition(" ")
        return submission_id, fingerprint or None

    async def remember(self, channel_key: str, idempotency_key: str, submission_id: str, fingerprint: str | None) -> None:
        value = f"{submission_id} {fingerprint}" if fingerprint else submission_id
        await self._redis.set(self._key(channel_key, idempotency_key), value, ex=self._ttl, nx=True)

    async def forget(self, entries: list[tuple[str, str]]) -> None:
        """Drop the answers of (channel key, idempotency key) pairs (their card was erased: the
        entry holds its body's fingerprint). The database's unique key still answers repeats."""
        if entries:
            await self._redis.delete(*(self._key(channel, key) for channel, key in entries))
