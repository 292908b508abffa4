"""`vla record source=ros2`: demonstrations from a ROS 2 robot (or `vla sim-robot`) into a LeRobotDataset.

    vla record source=ros2 root=outputs/datasets/so101_bin ros2.task="put the block in the bin"

Reads /joint_states (observation.state, by joint name), the camera topics (observation.images.<cam>,
rgb8/bgr8) and the commanded action: a leader arm's joint states (`ros2.action=leader`, on
`ros2.leader_topic`) or the controller's command topic (`ros2.action=command`, Float64MultiArray,
stamped on receipt as it has no header). Every 1/fps s of an episode a frame takes each stream's
newest sample stamped at or before the frame's time (vla.data.align.Aligner), `ros2.wait_s` after that
time so samples in transit arrive first; frames with a missing or stale (> max_age_s) input are dropped
and counted per stream. Episodes start, stop (save) and are discarded from ros2.control_topic or the
keyboard (vla/apps/record_ros2_control.py). Every saved episode is committed at once: a SIGKILL loses
at most the episode in progress, Ctrl-C keeps every saved one. Guide: docs/real_robot.md.
"""

import dataclasses
import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from omegaconf import DictConfig

from vla.apps.record_ros2_control import KEY_HELP, Controls, keyboard_wanted, single_keys
from vla.apps.record_ros2_streams import Streams, StreamSpec, command_positions, joint_positions
from vla.bridge import dds
from vla.constants import ACTION, OBS_STATE, image_key
from vla.data.align import Aligner
from vla.data.ros_messages import image_to_rgb
from vla.data.writer import Episode, EpisodeWriter, make_features

log = logging.getLogger(__name__)

POLL_S = 0.005  # reader polling period: well under a frame at 30-50 fps
PROGRESS_S = {True: 0.5, False: 5.0}  # progress line period on a terminal (rewritten in place) / in a log
READER_DEPTH = 100  # state/action messages kept between two polls (a 100 Hz robot: 1 s of slack)


def stream_specs(b: DictConfig, r: DictConfig) -> list[StreamSpec]:
    """observation.state, one stream per camera, then the action: from the bridge and ros2 configs."""
    qos = {k: dds.QosSpec(**b.qos[k]) for k in ("state", "command", "image")}
    deep = {k: dataclasses.replace(q, depth=max(q.depth, READER_DEPTH)) for k, q in qos.items()}
    joints = list(b.joint_names)
    missing = [cam for cam in r.cameras if cam not in b.topics.images]
    if missing:
        raise SystemExit(
            f"vla record: ros2.cameras {missing} have no topic in bridge.topics.images "
            f"({dict(b.topics.images)}); add them there (e.g. "
            f"'+bridge.topics.images.{missing[0]}=/{missing[0]}/image_raw') or pick cameras from it"
        )
    specs = [
        StreamSpec(OBS_STATE, b.topics.joint_states, dds.JointState, deep["state"], joint_positions(joints))
    ]
    specs += [
        StreamSpec(image_key(cam), b.topics.images[cam], dds.Image, qos["image"], image_to_rgb)
        for cam in r.cameras
    ]
    if r.action == "leader":
        names = list(r.leader_joint_names or joints)
        specs.append(
            StreamSpec(ACTION, r.leader_topic, dds.JointState, deep["state"], joint_positions(names))
        )
    elif r.action == "command":
        convert = command_positions(len(joints))
        spec = StreamSpec(
            ACTION, b.topics.command, dds.Float64MultiArray, deep["command"], convert, False, False
        )
        specs.append(spec)
    else:
        raise SystemExit(f"vla record: ros2.action={r.action!r}; use 'leader' (a leader arm) or 'command'")
    return specs


@dataclass
class EpisodeInProgress:
    """Frames of one episode on its own clock: frame k is at start + k / fps (this PC's wall clock)."""

    start: float
    fps: float
    task: str
    aligner: Aligner
    frames: list[dict] = field(default_factory=list)
    dropped_ticks: list[int] = field(default_factory=list)
    next_tick: int = 0

    def sample_due(self, now: float, wait_s: float) -> None:
        while (t := self.start + self.next_tick / self.fps) + wait_s <= now:
            frame = self.aligner.sample(t)
            if frame is None:
                self.dropped_ticks.append(self.next_tick)
                self.aligner.forget_before(t - self.aligner.keep_s)  # kept frames do it in sample()
            else:
                self.frames.append(frame)
            self.next_tick += 1

    def to_episode(self, cameras: list[str], info: dict) -> Episode:
        stack = {key: np.stack([f[key] for f in self.frames]) for key in self.frames[0]}
        images = {cam: stack[image_key(cam)] for cam in cameras}
        return Episode(
            images, stack[OBS_STATE].astype(np.float32), stack[ACTION].astype(np.float32), self.task, info
        )


class Ros2Recorder:
    """The recording session: streams in, episodes out (module doc)."""

    def __init__(self, cfg: DictConfig) -> None:
        b, self.r = cfg.bridge, cfg.ros2
        if not self.r.max_age_s > 0 or not self.r.fps > 0 or self.r.wait_s < 0:
            raise SystemExit(
                f"vla record: ros2.fps, ros2.max_age_s must be > 0 and ros2.wait_s >= 0 ({self.r})"
            )
        self.cfg, self.fps = cfg, float(self.r.fps)
        self.node = dds.Node(b.domain_id, b.loopback_only)
        self.streams = Streams(self.node, stream_specs(b, self.r), float(self.r.max_age_s))
        self._instruction = self.node.reader(b.topics.instruction, dds.String, dds.QosSpec(**b.qos.state))
        self.keyboard = keyboard_wanted(self.r.keyboard)
        self.controls = Controls(self.node, self.r.control_topic, dds.QosSpec(**b.qos.command), self.keyboard)
        self.instruction: str | None = None
        self.episode: EpisodeInProgress | None = None
        self.saved = 0
        self._last_progress = 0.0
        self._line_open = False  # a progress line is shown in place on the terminal

    def features(self) -> dict:
        """Dataset features: camera shapes from their first images, joint names from the config."""
        by_key = {s.spec.key: s for s in self.streams.streams}
        cams = {cam: by_key[image_key(cam)].shape for cam in self.r.cameras}
        joints = list(self.cfg.bridge.joint_names)
        leader = self.r.leader_joint_names if self.r.action == "leader" else None
        actions = list(leader or joints)
        features = make_features(cams, len(joints), len(actions))
        features[OBS_STATE]["names"], features[ACTION]["names"] = joints, actions
        return features

    def run(self, writer_args: dict) -> int:
        """Records until num_episodes are saved or `quit`; returns the episodes saved."""
        import lerobot.datasets.lerobot_dataset  # noqa: F401  (~10 s import: before the first episode, not in it)

        topics = ", ".join(f"{s.spec.topic} ({s.spec.key})" for s in self.streams.streams)
        print(f"vla record: waiting for {topics} on domain {self.node.domain_id}", flush=True)
        self.streams.wait_for_all(float(self.r.topic_timeout_s))

        with EpisodeWriter(features=self.features(), **writer_args) as writer, single_keys(self.keyboard):
            self.writer = writer
            controls = f"{KEY_HELP}; or " if self.keyboard else ""
            print(
                f"ready: {controls}std_msgs/String start|stop|discard|quit on {self.controls.topic}",
                flush=True,
            )
            while self.cfg.num_episodes is None or self.saved < self.cfg.num_episodes:
                if not self._step():
                    break
                time.sleep(POLL_S)
        return self.saved

    def _step(self) -> bool:
        """One poll of every input; False once asked to quit."""
        samples = self.streams.poll()
        for msg in self._instruction.take():
            self.instruction = msg.data
        for command in self.controls.poll():
            if command == "quit":
                self.discard("quit")
                return False
            self._handle(command)
        if self.episode is not None:
            self._record(samples)
        return True

    def _handle(self, command: str) -> None:
        if command == "toggle":
            command = "start" if self.episode is None else "stop"
        if command == "start" and self.episode is None:
            self._start()
        elif command == "stop" and self.episode is not None:
            self._save()
        elif command == "discard" and self.episode is not None:
            self.discard("discard")
        else:
            state = "recording" if self.episode is not None else "not recording"
            log.warning("%r ignored: %s", command, state)

    def _start(self) -> None:
        task = self.r.task or self.instruction
        if not task:
            log.warning("episode not started: no task; set ros2.task=... or publish std_msgs/String on %s",
                        self.cfg.bridge.topics.instruction)  # fmt: skip
            return
        aligner = Aligner(self.streams.keys, float(self.r.max_age_s))
        for key, (stamp, value) in self.streams.latest.items():
            aligner.push(key, stamp, value)  # the newest sample before the start may serve the first frame
        self.episode = EpisodeInProgress(time.time(), self.fps, task, aligner)
        self._last_progress = self.episode.start  # the first progress line after a period
        # every saved episode is committed at once, so the dataset's count is the next index
        print(f"episode {self.writer.num_episodes}: recording {task!r}", flush=True)

    def _record(self, samples: dict) -> None:
        ep = self.episode
        for key, pairs in samples.items():
            for stamp, value in pairs:
                ep.aligner.push(key, stamp, value)
        now = time.time()
        ep.sample_due(now, float(self.r.wait_s))
        self.streams.warn_silent(float(self.r.topic_timeout_s), ep.start)
        self._progress(now)
        if self.r.max_episode_s and now - ep.start >= self.r.max_episode_s:
            self._save()

    def _progress(self, now: float) -> None:
        tty = sys.stderr.isatty()
        if now - self._last_progress < PROGRESS_S[tty]:
            return
        self._last_progress = now
        ep = self.episode
        line = (f"recording: {now - ep.start:5.1f} s, {len(ep.frames)} frames kept, "
                f"{ep.aligner.report.dropped_frames} dropped")  # fmt: skip
        print(f"\r{line}" if tty else line, end="" if tty else "\n", file=sys.stderr, flush=True)
        self._line_open = tty

    def _end_line(self) -> None:
        """Ends the progress line a terminal shows in place, before anything else is printed or logged."""
        if self._line_open:
            print(file=sys.stderr, flush=True)
            self._line_open = False

    def _say(self, text: str) -> None:
        self._end_line()
        print(text, flush=True)

    def _save(self) -> None:
        self._end_line()  # the writer logs its commit
        ep, self.episode = self.episode, None
        seconds = ep.next_tick / self.fps
        if not ep.frames:
            self._say(f"episode not saved: no frame kept in {seconds:.1f} s ({ep.aligner.report.summary()})")
            return
        info = {
            "source": "ros2",
            "start_time": ep.start,
            "fps": self.fps,
            "dropped_ticks": ep.dropped_ticks,
            "align": ep.aligner.report.summary(),
            "topics": {s.spec.key: s.spec.topic for s in self.streams.streams},
            "streams": self.streams.counters(),
        }
        index = self.writer.add_episode(ep.to_episode(list(self.r.cameras), info))
        self.saved += 1
        self._say(f"episode {index} saved ({seconds:.1f} s, {ep.task!r}): {ep.aligner.report.summary()}")

    def discard(self, why: str) -> None:
        """Drops the episode in progress, if any, saying so."""
        ep, self.episode = self.episode, None
        if ep is not None:
            self._say(f"episode discarded ({why}): {len(ep.frames)} frames, {ep.next_tick / self.fps:.1f} s")


def record_from_ros2(cfg: DictConfig, root: Path, writer_args: dict) -> None:
    """The `vla record source=ros2` app: prints the result; Ctrl-C keeps every saved episode."""
    recorder = Ros2Recorder(cfg)
    try:
        saved = recorder.run({"root": root, **writer_args})
    except KeyboardInterrupt:
        recorder.discard("interrupted")
        print(f"interrupted: {recorder.saved} episode(s) saved in {root}", file=sys.stderr)
        sys.exit(130)
    print(f"recorded {saved} episode(s) over ROS 2; {recorder.writer.num_episodes} in the dataset")
    print(root)
