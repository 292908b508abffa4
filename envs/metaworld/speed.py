"""Milliseconds per control step of a Meta-World env (physics step + rendering the observation).

    python -m envs.metaworld.speed --task pick-place-v3 --sizes 64,128,224 --steps 100

Steps the scripted expert (resetting when an episode ends) and times `env.step` alone: the physics
(5 MuJoCo steps), and rendering each observed camera. Also once with shadows and multisampling on.
"""

import argparse
import time

import gymnasium as gym
import numpy as np

import envs  # noqa: F401  (registers the ids; sets MUJOCO_GL=egl)


def ms_per_step(task: str, size: int, steps: int, render: bool = True, **kwargs: object) -> float:
    env = gym.make(f"metaworld/{task}", image_size=size, **kwargs)
    u = env.unwrapped
    if not render:
        u._observation = lambda: {}
    try:
        u.reset(seed=0)
        u.step(u.expert_action())  # the first render makes the GL context: not timed
        times = []
        for _ in range(steps):
            action = u.expert_action()
            t0 = time.perf_counter()
            _, _, terminated, _, _ = u.step(action)
            times.append(time.perf_counter() - t0)
            if terminated:
                u.reset(seed=len(times))
        return 1000 * float(np.median(times))
    finally:
        env.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--task", default="pick-place-v3")
    parser.add_argument("--sizes", default="64,128,224")
    parser.add_argument("--steps", type=int, default=100)
    args = parser.parse_args()
    print(f"{args.task}, median ms per step over {args.steps} steps (corner2 camera)")
    print(f"physics only (no rendering): {ms_per_step(args.task, 64, args.steps, render=False):.1f} ms")
    for size in (int(s) for s in args.sizes.split(",")):
        fast = ms_per_step(args.task, size, args.steps)
        slow = ms_per_step(args.task, size, max(10, args.steps // 5), shadows=True, multisample=True)
        print(
            f"{size} px: {fast:.1f} ms (shadows, multisampling off); "
            f"{slow:.1f} ms with both on ({slow / fast:.1f}x)"
        )


if __name__ == "__main__":
    main()
