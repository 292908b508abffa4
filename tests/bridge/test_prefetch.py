"""The runner's asynchronous prefetch, end to end (lerobot#1557 is the bug to avoid).

A policy that takes 50 ms per chunk (1.5 control periods at 30 Hz, so a chunk lands 2 ticks after it is
requested) runs behind `vla deploy` against `vla sim-robot`. With `prefetch_threshold` above that
latency the next chunk is always in before the queue runs dry: no tick is ever starved while the arm
keeps moving. With threshold 0 (request only once the queue is empty) every chunk boundary starves,
which proves the counter and the threshold are really wired into the control loop (test_chunks.py
checks the exact bound on the queue alone).
"""

import time

import pytest


@pytest.mark.parametrize("threshold, starves", [(6, False), (0, True)])
def test_prefetch_threshold_keeps_the_queue_from_running_dry(rig, threshold: int, starves: bool) -> None:
    rig.sim()
    # policy_timeout_s=0.5: a starved tick must show up in the counter, not end the run as a policy fault
    rig.deploy("sine", f"prefetch_threshold={threshold}", "policy_timeout_s=0.5", horizon=20, latency_s=0.05)
    rig.armed_and_moving()
    obs = rig.obs
    obs.wait_for(lambda: obs.counter("chunks") >= 2, 5, "two chunks")  # the first wait is not prefetched
    starved, chunks = obs.counter("starved"), obs.counter("chunks")
    time.sleep(3.0)
    assert obs.counter("chunks") - chunks >= 4  # several chunk boundaries crossed in the window
    assert obs.last_status()["armed"] and obs.moving()  # measured: the sim joints kept moving
    if starves:
        assert obs.counter("starved") - starved >= 3
    else:
        assert obs.counter("starved") == starved
