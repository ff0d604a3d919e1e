"""Named rate-limit rules and the checks routes make: ``RateLimits.hit`` (counts every request)
and ``RateLimits.ensure`` / ``RateLimits.record`` (counts only failures, e.g. wrong locker keys)."""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from limits import RateLimitItem, parse_many
from limits.storage import Storage, storage_from_string
from limits.strategies import FixedWindowRateLimiter

from facegate.core.errors import (
    ConfigError,
    FaceGateError,
    RateLimitedError,
    RateLimitUnavailableError,
)

Clock = Callable[[], float]


def parse_rule(text: str) -> tuple[RateLimitItem, ...]:
    """``"120/minute;2000/hour"`` → limit items; ``ValueError`` names the problem."""
    try:
        items = tuple(parse_many(text))
    except ValueError as exc:
        raise ValueError(f"not a rate limit like '30/minute;500/hour': {text!r} ({exc})") from None
    if not items:
        raise ValueError(f"empty rate limit: {text!r}")
    return items


def build_storage(url: str | None, database: Any, purge_every: int = 200) -> Storage:
    """The database's storage by default; a ``limits`` storage URL (redis://, memory://) else."""
    if not url:
        from facegate.core.ratelimit.storage import SqlStorage

        return SqlStorage(database, purge_every)
    try:
        storage = storage_from_string(url)
    except Exception as exc:  # limits raises ConfigurationError / ImportError / ValueError
        scheme = url.split(":", 1)[0]
        raise ConfigError(f"rate limit storage {scheme}:// unusable: {exc}") from None
    if not isinstance(storage, Storage):
        raise ConfigError("rate limit storage: use a synchronous storage URL (redis://, memory://)")
    return storage


class RateLimits:
    """The rules by name (``recognition``, ``enrol``, ``login``, …) over one shared storage."""

    def __init__(
        self, storage: Storage, rules: Mapping[str, str], enabled: bool = True,
        clock: Clock = time.time,
    ) -> None:
        self.storage = storage
        self.strategy = FixedWindowRateLimiter(storage)
        self.rules = {name: parse_rule(text) for name, text in rules.items()}
        self.enabled = enabled
        self.clock = clock

    def _items(self, rule: str) -> tuple[RateLimitItem, ...]:
        try:
            return self.rules[rule]
        except KeyError:
            raise ConfigError(f"no rate limit rule named {rule!r}") from None

    @contextlib.contextmanager
    def _store(self) -> Iterator[None]:
        """Storage failures (Redis or the database down) refuse the request: fail closed."""
        try:
            yield
        except FaceGateError:  # a refusal (429) or a configuration error: as it is
            raise
        except self.storage.base_exceptions as exc:
            raise RateLimitUnavailableError(
                f"the rate-limit store is unreachable ({type(exc).__name__}); try again later"
            ) from exc

    def hit(self, rule: str, keys: Iterable[str]) -> None:
        """Count one request for every key; ``RateLimitedError`` when any limit is passed,
        ``RateLimitUnavailableError`` when the store cannot be reached."""
        if not self.enabled:
            return
        with self._store():
            self._hit(rule, keys)

    def _hit(self, rule: str, keys: Iterable[str]) -> None:
        pairs = [(item, key) for key in keys for item in self._items(rule)]
        incr_many = getattr(self.storage, "incr_many", None)
        if incr_many is None:  # another storage (Redis, memory): one call per counter
            for item, key in pairs:
                if not self.strategy.hit(item, rule, key):
                    self._refuse(rule, item, key)
            return
        # the database storage: every counter of this request in one transaction (same
        # fixed-window rule as FixedWindowRateLimiter.hit: the new count must not pass the limit)
        counts = incr_many([(i.key_for(rule, k), i.get_expiry(), 1) for i, k in pairs])
        for (item, key), count in zip(pairs, counts, strict=True):
            if count > item.amount:
                self._refuse(rule, item, key)

    def ensure(self, rule: str, keys: Iterable[str]) -> None:
        """Refuse (without counting) when a failure-counting rule is exhausted for any key."""
        if not self.enabled:
            return
        with self._store():
            for key in keys:
                for item in self._items(rule):
                    if not self.strategy.test(item, rule, key):
                        self._refuse(rule, item, key)

    def record(self, rule: str, keys: Iterable[str]) -> None:
        """Count one failure for every key (the next ``ensure`` may refuse)."""
        with contextlib.suppress(RateLimitedError):  # counted; the next ``ensure`` refuses
            self.hit(rule, keys)

    def retry_after(self, rule: str, item: RateLimitItem, key: str) -> int:
        reset = self.strategy.get_window_stats(item, rule, key).reset_time
        return max(1, math.ceil(reset - self.clock()))

    def _refuse(self, rule: str, item: RateLimitItem, key: str) -> None:
        wait = self.retry_after(rule, item, key)
        raise RateLimitedError(
            f"too many requests ({rule}: at most {item}): try again in {wait} seconds", wait
        )
