"""Sizes and CPU cost of the policies at their conf/policy/*.yaml defaults: what docs/baselines.md quotes.

For each policy: parameters (all / trainable), one training step at batch 32 (forward + backward +
AdamW) and one chunk at batch 1 (observation dict -> unnormalised actions), median seconds of a few
repetitions after a warm-up, on random inputs in the data contract's layout (two 96 px cameras, 6-D
state and action, as the tabletop envs' defaults). Threads: runtime.torch_threads' default.

    python scripts/baseline_sizes.py [--policies vla act diffusion smolvla] [--reps 3]
    python scripts/baseline_sizes.py --policies act --set act:policy.dim_model=512 \
        act:policy.dim_feedforward=3200          # lerobot's default sizes of one policy
"""

import argparse
import os
import statistics
import time
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from policies.registry import make_lerobot_policy
from policies.vla.policy import VLAPolicy, fake_observation
from vla import runtime
from vla.config import CONF_DIR
from vla.constants import ACTION, ACTION_IS_PAD, OBS_STATE, TASK, image_key
from vla.data.normalize import compute_stats

CAMERAS, SIZE, DIM, BATCH = ("front", "wrist"), 96, 6, 32


def features() -> SimpleNamespace:
    shapes = {c: (3, SIZE, SIZE) for c in CAMERAS}
    return SimpleNamespace(cameras=CAMERAS, image_shapes=shapes, state_dim=DIM, action_dim=DIM, fps=10)


def stats() -> dict[str, Any]:
    rng = np.random.default_rng(0)
    return {k: compute_stats(rng.uniform(-1, 1, (1000, DIM))) for k in (OBS_STATE, ACTION)}


def build(name: str, overrides: list[str]) -> Any:
    with initialize_config_dir(CONF_DIR, version_base="1.3"):
        cfg = compose("config", overrides=[f"policy={name}", *overrides])
    node = OmegaConf.to_container(cfg.policy, resolve=True)
    node.pop("name")
    torch.manual_seed(0)
    if name == "vla":
        return VLAPolicy.from_config(node, stats(), CAMERAS, DIM, DIM)
    return make_lerobot_policy(name, node, stats(), features())


def batch(chunk: int) -> dict[str, Any]:
    out: dict[str, Any] = {image_key(c): torch.rand(BATCH, 3, SIZE, SIZE) for c in CAMERAS}
    out[OBS_STATE] = torch.rand(BATCH, DIM) * 2 - 1
    out[ACTION] = torch.rand(BATCH, chunk, DIM) * 2 - 1
    out[ACTION_IS_PAD] = torch.zeros(BATCH, chunk, dtype=torch.bool)
    out[TASK] = ["pick up the red cube"] * BATCH
    return out


def median_seconds(fn: Any, reps: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def measure(name: str, reps: int, overrides: list[str]) -> dict[str, Any]:
    policy = build(name, overrides)
    params = sum(p.numel() for p in policy.parameters())
    trainable = sum(p.numel() for p in policy.parameters() if p.requires_grad)
    optimizer = torch.optim.AdamW([p for p in policy.parameters() if p.requires_grad], lr=1e-4)
    data = batch(policy.cfg.chunk_size)

    def step() -> None:
        policy.train()
        loss, _ = policy.compute_loss(data)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    train_s = median_seconds(step, reps)
    policy.eval()
    obs = fake_observation(CAMERAS, image_size=SIZE, state_dim=DIM)
    chunk = policy.predict_action_chunk(obs)
    infer_s = median_seconds(lambda: policy.predict_action_chunk(obs), reps)
    return {"name": name, "params": params, "trainable": trainable, "train_s": train_s,
            "chunk_s": infer_s, "chunk": chunk.shape[0], "executed": policy.n_action_steps}  # fmt: skip


def main() -> None:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=raw)
    parser.add_argument("--policies", nargs="+", default=["vla", "act", "diffusion", "smolvla"])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument(
        "--set", nargs="*", default=[], help="<policy>:<hydra override>, e.g. act:policy.dim_model=512"
    )
    args = parser.parse_args()
    threads = runtime.configure({"torch_threads": "auto"}, quiet=True)
    print(f"torch threads: {threads}; load average before: {os.getloadavg()[0]:.1f}")
    print("| policy | params (trainable) | train step, batch 32 | chunk, batch 1 | actions per chunk (run) |")
    print("|---|---|---|---|---|")
    for name in args.policies:
        r = measure(name, args.reps, [s.split(":", 1)[1] for s in args.set if s.split(":", 1)[0] == name])
        print(
            f"| {r['name']} | {r['params'] / 1e6:.2f} M ({r['trainable'] / 1e6:.2f} M) "
            f"| {r['train_s']:.2f} s | {r['chunk_s'] * 1e3:.0f} ms | {r['chunk']} ({r['executed']}) |",
            flush=True,
        )
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
