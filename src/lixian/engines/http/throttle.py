"""Speed limits as token buckets that several connections share.

A limit can change while downloads run (``changeOption``), so the rate is a plain
attribute read on every acquire. 0 means unlimited, as in aria2.
"""

from __future__ import annotations

import asyncio
import time

__all__ = ["RateLimiter"]


class RateLimiter:
    """Allows ``rate`` bytes a second on average, with a burst of a quarter second."""

    def __init__(self, rate: int = 0) -> None:
        self.rate = rate
        self._tokens = 0.0
        self._stamp = time.monotonic()

    async def acquire(self, n: int) -> None:
        if self.rate <= 0:
            return
        now = time.monotonic()
        burst = self.rate / 4
        self._tokens = min(burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        self._tokens -= n
        if self._tokens < 0:
            # Sleep off the debt: the next caller sees the debt too, so the
            # connections share the rate instead of each taking all of it.
            await asyncio.sleep(-self._tokens / self.rate)


async def acquire_all(limiters: tuple[RateLimiter, ...], n: int) -> None:
    for limiter in limiters:
        await limiter.acquire(n)
