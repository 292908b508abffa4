"""CPU thread settings, in one place for every app that runs a model (train, eval, demo, record, deploy).

torch's default is one OpenMP thread per core, and its OpenMP runtime (libgomp) spins at every
barrier before it sleeps. Next to any other busy process that is the worst case: one of the two
threads is descheduled and the other burns its time slice waiting for it. Measured on 2 cores
(benchmarks/bench_threads.py, BENCHMARKS.md "Speed beside a background load"): with one busy process
beside it, training fell to 28% of its quiet steps/s and the policy's p99 latency rose 12x, while
one thread fewer than the cores kept ~80% of its steps/s and the same p99. So `auto` leaves one core
to whatever else the machine runs (a browser, the robot's perception, the ROS 2 control loop), and
splits the rest among the processes of one multi-process (accelerate) run.

Configured by `runtime.torch_threads` (conf/runtime/default.yaml): `auto`, `all` (every core, for a
job that has the machine to itself: `vla demo`), or a number. The value
also goes into OMP_NUM_THREADS / MKL_NUM_THREADS, so worker processes started later inherit it.
"""

import logging
import os
import sys
from collections.abc import Mapping
from typing import Any

log = logging.getLogger(__name__)

_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")


def resolve_threads(setting: Any = "auto", cores: int | None = None, processes: int | None = None) -> int:
    """The torch intra-op thread count that `setting` means on this machine.

    auto: the user's OMP_NUM_THREADS if set, else (cores - 1) / processes, at least 1, where processes
    is the local world size of a multi-process run (LOCAL_WORLD_SIZE, as accelerate/torchrun set it).
    all: cores / processes, at least 1 (the machine is this job's alone).
    """
    cores = cores or os.cpu_count() or 1
    if setting == "all":
        return max(1, cores // _local_processes(processes))
    if setting in (None, "auto"):
        user = os.environ.get("OMP_NUM_THREADS", "")
        if user.isdigit() and int(user) > 0:  # the user's (or a parent app's) choice
            return int(user)
        return max(1, (cores - 1) // _local_processes(processes))
    try:
        threads = int(setting)
    except (TypeError, ValueError):
        threads = 0
    if not 1 <= threads <= 4 * cores:
        raise ValueError(
            f"runtime.torch_threads={setting!r} must be 'auto', 'all' or an integer in 1..{4 * cores} "
            f"(this machine has {cores} cores; 'auto' = cores - 1, 'all' = cores)"
        )
    return threads


def _local_processes(processes: int | None) -> int:
    """`processes`, else the local world size of a multi-process run (LOCAL_WORLD_SIZE, as
    accelerate/torchrun set it); at least 1."""
    return max(1, processes or int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1))


def configure(cfg: Mapping[str, Any] | None = None, quiet: bool = False) -> int:
    """Applies the thread settings to this process and its future children; returns the thread count."""
    setting = (cfg or {}).get("torch_threads", "auto")
    threads = resolve_threads(setting)
    for var in _THREAD_VARS:
        os.environ[var] = str(threads)
    if "torch" in sys.modules:  # else torch reads OMP_NUM_THREADS when it loads
        import torch

        torch.set_num_threads(threads)
    if not quiet:
        wait = os.environ.get("OMP_WAIT_POLICY", "unset")
        log.info(
            "threads: torch %d of %d cores (runtime.torch_threads=%s; OMP_WAIT_POLICY %s)",
            threads,
            os.cpu_count() or 1,
            setting,
            wait,
        )
    return threads
