"""Episodes of a bag (vla/data/rosbag.py): where each starts and ends, and its frames by the Aligner's rule.

Times are seconds from the bag's first message (its receive time), on the clock of the messages'
stamps: episode ranges and marker messages (receive times) are compared with header stamps, which
assumes the recording machine and the robot share a clock; `_clock_notes` says when they do not.
"""

import statistics
from dataclasses import dataclass, field

from vla.data.align import Aligner, AlignReport
from vla.data.bag import BagError


@dataclass
class EpisodePlan:
    asked: tuple[float, float]  # the range the split rule gave
    start_s: float  # the first frame's time: the range's start, or later if a stream had no sample yet
    end_s: float
    period_s: float  # 1 / fps
    times: list[float] = field(default_factory=list)
    frames: list[dict] = field(default_factory=list)  # {stream: value} per kept frame
    report: AlignReport = field(default_factory=AlignReport)

    def as_dict(self) -> dict:
        r = self.report
        return {
            "asked_s": [round(t, 6) for t in self.asked],
            "start_s": round(self.start_s, 6),
            "end_s": round(self.end_s, 6),
            "frames": r.frames,
            "summary": r.summary(),
            "dropped": {f"{reason} {stream}": n for (reason, stream), n in sorted(r.dropped.items())},
            "out_of_order": dict(sorted(r.out_of_order.items())),
            "gaps_s": self.gaps(),
        }

    def gaps(self) -> list[list[float]]:
        """[last kept, next kept] times around every run of dropped frames inside the episode: the
        dataset's time (frame_index / fps) skips them, and its state jumps there."""
        pairs = zip(self.times, self.times[1:], strict=False)
        return [[round(a, 3), round(b, 3)] for a, b in pairs if b - a > 1.5 * self.period_s]


def marker_of(topic: str, msg) -> bool:
    """An episode marker: True starts an episode, False ends it."""
    if isinstance(msg.data, bool):
        return msg.data
    word = str(msg.data).strip().lower()
    if word not in ("start", "stop"):
        raise BagError(f"{topic}: episode marker {msg.data!r} is neither 'start' nor 'stop'")
    return word == "start"


def _seconds(index, ns: int) -> float:
    return (ns - index.t0_ns) / 1e9


def episode_ranges(index, episodes) -> tuple[list[tuple[float, float]], list[str]]:
    """(start_s, end_s) of every episode by the config's rule, and notes on markers that were ignored."""
    ranges, topic = episodes.get("ranges") if episodes else None, episodes.get("topic") if episodes else None
    if ranges and topic:
        raise BagError("episodes.ranges and episodes.topic are both set: choose one way to split the bag")
    if ranges:
        return [_checked_range(r) for r in ranges], []
    if topic:
        return _from_markers(index, topic)
    stamps = [s for samples in index.samples.values() for s, _ in samples]
    return [(_seconds(index, min(stamps)), _seconds(index, max(stamps)))], []


def _checked_range(r) -> tuple[float, float]:
    try:
        start, end = (float(x) for x in r)
    except (TypeError, ValueError):
        raise BagError(
            f"episodes.ranges entry {list(r) if r is not None else r} is not [start_s, end_s]"
        ) from None
    if not end > start:
        raise BagError(f"episodes.ranges entry [{start}, {end}]: the end must come after the start")
    return start, end


def _from_markers(index, topic: str) -> tuple[list[tuple[float, float]], list[str]]:
    ranges, notes, opened = [], [], None
    for ns, start in sorted(index.markers):
        t = _seconds(index, ns)
        if start and opened is None:
            opened = t
        elif not start and opened is not None:
            ranges.append((opened, t))
            opened = None
        else:
            word, state = ("start", "started") if start else ("stop", "stopped")
            notes.append(f"{topic}: {word} at {t:.3f} s ignored (already {state})")
    if opened is not None:
        end = max(_seconds(index, s) for samples in index.samples.values() for s, _ in samples)
        ranges.append((opened, end))
        notes.append(f"{topic}: the episode started at {opened:.3f} s has no stop: it runs to the bag's end")
    if not ranges:
        raise BagError(
            f"{topic} holds no start marker ({len(index.markers)} messages): the bag has no episode"
        )
    return ranges, notes


def align_episode(index, streams, start_s: float, end_s: float, fps: float, max_age_s: float) -> EpisodePlan:
    """The frames of [start_s, end_s], every 1/fps s from the first instant every stream has a sample.
    Samples up to max_age_s before the start are pushed too: the first frame may take one."""
    aligner = Aligner([s.key for s in streams], max_age_s=max_age_s)
    for stream in streams:
        for stamp_ns, value in index.samples[stream.key]:
            if start_s - max_age_s <= _seconds(index, stamp_ns) <= end_s:
                aligner.push(stream.key, _seconds(index, stamp_ns), value)
    first, last = aligner.first_full_time(), aligner.last_time()
    if first is None:  # some stream has no sample in the range: no frame, and nothing to count as dropped
        return EpisodePlan((start_s, end_s), start_s, end_s, 1 / fps, report=aligner.report)
    begin, end = max(start_s, first), min(end_s, last)
    plan = EpisodePlan((start_s, end_s), begin, end, 1 / fps, report=aligner.report)
    for t, frame in aligner.frames(fps, begin, end):
        plan.times.append(t)
        plan.frames.append(frame)
    return plan


def clock_notes(index, streams, max_age_s: float) -> list[str]:
    """Streams whose stamps sit farther from the bag's receive times than the others, by more than
    max_age_s: a clock that differs (frames then pair samples taken that far apart) or a slow link."""
    offsets = {s.topic: statistics.median(index.offsets_ns[s.key]) / 1e9 for s in streams}
    middle = statistics.median(offsets.values())
    return [
        f"{topic}: stamps run {off:+.3f} s from the bag's receive times, the median topic {middle:+.3f} s: "
        f"more than max_age_s={max_age_s} apart. If its clock differs, frames pair samples taken "
        f"{abs(off - middle):.3f} s apart: sync the clocks or use stamps=receive"
        for topic, off in offsets.items()
        if abs(off - middle) > max_age_s
    ]
