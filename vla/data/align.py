"""Timestamp alignment of robot streams into dataset frames: one rule for `vla record source=ros2`
(live topics) and `vla dataset from-rosbag` (a recorded bag).

A frame at time t takes, from every stream, the newest sample stamped at or before t ("nearest older":
a frame never sees the future, as the policy at deploy time never does). A frame is dropped, and the
drop counted against the stream that caused it, when a stream has no sample yet (`missing`) or its
newest older sample is more than `max_age_s` older than t (`stale`: a camera that stopped, a clock
that lags). Samples arriving with a stamp older than one already held are placed by stamp and counted
(`out_of_order`); a repeated stamp replaces the sample.

    aligner = Aligner(["observation.state", "observation.images.front", "action"], max_age_s=0.1)
    aligner.push("observation.state", stamp, value)      # any order, any stream
    frame = aligner.sample(t)                             # {stream: value} or None (counted)
    for t, frame in aligner.frames(fps=30):               # a bag: every 1/fps s from the first full frame
"""

import bisect
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class AlignReport:
    """What alignment kept and dropped; `summary()` is the one-line report the apps print."""

    frames: int = 0
    dropped: Counter = field(default_factory=Counter)  # (reason, stream) -> frames dropped
    out_of_order: Counter = field(default_factory=Counter)  # stream -> samples that arrived late

    @property
    def dropped_frames(self) -> int:
        return sum(self.dropped.values())

    def summary(self) -> str:
        parts = [f"{self.frames} frames kept, {self.dropped_frames} dropped"]
        parts += [f"{n} {reason} {stream}" for (reason, stream), n in sorted(self.dropped.items())]
        parts += [f"{n} out-of-order samples on {stream}" for stream, n in sorted(self.out_of_order.items())]
        return "; ".join(parts)


class Aligner:
    """Buffers every stream's samples by stamp and answers "the frame at t" (module doc)."""

    def __init__(self, streams: Sequence[str], max_age_s: float, keep_s: float = 2.0) -> None:
        if not streams:
            raise ValueError("alignment needs at least one stream")
        if max_age_s <= 0:
            raise ValueError(f"max_age_s={max_age_s} must be > 0 s")
        self.streams = list(streams)
        self.max_age_s = max_age_s
        self.keep_s = max(keep_s, max_age_s)  # live use: samples this much older than the last frame go
        self._stamps: dict[str, list[float]] = {s: [] for s in self.streams}
        self._values: dict[str, list[Any]] = {s: [] for s in self.streams}
        self.report = AlignReport()

    def push(self, stream: str, stamp: float, value: Any) -> None:
        if stream not in self._stamps:
            raise KeyError(f"unknown stream {stream!r}; streams: {', '.join(self.streams)}")
        stamps, values = self._stamps[stream], self._values[stream]
        i = bisect.bisect_left(stamps, stamp)
        if i < len(stamps) and stamps[i] == stamp:
            values[i] = value  # the same instant again: the later message wins
            return
        if i < len(stamps):
            self.report.out_of_order[stream] += 1
        stamps.insert(i, stamp)
        values.insert(i, value)

    def latest(self, stream: str, t: float) -> tuple[float, Any] | None:
        """The newest sample of `stream` stamped at or before t."""
        stamps = self._stamps[stream]
        i = bisect.bisect_right(stamps, t)
        return None if i == 0 else (stamps[i - 1], self._values[stream][i - 1])

    def sample(self, t: float) -> dict[str, Any] | None:
        """The frame at t, or None (counted in `report.dropped` against the first stream that failed)."""
        frame = {}
        for stream in self.streams:
            hit = self.latest(stream, t)
            reason = "missing" if hit is None else "stale" if t - hit[0] > self.max_age_s else None
            if reason:
                self.report.dropped[(reason, stream)] += 1
                return None
            frame[stream] = hit[1]
        self.report.frames += 1
        self.forget_before(t - self.keep_s)
        return frame

    def first_full_time(self) -> float | None:
        """The earliest t at which every stream has a sample (where a bag's frame clock starts)."""
        firsts = [stamps[0] for stamps in self._stamps.values() if stamps]
        return max(firsts) if len(firsts) == len(self.streams) else None

    def last_time(self) -> float | None:
        lasts = [stamps[-1] for stamps in self._stamps.values() if stamps]
        return max(lasts) if lasts else None

    def frames(
        self, fps: float, start: float | None = None, end: float | None = None
    ) -> Iterator[tuple[float, dict]]:
        """Every 1/fps s from `start` (default: the first full frame) to `end` (default: the last sample):
        (t, frame) for each frame kept. For buffered data (a bag): everything must be pushed first."""
        if fps <= 0:
            raise ValueError(f"fps={fps} must be > 0")
        start = self.first_full_time() if start is None else start
        end = self.last_time() if end is None else end
        if start is None or end is None:
            return
        k = 0
        while (t := start + k / fps) <= end + 1e-9:  # k / fps, not repeated += dt: no drift
            frame = self.sample(t)
            if frame is not None:
                yield t, frame
            k += 1

    def forget_before(self, t: float) -> None:
        """Drops samples older than t, keeping each stream's newest one before t (it may still serve).
        sample() calls it (t - keep_s) on every kept frame; a live recorder whose frames keep being
        dropped (one camera dead, the others streaming) calls it too, so memory stays bounded."""
        for stream in self.streams:
            stamps = self._stamps[stream]
            i = bisect.bisect_left(stamps, t) - 1  # keep stamps[i], the newest before t
            if i > 0:
                del stamps[:i]
                del self._values[stream][:i]
