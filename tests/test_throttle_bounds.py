"""The in-memory throttle stays bounded under a flood, and a flood buys an attacker nothing.

A flood of distinct addresses and user names (what an attacker with many IPv6 /64s can send)
must neither grow memory past the bound nor push out the records that already throttle an
address or count failures against a victim's name; newcomers are judged by the shared
overflow record instead (see ``core/throttle_keys.py``).
"""

from __future__ import annotations

import asyncio

import pytest
from limits.aio.storage import MemoryStorage

from comfyui_auth.core.throttle import FailureThrottle, address_key, failure_windows, user_key
from comfyui_auth.core.throttle_keys import BoundedKeys, overflow_key

WINDOWS = failure_windows(5, 60)  # 5 a minute, 20 an hour
CAPACITY = 1000
FLOOD = 50_000


async def test_a_flood_keeps_memory_bounded_and_buys_an_attacker_nothing() -> None:
    storage = MemoryStorage()
    throttle = FailureThrottle(WINDOWS, storage, BoundedKeys(CAPACITY, 3600))
    attacker, victim = address_key("203.0.113.7"), user_key("alice", known=True)
    for _ in range(5):
        await throttle.record_failure(attacker)
    for _ in range(4):
        await throttle.record_failure(victim)
    assert await throttle.retry_after(attacker) > 0
    assert await throttle.retry_after(victim) == 0

    for n in range(FLOOD):
        network = f"2001:db8:{n >> 16:x}:{n & 0xFFFF:x}"  # a distinct /64 each
        await throttle.record_failure(
            address_key(f"{network}::1"), user_key(f"name-{n}", known=False)
        )

    assert throttle.tracked_keys <= 2 * CAPACITY  # two kinds: addresses and user names
    # limits' own storage: one entry per record and window: two tables, their two overflow
    # records, and the one real account (outside the tables, bounded by auth.json)
    assert len(storage.events) <= len(WINDOWS) * (2 * (CAPACITY + 1) + 1)
    assert await throttle.retry_after(attacker) > 0  # still throttled: nothing was evicted
    await throttle.record_failure(victim)
    assert await throttle.retry_after(victim) > 0  # the fifth failure counts: no reset
    # A newcomer cannot be counted on its own, so it shares the exhausted overflow: fail closed.
    assert await throttle.retry_after(address_key("198.51.100.1")) > 0
    assert await throttle.retry_after(user_key("name-new", known=False)) > 0
    # Real accounts keep their own records: the flood of invented names locks none of them out.
    assert await throttle.retry_after(user_key("bob", known=True)) == 0


async def test_a_success_clears_the_users_record_and_frees_its_place() -> None:
    throttle = FailureThrottle.in_memory(WINDOWS, capacity=1)
    alice, bob = user_key("alice", known=False), user_key("bob", known=False)
    await throttle.record_failure(alice)
    assert throttle.tracked_keys == 1
    await throttle.forget(alice)
    assert throttle.tracked_keys == 0
    await throttle.record_failure(bob)
    assert throttle.tracked_keys == 1


def test_a_full_table_sends_newcomers_to_the_overflow_record() -> None:
    keys = BoundedKeys(2, 3600, clock=lambda: 0.0)
    first, second, third = (address_key(f"192.0.2.{n}") for n in (1, 2, 3))
    assert [keys.admit(first), keys.admit(second)] == [first, second]
    assert keys.admit(third) == overflow_key("addr")
    assert keys.admit(first) == first  # a tracked key keeps its own record
    alice, carol = user_key("alice", known=False), user_key("carol", known=True)
    assert keys.admit(alice) == alice  # kinds do not compete
    assert keys.admit(carol) == carol  # a real account is outside the table
    assert keys.judges(carol) == (carol,)
    assert keys.judges(third) == (third, overflow_key("addr"))
    assert len(keys) == 3


def test_records_leave_the_table_only_when_their_last_failure_is_a_window_old() -> None:
    now = [0.0]
    keys = BoundedKeys(2, 3600, clock=lambda: now[0])
    old, renewed, newcomer = (address_key(f"192.0.2.{n}") for n in (1, 2, 3))
    keys.admit(old)
    now[0] += 10
    keys.admit(renewed)
    now[0] += 3500
    keys.admit(renewed)  # its last failure is now 3510 s after the start
    now[0] += 99  # 3609 s: ``old`` is over an hour old, ``renewed`` is not
    assert keys.admit(newcomer) == newcomer
    assert len(keys) == 2
    assert keys.admit(old) == overflow_key("addr")  # full again: ``renewed`` was kept


@pytest.mark.parametrize(
    ("first", "second", "same_record"),
    [
        pytest.param("2001:db8:1:2::1", "2001:db8:1:2:ffff::9", True, id="ipv6-same-64"),
        pytest.param("2001:db8:1:2::1", "2001:db8:1:3::1", False, id="ipv6-other-64"),
        pytest.param("::ffff:192.0.2.1", "192.0.2.1", True, id="ipv4-mapped-is-ipv4"),
        pytest.param("192.0.2.1", "192.0.2.2", False, id="ipv4-by-address"),
        pytest.param("fe80::1%eth0", "fe80::2", True, id="ipv6-zone-dropped"),
    ],
)
async def test_ipv6_addresses_count_by_64_network(
    first: str, second: str, same_record: bool
) -> None:
    throttle = FailureThrottle(WINDOWS, MemoryStorage(), BoundedKeys(CAPACITY, 3600))
    for _ in range(5):
        await throttle.record_failure(address_key(first))
    assert (await throttle.retry_after(address_key(second)) > 0) is same_record


async def test_a_success_during_the_stores_expiry_sweep_leaves_the_sweep_whole() -> None:
    """``limits``' sweep awaits a thread per key: a ``forget`` in between must not break it."""
    throttle = FailureThrottle.in_memory(WINDOWS)
    alice, bob = user_key("alice", known=True), user_key("bob", known=True)
    await throttle.record_failure(alice, bob)  # the first hit starts the store's sweep
    sweeps = [task for task in asyncio.all_tasks() if "expire_events" in repr(task.get_coro())]
    assert len(sweeps) == 1
    await asyncio.sleep(0)  # the sweep has listed every key and awaits its first thread
    await throttle.forget(bob)  # a sign-in that succeeds meanwhile
    await asyncio.wait_for(sweeps[0], timeout=10)  # raises if the sweep broke
    assert await throttle.retry_after(bob) == 0
    for _ in range(5):
        await throttle.record_failure(bob)
    assert await throttle.retry_after(bob) > 0  # the cleared record counts failures again
