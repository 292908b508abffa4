"""Draws docs/images/tasks.png: each tabletop task's first front-camera frame, titled with its instruction.

.venv/bin/python scripts/make_task_grid.py [--out docs/images/tasks.png] [--seed 0] [--size 256]
"""

import argparse
import os
import textwrap
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")

import gymnasium as gym
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

import envs

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images" / "tasks.png")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args(argv)
    cols = 3
    rows = -(-len(envs.TASK_IDS) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.6 * rows))
    for i, (ax, env_id) in enumerate(zip(axes.flat, envs.TASK_IDS, strict=False)):
        env = gym.make(
            env_id, cameras=("front",), image_size=64, render_mode="rgb_array", render_size=args.size
        )
        env.reset(seed=args.seed + i)  # a different seed per task shows more colours
        ax.imshow(env.render())
        title = f'{env_id.removeprefix("vla/")}\n"{env.unwrapped.task_description}"'
        ax.set_title("\n".join(textwrap.wrap(title, 34, replace_whitespace=False)), fontsize=9)
        env.close()
    for ax in axes.flat:
        ax.axis("off")
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=100)
    print(f"wrote {args.out}")
    return args.out


if __name__ == "__main__":
    main()
