from __future__ import annotations

import redis.asyncio as aioredis
import structlog

from overworld.clock import now_ms
from overworld.subsystems.scheduler.base import ScheduledJobs

log = structlog.get_logger(__name__)
# How long a claim is kept: a node that reaches a fire time later than this after another node
# claimed it (its clock that far behind) would run the job again, so it gives up at half of it.
CLAIM_TTL_MS = 10 * 60 * 1000


class RedisScheduler(ScheduledJobs):
    """Each fire time is claimed with `SET <prefix>:sched:<job>:<fire time ms> NX PX`: the node
    that sets the key runs the job, the others see it set and skip that time."""

    def __init__(
        self,
        client: aioredis.Redis,
        prefix: str,
        node_name: str = "",
        grace_sec: float = 10.0,
        claim_ttl_ms: int = CLAIM_TTL_MS,
    ) -> None:
        super().__init__(grace_sec)
        self._redis = client
        self._prefix = f"{prefix}:sched:"
        self._node = node_name or "node"
        self._ttl = claim_ttl_ms

    async def _claim(self, name: str, fire_ms: int) -> bool:
        late = now_ms() - fire_ms
        if late > self._ttl // 2:
            log.warning("scheduled job skipped: too late to claim", job=name, fire_time=fire_ms, late_ms=late)
            return False
        key = f"{self._prefix}{name}:{fire_ms}"
        return bool(await self._redis.set(key, self._node, nx=True, px=self._ttl))
