"""`vla eval eval.via=both`: the same seeds in-process and through the bridge (`vla sim-robot` in its own
process, the deploy runner in the eval's, real DDS on a private domain), success read from
/vla/sim/status, the runner's counters per episode, and the side-by-side table."""

import json
import subprocess
import sys

import gymnasium as gym
import pytest

import envs  # noqa: F401  (registers the ids)
from tests.bridge.harness import ROOT, fresh_domain

SEEDS = [100000, 100001]


def _instruction(split: str, seed: int) -> str:
    env = gym.make("vla/TouchCube-v0", split=split, image_size=32, cameras=["front"])
    env.reset(seed=seed)
    text = env.unwrapped.task_description
    env.close()
    return text


def test_expert_through_the_bridge_matches_in_process_on_the_same_seeds(tmp_path) -> None:
    out = tmp_path / "eval"
    args = [
        sys.executable, "-m", "vla.cli", "eval", "policy_name=expert", "eval.via=both",
        f"eval.n_episodes={len(SEEDS)}", "eval.splits=[train,heldout_phrasing]", "eval.n_videos=1",
        "env.kwargs.image_size=64", "env.kwargs.cameras=[front]", "eval.video_size=64",
        f"eval.bridge.deploy=['bridge.domain_id={fresh_domain()}']", f"output_dir={out}",
    ]  # fmt: skip
    run = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    bridge = json.loads((out / "bridge" / "report.json").read_text())
    sim = json.loads((out / "sim" / "report.json").read_text())
    order = [(split, seed) for split in ("train", "heldout_phrasing") for seed in SEEDS]
    assert [(e["split"], e["seed"]) for e in bridge["episodes"]] == order
    for ep in bridge["episodes"]:
        # each seed reset over /vla/sim/reset: the env's own instruction for that seed and split
        assert ep["instruction"] == _instruction(ep["split"], ep["seed"])
        assert ep["success"] and 1 <= ep["length"] <= bridge["max_steps"]  # latched in /vla/sim/status
        c = ep["counters"]
        assert c["armed"] == 1 and c["fault_estop"] == 1 and c["chunks"] > 0, c  # one arm, our e-stop
        assert ep["trips"] == sum(v for k, v in c.items() if k.startswith("fault_") and k != "fault_estop")
        assert ep["sim_counters"]["commands"] > 0
    assert all(r["success_rate"] == 1.0 for r in sim["rows"])
    for row in bridge["rows"]:
        assert {"trips", "episodes_with_trips", "starved", "rate_limited", "chunks"} <= set(row)
    b = bridge["bridge"]
    assert b["rate_hz"] == 10 and b["rt_priority"] == 0
    assert b["policy_timeout_s"] == pytest.approx(0.3)  # derived at 10 Hz: 3 periods
    assert len(bridge["files"]["videos"]) == 2  # the first episode of each split, from the camera topic
    table = (out / "comparison.md").read_text()
    assert "| TouchCube | train | 100% (2/2) | [0.34, 1.00] | 100% (2/2) | [0.34, 1.00] | yes |" in table
    assert "trips (episodes)" in (out / "bridge" / "report.md").read_text()
