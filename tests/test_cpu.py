"""What a server spends per request: the CPU split, connections, and strace's table."""

from __future__ import annotations

import os

from loadtests.bench.cpu import Counters, parse_strace, read, split, tcp_opens, wait_idle

STRACE = """% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ----------------
 40.10    0.000400           3       120           sendto
 30.00    0.000300           2       120           recvfrom
 20.00    0.000200           1       121         1 accept4
  9.90    0.000099           0        40        40 futex
------ ----------- ----------- --------- --------- ----------------
100.00    0.000999           2       401        41 total
"""


def test_an_strace_table_is_read_by_name_and_totalled() -> None:
    total, top = parse_strace(STRACE)
    assert total == 401  # the rows, not the total line counted twice
    assert list(top) == ["accept4", "sendto", "recvfrom", "futex"]
    assert top["futex"] == 40
    assert parse_strace("strace: Process 1 attached\n") == (0, {})


def test_the_split_is_per_answered_request() -> None:
    before = Counters(user_s=1.0, kernel_s=0.5, passive_opens=100, active_opens=200)
    after = Counters(user_s=1.4, kernel_s=0.6, passive_opens=1100, active_opens=1200)
    found = split(before, after, 1000)
    assert found is not None
    assert (found.user_us, found.kernel_us) == (400.0, 100.0)
    assert found.cpu_us == 500.0
    assert found.connections_per_request == 1.0
    assert found.client_connections_per_request == 1.0
    assert split(before, after, 0) is None
    blind = split(Counters(1.0, 0.5, None, None), Counters(1.4, 0.6, None, None), 1000)
    assert blind is not None
    assert blind.connections_per_request is None


def test_this_process_is_read_and_an_idle_one_waits_no_longer_than_it_must() -> None:
    mine = read(os.getpid())
    assert mine.user_s > 0
    passive, active = tcp_opens()
    assert passive is not None
    assert active is not None  # Linux: /proc/net/snmp
    assert read(None).user_s == 0.0
    assert wait_idle(os.getpid(), busy_pct=1000.0) < 1.0  # anything counts as idle
    assert wait_idle(None) == 0.0
