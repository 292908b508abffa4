"""A watchdog on the steady clock (time.monotonic), in its own thread.

Named channels ("loop", "observation", "policy") are fed by the code they watch; each has a timeout.
When one goes stale the watchdog calls `on_trip(channel)` from its own thread, so a stalled control
loop or inference thread cannot silence it. A stall that holds the GIL or stops the whole process
(SIGSTOP) freezes this thread too: that case is covered by the robot side's command timeout
(ros2_control `cmd_timeout`, `vla sim-robot command_timeout_s`), and on waking the runner latches a
fault instead of resuming (see docs/deploy.md, fault 2).
"""

import logging
import threading
import time
from collections.abc import Callable

from vla.bridge.rt import set_realtime

log = logging.getLogger(__name__)


class Watchdog:
    def __init__(
        self,
        timeouts: dict[str, float],
        on_trip: Callable[[str], None],
        period_s: float = 0.005,
        rt_priority: int = 0,
    ) -> None:
        if any(t <= 0 for t in timeouts.values()):
            raise ValueError(f"watchdog timeouts must be > 0, got {timeouts}")
        self.timeouts = dict(timeouts)
        self._deadline: dict[str, float | None] = dict.fromkeys(timeouts)  # None: channel not watched
        self._on_trip = on_trip
        self._period = period_s
        self._rt_priority = rt_priority
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vla-watchdog", daemon=True)
        self.trips: list[tuple[float, str]] = []

    def start(self) -> "Watchdog":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=1.0)

    def feed(self, channel: str) -> None:
        """The channel is alive now: it must be fed again within its timeout."""
        with self._lock:
            self._deadline[channel] = time.monotonic() + self.timeouts[channel]

    def set_timeout(self, channel: str, seconds: float) -> None:
        """A new timeout for the channel, used from its next feed on."""
        if seconds <= 0:
            raise ValueError(f"watchdog timeout for {channel} must be > 0, got {seconds}")
        with self._lock:
            self.timeouts[channel] = seconds

    def expect(self, channel: str, within_s: float) -> None:
        """Watch the channel, allowing a longer first wait (e.g. the first inference after arming)."""
        with self._lock:
            self._deadline[channel] = time.monotonic() + within_s

    def disarm(self, channel: str) -> None:
        """Stop watching the channel (e.g. while the robot is already holding)."""
        with self._lock:
            self._deadline[channel] = None

    def _run(self) -> None:
        set_realtime(self._rt_priority)
        while not self._stop.wait(self._period):
            now = time.monotonic()
            with self._lock:
                stale = [c for c, d in self._deadline.items() if d is not None and now > d]
                for channel in stale:
                    self._deadline[channel] = None  # trip once; feeding or expect() re-watches it
            for channel in stale:
                self.trips.append((now, channel))
                log.error("watchdog: %s stale for more than %.3f s", channel, self.timeouts[channel])
                try:
                    self._on_trip(channel)
                except Exception:  # the watchdog must survive a failing handler
                    log.exception("watchdog handler failed for %s", channel)
