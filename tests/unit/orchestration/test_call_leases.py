"""Call leases: one live holder per key; a dead holder's lease is taken over."""

from __future__ import annotations

import subprocess
import sys
import time

from refute.orchestration.store.leases import CallLeases


def test_one_holder_at_a_time_and_release_frees_the_key(tmp_path):
    a, b = CallLeases(tmp_path, run_id="a"), CallLeases(tmp_path, run_id="b")
    try:
        assert a.claim("k") and a.claim("k")  # free, then already ours
        assert not b.claim("k") and b.held_elsewhere("k")
        a.release("k")
        assert not b.held_elsewhere("k") and b.claim("k")
        b.release("k")
        assert a.claim("k")
    finally:
        a.close()
        b.close()


def test_a_lease_whose_holder_died_is_taken_over(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    leases = CallLeases(tmp_path, run_id="me")
    try:
        leases._cache.set("lease/k", {"holder": f"{dead.pid}:other:x", "pid": dead.pid, "claimed_at": time.time()})
        assert not leases.held_elsewhere("k")
        assert leases.claim("k")
    finally:
        leases.close()


def test_an_old_lease_is_stale_even_if_the_pid_is_alive(tmp_path):
    leases = CallLeases(tmp_path, run_id="me", ttl_s=60)
    try:
        leases._cache.set("lease/k", {"holder": "1:other:x", "pid": 1, "claimed_at": time.time() - 61})
        assert leases.claim("k")
    finally:
        leases.close()
