"""Measures the scripted experts: success over N seeds per task and split, as a markdown table.

    .venv/bin/python -m envs.tabletop.expert_eval [--seeds 100] [--splits train heldout_combo]
    .venv/bin/python -m envs.tabletop.expert_eval --control-hz 30     # the same table at 30 Hz

Seeds 0..N-1, the registered time limits (in steps at the chosen control rate), 16x16 images (the
expert does not look at them).
"""

import argparse
import time

import gymnasium as gym
import numpy as np

import envs
from envs.tabletop.clock import DEFAULT_CONTROL_HZ
from envs.tabletop.instructions import SPLITS


def run(
    env_id: str, split: str, seeds: range, control_hz: int = DEFAULT_CONTROL_HZ
) -> tuple[int, float, int]:
    """(successes, mean episode length in steps, longest episode) of the expert on `seeds`."""
    env = gym.make(env_id, split=split, image_size=16, cameras=("front",), control_hz=control_hz)
    wins, lengths = 0, []
    try:
        for seed in seeds:
            env.reset(seed=seed)
            steps, done = 0, False
            while not done:
                _, _, terminated, truncated, info = env.step(env.unwrapped.expert_action())
                steps, done = steps + 1, terminated or truncated
            wins += bool(info["is_success"])
            lengths.append(steps)
    finally:
        env.close()
    return wins, float(np.mean(lengths)), max(lengths)


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description="scripted-expert success table")
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--splits", nargs="+", default=list(SPLITS), choices=SPLITS)
    parser.add_argument("--control-hz", type=int, default=DEFAULT_CONTROL_HZ, help="control rate (Hz)")
    args = parser.parse_args(argv)
    hz = args.control_hz
    seeds = range(args.seeds)
    header = ["task", *[f"{s} success" for s in args.splits], "mean / max steps (train)", "step limit"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    start = time.perf_counter()
    for env_id in envs.TASK_IDS:
        cells, lengths = [], ""
        for split in args.splits:
            wins, mean_len, max_len = run(env_id, split, seeds, hz)
            cells.append(f"{wins}/{len(seeds)} ({100 * wins / len(seeds):.0f}%)")
            lengths = lengths or f"{mean_len:.1f} / {max_len}"
        limit = envs.max_episode_steps(env_id, {"control_hz": hz})
        lines.append(f"| {env_id} | " + " | ".join(cells) + f" | {lengths} | {limit} |")
        print(lines[-1], flush=True)
    table = "\n".join(lines)
    print(f"\n{table}\n\n(steps at {hz} Hz; {time.perf_counter() - start:.0f} s)")
    return table


if __name__ == "__main__":
    main()
