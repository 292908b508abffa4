"""Fault 14: a recording killed mid-run (SIGKILL, Ctrl-C) leaves a dataset that loads as it was at
its last commit, contiguous episode indices, the partial episode dropped; a re-run appends."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.bridge.harness import default_sigint
from tests.vla.conftest import ENV_ID, ENV_KWARGS
from vla.apps.record import record_dataset
from vla.data import meta
from vla.data.checks import check_dataset
from vla.data.dataset import make_dataloader
from vla.data.writer import Episode, EpisodeWriter, features_of, staging_dir

pytestmark = pytest.mark.filterwarnings("ignore:Cannot enable progress bars")


def _start_recording(root: Path, cwd: Path) -> subprocess.Popen:
    """`vla record` as a real subprocess: 200 episodes (never finishes in the test), commit every 2, by
    count only (on a loaded machine the 30 s timer, started before lerobot's import, fired after one)."""
    args = [
        sys.executable, "-m", "vla.cli", "record", "env=pick_cube", f"root={root}", "num_episodes=200",
        "commit_every=2", "commit_every_s=null", "env.kwargs.image_size=64", f"hydra.run.dir={cwd}/hydra",
    ]  # fmt: skip
    return subprocess.Popen(
        args, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint
    )


def _staged_episodes(root: Path) -> int:
    """Episodes written to the staging copy (committed ones + the current uncommitted ones)."""
    try:
        return json.loads((staging_dir(root) / "meta/info.json").read_text())["total_episodes"]
    except (OSError, ValueError, KeyError):
        return 0


def _wait_for_uncommitted_work(
    proc: subprocess.Popen, root: Path, committed: int, timeout: float = 120
) -> None:
    """Until >= `committed` episodes are committed and the writer holds uncommitted ones in staging."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        done = meta.read_info(root)["total_episodes"] if (root / "meta/info.json").exists() else 0
        if done >= committed and _staged_episodes(root) > done:
            return
        time.sleep(0.05)
    proc.kill()
    pytest.fail(f"recording did not reach {committed} committed episodes in {timeout} s")


def _assert_consistent(root: Path) -> int:
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    check_dataset(root)
    total = meta.read_info(root)["total_episodes"]
    assert [e["episode_index"] for e in meta.read_episodes(root)] == list(range(total))
    assert [r["episode_index"] for r in meta.read_sidecar(root)] == list(range(total))
    ds = LeRobotDataset("local/pick", root=root)  # lerobot's own class, no recovery step of ours
    assert ds.meta.total_episodes == total and len(ds) == ds.meta.total_frames
    assert sum(len(b["task"]) for b in make_dataloader(root, 4, 16, mode="memory")) == len(ds)
    return total


def test_sigkill_mid_recording_keeps_committed_episodes_and_rerun_appends(tmp_path: Path) -> None:
    root = tmp_path / "pick"
    proc = _start_recording(root, tmp_path)
    _wait_for_uncommitted_work(proc, root, committed=4)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    total = _assert_consistent(root)
    assert total >= 4 and total % 2 == 0  # whole commits only: the uncommitted episode(s) are dropped
    result = record_dataset(ENV_ID, root, 3, env_kwargs=ENV_KWARGS, commit_every=2, progress=False)
    assert not staging_dir(root).exists()  # the killed writer's staging copy was cleaned up
    assert _assert_consistent(root) == total + 3 == result.total_episodes
    assert [r["seed"] for r in meta.read_sidecar(root)] == list(range(total + 3))  # seeds continue


def test_ctrl_c_commits_every_complete_episode(tmp_path: Path) -> None:
    root = tmp_path / "pick"
    proc = _start_recording(root, tmp_path)
    _wait_for_uncommitted_work(proc, root, committed=2)
    staged = _staged_episodes(root)
    os.kill(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err[-3000:]
    total = _assert_consistent(root)
    assert total >= staged  # the complete uncommitted episodes were committed, not dropped
    assert f"interrupted: {total} complete episode(s) kept in {root}" in err
    assert not staging_dir(root).exists()


def _committed_after_each(commit_every: int, commit_every_s: float | None, root: Path) -> list[int]:
    """Episodes in the dataset folder (what a SIGKILL would keep) after each of 3 added episodes."""
    frames = np.full((4, 16, 16, 3), 120, np.uint8)
    episode = Episode({"front": frames}, np.zeros((4, 6), np.float32), np.zeros((4, 6), np.float32), "a")
    committed = []
    with EpisodeWriter(
        root, 10, features_of(episode), commit_every=commit_every, commit_every_s=commit_every_s
    ) as w:
        for _ in range(3):
            w.add_episode(episode)
            committed.append(meta.read_info(root)["total_episodes"] if root.exists() else 0)
    assert meta.read_info(root)["total_episodes"] == 3  # leaving the block commits the rest
    return committed


def test_commits_come_by_count_or_by_time(tmp_path: Path) -> None:
    """Fast sim recording commits by count; slow recording (a human per episode) by time, so a kill
    loses at most `commit_every` episodes and at most the last `commit_every_s` seconds of work."""
    assert _committed_after_each(2, None, tmp_path / "count") == [0, 2, 2]
    assert _committed_after_each(100, 3600.0, tmp_path / "hour") == [0, 0, 0]
    assert _committed_after_each(100, 1e-6, tmp_path / "time") == [1, 2, 3]  # each episode takes longer


@pytest.mark.parametrize("bad", [0.0, -1.0])
def test_commit_interval_must_be_positive(tmp_path: Path, bad: float) -> None:
    with pytest.raises(ValueError, match=r"commit_every_s=.* must be > 0"):
        EpisodeWriter(tmp_path / "ds", 10, {}, commit_every_s=bad)


def test_ctrl_c_inside_a_ctypes_call_counts_as_an_interrupt() -> None:
    """A SIGINT that lands while ctypes converts an argument (MuJoCo's EGL eglMakeCurrent in a render)
    reaches `vla record` as ctypes.ArgumentError, not KeyboardInterrupt; it must still commit and exit
    130. Here the conversion itself raises it, through a real ctypes call into libc."""
    import ctypes

    from vla.apps.record import is_interrupt

    class Interrupted:
        @classmethod
        def from_param(cls, obj: object) -> int:
            raise KeyboardInterrupt

    labs = ctypes.CDLL(None).labs
    labs.argtypes = [Interrupted]
    with pytest.raises(ctypes.ArgumentError) as caught:
        labs(1)
    assert is_interrupt(caught.value)
    assert is_interrupt(KeyboardInterrupt())
    labs.argtypes = [ctypes.c_long]
    with pytest.raises(ctypes.ArgumentError) as wrong_type:
        labs("one")  # an ordinary bad argument is not an interrupt
    assert not is_interrupt(wrong_type.value)
