"""The scripted expert with and without a bridge's limits: success, episode length, limit violations.

.venv/bin/python scripts/experiments/expert_limits.py [--env vla/PickCube-v0] [--layout slots]
    [--limits so101] [--episodes 20] [--seed-base 200000]

For each seed it runs the free expert and the expert under `--limits` (conf/bridge/<name>.yaml; what
`vla record expert_limits=<name>` records) and prints one row each: successes, mean steps, the episodes
whose action stream breaks the limits (vla.bridge.safety.check_stream, float32 tolerance), and the
ticks per episode the limits slowed. Renders at 32 px with one camera: the images are not used.
"""

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a file from the repo root

import numpy as np

from vla.apps.expert_limits import bridge_limits
from vla.apps.rollout import make_env, make_rollout_policy, rollout
from vla.bridge.safety import SafetyConfig, check_stream


def measure(env, policy_kwargs: dict, seeds: range, cfg) -> str:
    policy = make_rollout_policy(env, "expert", policy_kwargs)
    dt = 1.0 / float(env.metadata["render_fps"])
    wins, steps, broken, slowed = 0, [], 0, []
    for seed in seeds:
        episode = rollout(env, policy, seed)
        wins += bool(episode.info["success"])
        steps.append(len(episode.action))
        broken += bool(check_stream(episode.action, cfg, dt, tol=1e-4))
        if policy_kwargs:
            slowed.append(policy.interventions.get("rate_limited", 0))
    n = len(seeds)
    limited = f"{np.mean(slowed):.1f}" if slowed else "-"
    return f"| {wins}/{n} | {np.mean(steps):.1f} | {broken}/{n} | {limited} |"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--env", default="vla/PickCube-v0")
    parser.add_argument("--layout", default="slots")
    parser.add_argument("--limits", default="so101", help="a conf/bridge name or a yaml file")
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--seed-base", type=int, default=200000)
    args = parser.parse_args(argv)
    env = make_env(args.env, {"layout": args.layout, "cameras": ["front"], "image_size": 32})
    limits = bridge_limits(args.limits)
    cfg, seeds = SafetyConfig.from_bridge(limits), range(args.seed_base, args.seed_base + args.episodes)
    print(f"{args.env} layout={args.layout}, seeds {seeds.start}-{seeds.stop - 1}, limits {args.limits}\n")
    print("| expert | success | mean steps | streams breaking the limits | ticks slowed per episode |")
    print("|---|---|---|---|---|")
    print("| free " + measure(env, {}, seeds, cfg))
    print(f"| within {args.limits} " + measure(env, {"limits": limits}, seeds, cfg))
    env.close()


if __name__ == "__main__":
    main()
