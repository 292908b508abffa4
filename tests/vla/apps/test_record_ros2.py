"""`vla record source=ros2` against the real `vla sim-robot` in another process, over loopback DDS.

A scripted teleoperator in the test publishes a leader arm's joint states and the same positions as
commands (the arm follows them); episodes are started, stopped and discarded on /vla/record/control.
The dataset is then checked frame by frame against what crossed the wire: each frame's state is the
sim's newest joint state stamped at or before the frame's time, its action the leader's. The slow test
goes on to train on the recording (`vla train env=none`) and deploy the checkpoint on the sim robot.
"""

import glob
import math
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.bridge import harness
from vla.bridge import dds
from vla.data import meta
from vla.data.checks import check_dataset
from vla.data.ros_messages import image_to_rgb

pytestmark = pytest.mark.filterwarnings("ignore:Cannot enable progress bars")

FPS, MAX_AGE_S, IMAGE = 10, 0.1, 64
SIM = (
    "camera_rate_hz=20",
    "env.kwargs.control_hz=10",
    "env.kwargs.cameras=[front]",
    f"env.kwargs.image_size={IMAGE}",
    "rt_priority=0",
)
RECORD = ("ros2.cameras=[front]", f"ros2.fps={FPS}", f"ros2.max_age_s={MAX_AGE_S}")


class Wire:
    """The test's DDS participant: the teleoperator (leader joint states + commands at 50 Hz, a slow
    sine on two joints around the sim's start pose), the control topic, and a record of what the sim
    published (joint states and images, by header stamp)."""

    def __init__(self, domain: int) -> None:
        self.node = dds.Node(domain)
        self._js = self.node.reader("/joint_states", dds.JointState, dds.QosSpec(depth=100))
        self._img = self.node.reader("/front/image_raw", dds.Image, dds.QosSpec("best_effort", depth=1))
        self.states: list[tuple[float, np.ndarray]] = []  # (stamp, positions) as the sim published them
        self.images: list[tuple[float, np.ndarray]] = []
        self.leader: list[tuple[float, np.ndarray]] = []  # (stamp, positions) as the teleoperator sent them
        self._lead = self.node.writer("/leader/joint_states", dds.JointState)
        self._cmd = self.node.writer("/forward_position_controller/commands", dds.Float64MultiArray)
        self.control = self.node.writer("/vla/record/control", dds.String)
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=f, daemon=True) for f in (self._observe, self._teleop)]
        for thread in self._threads:
            thread.start()

    def _observe(self) -> None:
        while not self._stop.wait(0.003):
            for m in self._js.take():
                self.states.append((dds.seconds_from_stamp(m.header.stamp), np.array(m.position)))
            for m in self._img.take():
                if m.encoding == "rgb8":  # the sim's (another test on this domain may publish others)
                    self.images.append((dds.seconds_from_stamp(m.header.stamp), image_to_rgb(m)))

    def _teleop(self) -> None:
        while not self.states and not self._stop.wait(0.01):
            pass  # the sim's start pose first
        start, q0 = time.time(), self.states[0][1] if self.states else np.zeros(6)
        while not self._stop.wait(0.02):
            now = time.time()
            q = q0 + 0.3 * math.sin(2 * math.pi * 0.5 * (now - start)) * np.array([1, 1, 0, 0, 0, 0.0])
            self._lead.write(dds.joint_state(now, harness.JOINTS, q))
            self._cmd.write(dds.float64_array(q))
            self.leader.append((now, q.astype(np.float32)))

    def send(self, command: str, then_wait_s: float = 0.0) -> None:
        self.control.write(dds.String(command))
        time.sleep(then_wait_s)

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(2)


@pytest.fixture
def robot(tmp_path: Path):
    """The sim robot (one 64x64 camera at 20 Hz), the test's wire, and a recorder factory."""
    domain = harness.fresh_domain()
    procs = [harness.start_sim(domain, tmp_path, *SIM)]
    wire = Wire(domain)

    def recorder(root: Path, *overrides: str) -> harness.Proc:
        args = ["-m", "vla.cli", "record", "source=ros2", f"root={root}", f"hydra.run.dir={tmp_path}/rec",
                *RECORD, *overrides]  # fmt: skip
        procs.append(harness.Proc(args, domain, tmp_path / f"record{len(procs)}.log"))
        _wait_for_text(procs[-1], "ready:", 180)
        return procs[-1]

    yield domain, wire, recorder
    wire.close()
    for p in procs:
        print(f"---- {p.log.name} ----\n{p.stop()}")


def _wait_for_text(proc: harness.Proc, text: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while text not in proc.log.read_text():
        assert proc.p.poll() is None, f"exited {proc.p.returncode}:\n{proc.output()}"
        assert time.monotonic() < deadline, f"no {text!r} in {timeout} s:\n{proc.output()}"
        time.sleep(0.1)


def _episode(wire: Wire, proc: harness.Proc, n: int, seconds: float, end: str = "stop") -> None:
    """Starts episode n, lets it run, ends it; waits for the recorder's line about it."""
    wire.send("start")
    _wait_for_text(proc, f"episode {n}: recording", 30)
    time.sleep(seconds)
    wire.send(end)
    _wait_for_text(proc, f"episode {n} saved" if end == "stop" else "episode discarded", 60)


def _frames(root: Path) -> pd.DataFrame:
    files = sorted(glob.glob(f"{root}/data/chunk-*/file-*.parquet"))
    return pd.concat([pd.read_parquet(f) for f in files]).sort_values("index").reset_index(drop=True)


def _newest_at(samples: list[tuple[float, np.ndarray]], t: float) -> tuple[float, np.ndarray]:
    older = [s for s in samples if s[0] <= t]
    assert older, f"nothing published at or before {t}"
    return max(older, key=lambda s: s[0])


def _check_stream(frames: np.ndarray, times: np.ndarray, published: list, what: str) -> None:
    """Every frame holds a sample published within max_age_s at or before its time (the alignment
    rule); nearly all hold the newest such one (a sample can still be in transit `wait_s` after the
    frame's time on a loaded machine, then the one before serves)."""
    exact = 0
    for value, t in zip(frames, times, strict=True):
        window = [q for s, q in published if t - MAX_AGE_S <= s <= t]
        assert any(np.array_equal(value, np.float32(q)) for q in window), (
            f"{what} at {t}: {value} not published"
        )
        exact += np.array_equal(value, np.float32(_newest_at(published, t)[1]))
    assert exact >= 0.8 * len(frames), f"{what}: only {exact} of {len(frames)} frames hold the newest sample"


def _check_dataset(root: Path, wire: Wire, episodes: int) -> None:
    check_dataset(root)
    info = meta.read_info(root)
    assert info["fps"] == FPS and info["total_episodes"] == episodes
    assert info["features"]["observation.images.front"]["shape"] == [IMAGE, IMAGE, 3]
    data, rows = _frames(root), meta.read_sidecar(root)
    assert [r["episode_index"] for r in rows] == list(range(episodes))
    for row in rows:
        ep = data[data.episode_index == row["episode_index"]]
        ticks = [k for k in range(len(ep) + len(row["dropped_ticks"])) if k not in row["dropped_ticks"]]
        times = row["start_time"] + np.array(ticks) / FPS  # each kept frame's time on the recorder's clock
        assert row["source"] == "ros2" and row["length"] == len(ep) >= 10  # >= 1 s at 10 fps
        assert np.allclose(ep.timestamp, np.arange(len(ep)) / FPS)
        _check_stream(np.stack(ep["observation.state"]), times, wire.states, "state")
        _check_stream(np.stack(ep["action"]), times, wire.leader, "action")
        assert np.ptp(np.stack(ep["action"])[:, 0]) > 0.01  # the leader moved during the episode
        assert row["task"] == "grab the orange cube and raise it"  # the sim's /vla/instruction
    _check_images(root, wire, rows)


def _check_images(root: Path, wire: Wire, rows: list[dict]) -> None:
    """First frame of each episode, decoded from the mp4, against the image the sim published then."""
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    ds = LeRobotDataset("local/ros2", root=root)
    for row in rows:
        first = ds.meta.episodes[row["episode_index"]]["dataset_from_index"]
        t = row["start_time"] + min(set(range(100)) - set(row["dropped_ticks"])) / FPS
        decoded = ds[first]["observation.images.front"].permute(1, 2, 0).numpy() * 255
        published = _newest_at(wire.images, t)[1].astype(np.float32)
        assert np.abs(decoded - published).mean() < 8, "the recorded image is not the one published"


def test_records_episodes_from_the_sim_robot_and_a_sigkill_keeps_the_saved_ones(robot, tmp_path) -> None:
    _, wire, recorder = robot
    root = tmp_path / "ds"
    proc = recorder(root, "num_episodes=5")
    _episode(wire, proc, 0, 1.5)
    _episode(wire, proc, 1, 0.5, end="discard")
    _episode(wire, proc, 1, 1.5)
    wire.send("start")
    _wait_for_text(proc, "episode 2: recording", 30)
    time.sleep(1.0)
    proc.signal(signal.SIGKILL)  # mid-episode: that episode, never saved, is all that is lost
    proc.p.wait(30)
    out = proc.output()
    assert "episode discarded (discard)" in out and "episode 1 saved" in out
    assert "frames kept, 0 dropped" in out or "dropped;" in out  # AlignReport.summary() per episode
    _check_dataset(root, wire, episodes=2)


@pytest.mark.slow
def test_ctrl_c_keeps_the_saved_episodes_and_a_rerun_appends(robot, tmp_path) -> None:
    _, wire, recorder = robot
    root = tmp_path / "ds"
    proc = recorder(root, "num_episodes=5")
    _episode(wire, proc, 0, 1.2)
    wire.send("start")
    _wait_for_text(proc, "episode 1: recording", 30)
    time.sleep(0.5)
    proc.signal(signal.SIGINT)
    assert proc.p.wait(60) == 130, proc.output()
    assert "episode discarded (interrupted)" in proc.output()
    assert f"interrupted: 1 episode(s) saved in {root}" in proc.output()
    proc = recorder(root, "num_episodes=1")  # the same root again: appends
    _episode(wire, proc, 1, 1.2)
    assert proc.p.wait(60) == 0, proc.output()
    _check_dataset(root, wire, episodes=2)


@pytest.mark.slow
def test_record_train_deploy_end_to_end(robot, tmp_path) -> None:
    """3 episodes recorded (the recorder stops by itself) -> `vla train env=none` 20 steps -> `vla deploy`
    of that checkpoint on the sim robot commands the arm."""
    domain, wire, recorder = robot
    root, run = tmp_path / "ds", tmp_path / "run"
    proc = recorder(root, "num_episodes=3")
    for n in range(3):
        _episode(wire, proc, n, 2.0)
    assert proc.p.wait(60) == 0, proc.output()
    assert "recorded 3 episode(s) over ROS 2; 3 in the dataset" in proc.output()
    _check_dataset(root, wire, episodes=3)
    train = [sys.executable, "-m", "vla.cli", "train", "env=none", f"dataset.root={root}", f"run_dir={run}",
             "train.steps=20", "train.batch_size=4", "train.warmup_steps=2", "wandb.mode=disabled",
             "eval.offline.heldout_episodes=1", f"hydra.run.dir={run}"]  # fmt: skip
    done = subprocess.run(train, cwd=harness.ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (run / "checkpoints/last/pretrained").is_dir()
    _deploy_moves_the_arm(domain, wire, run, tmp_path)


def _deploy_moves_the_arm(domain: int, wire: Wire, run: Path, tmp_path: Path) -> None:
    wire.close()  # the teleoperator lets go: from now on only the policy commands the arm
    commands = wire.node.reader("/forward_position_controller/commands", dds.Float64MultiArray)
    args = ["-m", "vla.cli", "deploy", "policy.name=vla", f"policy.kwargs.path={run}", "cameras=[front]",
            "duration_s=8", "rt_priority=0", f"hydra.run.dir={tmp_path}/deploy"]  # fmt: skip
    deploy = harness.Proc(args, domain, tmp_path / "deploy.log")
    seen: list[np.ndarray] = []
    deadline = time.monotonic() + 240
    while deploy.p.poll() is None and time.monotonic() < deadline:
        seen += [np.array(m.data) for m in commands.take()]
        time.sleep(0.01)
    out = deploy.stop()
    assert deploy.p.returncode == 0, out
    assert len(seen) >= 10 and all(c.shape == (6,) for c in seen), out  # the policy commanded the arm
    assert "armed at" in out, out
