"""Success of Meta-World's scripted experts in our env (envs/metaworld/env.py), per task, on seeds 0..n-1.

    python -m envs.metaworld.expert_eval --tasks mt10 --seeds 5        # the MT10 tasks, rendered
    python -m envs.metaworld.expert_eval --tasks mt50 --seeds 5 --no-render

Each episode: `reset(seed=s)`, then `expert_action()` until success (termination) or 500 steps. With
--no-render the images are not drawn (the physics, and so the outcome, is the same; ~10x faster).
"""

import argparse
import json
import time

import gymnasium as gym
import numpy as np

import envs
from envs.metaworld import MAX_EPISODE_STEPS, MT10_TASKS, MT50_TASKS, TASK_DIFFICULTY


def run_task(task: str, seeds: list[int], render: bool, image_size: int) -> dict:
    env = gym.make(f"metaworld/{task}", image_size=image_size)
    u = env.unwrapped
    if not render:
        u._observation = lambda: {}  # skip the images; unwrapped below, so no checker sees the empty obs
    lengths, successes = [], []
    try:
        for seed in seeds:
            (env if render else u).reset(seed=seed)
            success, steps = False, 0
            while steps < MAX_EPISODE_STEPS and not success:
                _, _, terminated, truncated, info = (env if render else u).step(u.expert_action())
                steps += 1
                success = bool(info["is_success"])
                if terminated or truncated:
                    break
            successes.append(success)
            lengths.append(steps)
    finally:
        env.close()
    won = [n for n, ok in zip(lengths, successes, strict=True) if ok]
    return {
        "task": task, "difficulty": TASK_DIFFICULTY[task], "episodes": len(seeds), "successes": len(won),
        "mean_steps_success": float(np.mean(won)) if won else None,
        "failed_seeds": [s for s, ok in zip(seeds, successes, strict=True) if not ok],
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", default="mt10", help="mt10 | mt50 | comma-separated task names")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--no-render", action="store_true")
    parser.add_argument("--json", default=None, help="also write the rows here")
    args = parser.parse_args()
    tasks = {"mt10": MT10_TASKS, "mt50": MT50_TASKS}.get(args.tasks) or tuple(args.tasks.split(","))
    assert envs.metaworld.is_metaworld(f"metaworld/{tasks[0]}")
    rows, t0 = [], time.perf_counter()
    print("| task | difficulty | expert success | mean steps (successes) | failed seeds |")
    print("|---|---|---|---|---|")
    for task in tasks:
        r = run_task(task, list(range(args.seeds)), not args.no_render, args.image_size)
        rows.append(r)
        steps = "-" if r["mean_steps_success"] is None else f"{r['mean_steps_success']:.0f}"
        print(
            f"| {task} | {r['difficulty']} | {r['successes']}/{r['episodes']} | {steps} "
            f"| {r['failed_seeds'] or '-'} |",
            flush=True,
        )
    total = sum(r["successes"] for r in rows)
    n = sum(r["episodes"] for r in rows)
    print(f"\nall: {total}/{n} ({100 * total / n:.1f}%), {time.perf_counter() - t0:.0f} s wall time")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
