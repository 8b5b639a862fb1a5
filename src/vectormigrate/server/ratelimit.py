"""Per-key rate limiting with memory that stays bounded however many keys or clients appear.

A token bucket per caller (``limit`` requests per ``period``, refilled continuously) held in an LRU map with a
hard cap. Like the Go server's limiter, there is no background sweeper: every call looks at the oldest entry
and drops it when its bucket has refilled completely (forgetting a full bucket changes nothing), and when the
map is at its cap the least recently used caller is evicted. Both are O(1) per request.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Decision", "RateLimiter"]

_EPS = 1e-9  # float slack: 60 s at 100/60 per second must refill exactly 100 tokens


@dataclass(frozen=True)
class Decision:
    """The answer for one request."""

    allowed: bool
    retry_after: int
    """Whole seconds until a request would be allowed (0 when allowed)."""
    remaining: int


class RateLimiter:
    """``limit`` requests per ``period`` seconds per key; at most ``max_keys`` keys tracked.

    Args:
        limit: requests allowed per period (also the burst size). 0 disables limiting.
        period: the period in seconds (60: "per minute").
        max_keys: hard cap on tracked keys (LRU eviction beyond it).
        clock: monotonic clock (tests pass a fake one).
    """

    def __init__(self, limit: int, period: float = 60.0, max_keys: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if limit < 0 or period <= 0 or max_keys < 1:
            msg = "limit must be >= 0, period > 0 and max_keys >= 1"
            raise ValueError(msg)
        self.limit = limit
        self.period = period
        self.max_keys = max_keys
        self._rate = limit / period if limit else 0.0
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, updated_at)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._buckets)

    def hit(self, key: str) -> Decision:
        """Spend one token of ``key``'s bucket, or say how long to wait."""
        if not self.limit:
            return Decision(True, 0, 0)
        now = self._clock()
        with self._lock:
            self._evict_tail(now)
            tokens, updated = self._buckets.pop(key, (float(self.limit), now))
            tokens = min(float(self.limit), tokens + (now - updated) * self._rate + _EPS)
            if tokens >= 1.0:
                tokens -= 1.0
                decision = Decision(True, 0, int(tokens))
            else:
                decision = Decision(False, max(1, math.ceil((1.0 - tokens) / self._rate)), 0)
            self._buckets[key] = (tokens, now)  # most recently used at the end
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        return decision

    def _evict_tail(self, now: float) -> None:
        """Drop the least recently used bucket when it has refilled completely (at most two per call)."""
        for _ in range(2):
            if not self._buckets:
                return
            key, (tokens, updated) = next(iter(self._buckets.items()))
            if tokens + (now - updated) * self._rate + _EPS >= self.limit:
                del self._buckets[key]
            else:
                return
