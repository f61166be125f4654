"""Which failure records the throttle keeps, so that a flood cannot exhaust memory.

``limits``' memory storage never bounds its number of keys, and drops expired ones only in a
sweep that a later hit starts. ``BoundedKeys`` is the bound: each *kind* of key (client
addresses, user names) may have at most ``capacity`` records, each kept until its longest
window has passed since its last failure; a key whose record could not be kept has its
failures counted in one shared *overflow* record of its kind instead.

Why overflow and not eviction: if a full table evicted its oldest records, an attacker with
many addresses (an IPv6 /64 is 2**64 of them) could flood it and evict the very record that
throttles their guesses at a victim's user name - a reset of the count for the price of a
flood. Here no live record is ever dropped early: a throttled address or user name stays
throttled. The cost of a full table is fail-closed: every key of that kind is also judged by
the overflow record (so a key that gets a place later cannot shed the failures counted for it
there), and once a flood has used up the overflow's allowance, attempts of that kind are
refused with 429 until it drains, at most one long window (an hour by default) after the
flood ends. For addresses that includes API-key requests; signed-in browsers and proxy users
are unaffected. A flood can delay sign-ins, never buy extra guesses. Kinds are separate
tables, so a flood of addresses never touches the user-name records.

Names of real accounts (in ``auth.json``) are a third kind, ``account``, outside the table:
each always has its own record, and their number is bounded by the configuration. So a flood
of invented user names (20 an hour from each of a few hundred addresses) fills only the
``user`` table and its overflow, and cannot lock the real accounts out.

Records are dropped from the table only once every window has passed since their last
failure, so ``limits`` holds nothing alive for them and its own sweep frees their memory. They
are not ``clear``ed: in ``limits`` 5.8 a ``clear`` during a running sweep makes the sweep fail
with ``KeyError`` and leaves a lock behind (``FailureThrottle.forget`` still clears a signed-in
user's own record, one of a bounded set of names). As a record stays in the table for a full
window after its last failure, at most ``capacity`` records per kind can be waiting for the
sweep: ``limits`` holds at most about twice ``capacity`` keys per kind and window.

Trusted browsers' records (``device``, see ``trusted_devices``) are a bounded kind too: a
device cookie is issued only after a successful sign-in, but anyone with an account can
collect many. When their table is full, devices share the overflow record, and a device whose
record is throttled is judged as an untrusted browser: a flood of devices costs the trusted
browsers their head start, never anyone's sign-in below the untrusted rules.

With Redis (``SharedKeys``) every key is its own record: the table would be per instance and
could not agree across instances; Redis expires each record by TTL and its ``maxmemory``
(with ``noeviction``, so a full Redis fails closed with 503) bounds the rest.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

KINDS = ("addr", "user", "device")
"""The bounded kinds; any other (``account``) keeps its own record, outside the table."""


def kind_of(key: str) -> str:
    return key.partition(":")[0]


def overflow_key(kind: str) -> str:
    """Outside both namespaces (``addr:``/``user:``), so no address or name can collide."""
    return f"overflow:{kind}"


class KeyPolicy(Protocol):
    def admit(self, key: str) -> str:
        """The record that counts one more failure of ``key``."""
        ...

    def judges(self, key: str) -> tuple[str, ...]:
        """The records that decide whether ``key`` must wait."""
        ...

    def release(self, key: str) -> None:
        """``key``'s record was cleared."""
        ...

    def __len__(self) -> int: ...


class SharedKeys:
    """Redis: every key has its own record, expired by Redis."""

    def admit(self, key: str) -> str:
        return key

    def judges(self, key: str) -> tuple[str, ...]:
        return (key,)

    def release(self, key: str) -> None:
        """Nothing is tracked here."""

    def __len__(self) -> int:
        return 0


class BoundedKeys:
    """At most ``capacity`` records per kind, each until ``lifetime`` after its last failure."""

    def __init__(
        self, capacity: int, lifetime: float, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._capacity = capacity
        self._lifetime = lifetime
        self._clock = clock
        # Insertion order is deadline order: a renewed key is moved to the end.
        self._deadlines: dict[str, dict[str, float]] = {kind: {} for kind in KINDS}

    def admit(self, key: str) -> str:
        kind = kind_of(key)
        table = self._deadlines.get(kind)
        if table is None:
            return key
        now = self._clock()
        _drop_expired(table, now)
        if key not in table and len(table) >= self._capacity:
            return overflow_key(kind)
        table.pop(key, None)
        table[key] = now + self._lifetime
        return key

    def judges(self, key: str) -> tuple[str, ...]:
        kind = kind_of(key)
        return (key, overflow_key(kind)) if kind in self._deadlines else (key,)

    def release(self, key: str) -> None:
        self._deadlines.get(kind_of(key), {}).pop(key, None)

    def __len__(self) -> int:
        return sum(len(table) for table in self._deadlines.values())


def _drop_expired(table: dict[str, float], now: float) -> None:
    """Oldest first, stopping at the first live record: amortised constant time."""
    while table:
        key, deadline = next(iter(table.items()))
        if deadline > now:
            return
        del table[key]
