"""Which /joint_states messages the runner may act on (faults 3, 7, 8 and 12b in docs/reliability.md).

A message is used only if its names cover the configured joints (one position per name), its header
stamp is no further in the future than `max_age_s` (a bad clock), newer than the last one accepted (no
replays, no frozen driver) and younger than `max_age_s` (no delayed data), and its positions are
finite. Every rejection is counted under its reason; a warning names missing or unknown joints once
per distinct name list.
"""

import logging
from collections.abc import Sequence

import numpy as np

from vla.bridge import dds

log = logging.getLogger(__name__)

REASONS = ("obs_bad_names", "obs_future", "obs_replayed", "obs_stale", "obs_nonfinite")
_MAX_WARNED = 100  # distinct bad name lists named in the log; the counter counts every message


class StateCheck:
    def __init__(self, names: Sequence[str], max_age_s: float) -> None:
        self.names, self.max_age_s = list(names), max_age_s
        self.counters = dict.fromkeys(REASONS, 0)
        self.stamp = -np.inf  # header stamp (wall clock) of the last accepted state
        self._warned: set[tuple[str, ...]] = set()

    def accept(self, msg: dds.JointState, now_wall: float) -> np.ndarray | None:
        """The positions in configured joint order, or None (counted) when the message is not usable."""
        index = {name: i for i, name in enumerate(msg.name)}
        if any(n not in index for n in self.names) or len(msg.position) != len(msg.name):
            self._warn_bad_names(list(msg.name), len(msg.position))
            return self._reject("obs_bad_names")
        stamp = dds.seconds_from_stamp(msg.header.stamp)
        if stamp - now_wall > self.max_age_s:
            # before the replay check: accepted, it would make every later true state look like a replay
            return self._reject("obs_future")
        if stamp <= self.stamp:
            return self._reject("obs_replayed")  # old or repeated stamp: a replay or a frozen driver
        if now_wall - stamp > self.max_age_s:
            return self._reject("obs_stale")
        q = np.array([msg.position[index[n]] for n in self.names])  # (D,)
        if not np.all(np.isfinite(q)):
            return self._reject("obs_nonfinite")
        self.stamp = stamp
        return q

    def _reject(self, reason: str) -> None:
        self.counters[reason] += 1

    def _warn_bad_names(self, names: list[str], n_positions: int) -> None:
        key = (*names, str(n_positions))
        if key in self._warned or len(self._warned) >= _MAX_WARNED:
            return
        self._warned.add(key)
        log.warning(
            "joint state rejected: missing joints %s, unknown joints %s, %d positions for %d names "
            "(bridge.joint_names=%s must match the robot's /joint_states names)",
            [n for n in self.names if n not in names],
            [n for n in names if n not in self.names],
            n_positions,
            len(names),
            self.names,
        )
