"""Start methods for the worker processes that apps start (recording workers, evaluation env workers)."""

import contextlib
import multiprocessing
from collections.abc import Iterator

# forkserver: workers fork from a clean single-threaded server (fast, and never from a training
# process's threads, whose plain fork deadlocks in the child); spawn where there is none
MP_CONTEXT = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"


@contextlib.contextmanager
def stdlib_start_method() -> Iterator[None]:
    """Processes started inside the block can start even from a joblib/loky worker.

    A child process re-applies its parent's *global* start method; inside a loky worker (Hydra's
    joblib launcher) that is "loky", which a forkserver/spawn child cannot find ("ValueError: cannot
    find context for 'loky'"). Inside the block the global method is a stdlib one; restored after.
    """
    current = multiprocessing.get_start_method(allow_none=True)
    if current is None or current in multiprocessing.get_all_start_methods():
        yield
        return
    multiprocessing.set_start_method(MP_CONTEXT, force=True)
    try:
        yield
    finally:
        multiprocessing.set_start_method(current, force=True)
