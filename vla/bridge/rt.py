"""Real-time scheduling for the control and watchdog threads (best effort, as robot PCs run ros2_control).

On Linux `sched_setscheduler(0, ...)` applies to the calling thread only, so the inference thread keeps
normal priority while the control loop and watchdog preempt it (and other processes) when they wake.
"""

import logging
import os

log = logging.getLogger(__name__)


def set_realtime(priority: int) -> bool:
    """SCHED_FIFO at `priority` (1-99) for the calling thread; 0 does nothing. False when not permitted."""
    if priority <= 0:
        return False
    if not 1 <= priority <= 99:
        raise ValueError(f"rt_priority={priority} must be 0 (off) or 1..99")
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
    except (PermissionError, OSError, AttributeError) as err:
        log.warning("real-time priority %d not permitted (%s): timing may jitter under load", priority, err)
        return False
    return True
