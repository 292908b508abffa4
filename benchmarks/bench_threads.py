"""Speed beside other work: training, policy latency and env stepping, quiet and under a background load.

Writes the `threads` section of BENCHMARKS.md. Each measurement runs in a fresh process (thread pools
and OpenMP settings are fixed when torch loads), next to one of three backgrounds:
- quiet: nothing else;
- busy: one process spinning at normal priority (takes one of the cores);
- busy nice 19: the same spinner at the lowest priority (what a "background job" usually is).

Workloads, on the demo's configuration (tiny VLA, one 96 px camera, chunk 5, bins, parallel decoder):
- train: steps/s, batch 32, forward + backward + AdamW, batches from a recorded TouchCube dataset
  through the real DataLoader (`vla.data.dataset.make_dataloader`, 90% episode starts);
- policy: `predict_action_chunk` latency p50 / p99 on a fake observation;
- env: `vla/TouchCube-v0` steps/s with its front camera rendered (EGL, Mesa llvmpipe on a CPU).

Settings: torch intra-op threads (1, cores - 1, cores), the OpenMP wait policy (libgomp's default
spins at barriers before sleeping; PASSIVE sleeps at once), DataLoader workers (0, 1, 2) and
llvmpipe's render threads (`LP_NUM_THREADS`). Run: `python -m benchmarks.bench_threads`.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.common import command_line, markdown_table, write_section

ROOT = Path(__file__).resolve().parents[1]
DATASET = ROOT / "outputs/bench/threads_touch_cube"
CORES = os.cpu_count() or 1
# background: None (quiet), or (nice level, code): a one-core spinner, or a torch job on every core
_SPIN = "while True: pass"
_TORCH = "import torch\na = torch.randn(384, 384)\nwhile True: a @ a"
LOADS: dict[str, tuple[int, str] | None] = {
    "quiet": None,
    "busy": (0, _SPIN),
    "busy nice 19": (19, _SPIN),
    "torch nice 19": (19, _TORCH),
}


# ---------------------------------------------------------------- worker side (one measurement)
def _worker(args: argparse.Namespace) -> dict:
    import torch  # noqa: F401  (loaded before runtime.configure, as in the apps)

    from vla import runtime

    runtime.configure({"torch_threads": args.threads or "auto"}, quiet=True)  # 0: vla's default
    measure = {"train": _train, "policy": _policy, "env": _env}[args.workload]
    return measure(args)


def _build_policy():
    from benchmarks.bench_model import build

    return build("bins", "parallel", chunk=5, image_size=96, cameras=("front",))


def _train(args: argparse.Namespace) -> dict:
    import torch

    from vla.data.dataset import make_dataloader

    policy = _build_policy()
    opt = torch.optim.AdamW(policy.parameters(), lr=2.5e-3)
    loader = make_dataloader(DATASET, 5, 32, num_workers=args.workers, drop_last=True, start_fraction=0.9)
    policy.train()
    steps, t0, deadline = -3, 0.0, float("inf")  # 3 warm-up steps: allocator, loader workers, first batches
    while time.perf_counter() < deadline:
        for batch in loader:
            loss, _ = policy.compute_loss(batch)
            opt.zero_grad()
            loss.backward()
            opt.step()
            steps += 1
            if steps == 0:
                t0 = time.perf_counter()
                deadline = t0 + args.seconds
            if time.perf_counter() >= deadline:
                break
    return {"steps_per_s": steps / (time.perf_counter() - t0)}


def _policy(args: argparse.Namespace) -> dict:
    from policies.vla.policy import fake_observation

    policy = _build_policy()
    obs = fake_observation(("front",), image_size=96)
    for _ in range(5):
        policy.predict_action_chunk(obs)
    lat, deadline = [], time.perf_counter() + args.seconds
    while time.perf_counter() < deadline:
        t = time.perf_counter()
        policy.predict_action_chunk(obs)
        lat.append(time.perf_counter() - t)
    ms = np.asarray(lat) * 1e3
    return {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)), "n": len(ms)}


def _env(args: argparse.Namespace) -> dict:
    import gymnasium as gym

    import envs  # noqa: F401  (registers vla/* ids)

    env = gym.make("vla/TouchCube-v0", cameras=["front"])
    env.reset(seed=0)
    steps, deadline = 0, time.perf_counter() + args.seconds
    while time.perf_counter() < deadline:
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        steps += 1
        if terminated or truncated:
            env.reset()
    env.close()
    return {"steps_per_s": steps / args.seconds}


# ---------------------------------------------------------------- parent side (the table)
def _background(nice: int, code: str) -> subprocess.Popen:
    lower = (lambda: os.nice(nice)) if nice else None
    return subprocess.Popen([sys.executable, "-c", code], preexec_fn=lower)


def measure(
    workload: str, load: str, seconds: float, threads: int = 0, env: dict | None = None, **kw: object
) -> dict:
    """One measurement in a fresh process beside the named background load."""
    cmd = [sys.executable, "-m", "benchmarks.bench_threads", "--worker", workload, "--seconds", str(seconds)]
    cmd += ["--threads", str(threads)] + [f"--{k}={v}" for k, v in kw.items()]
    spinner = _background(*LOADS[load]) if LOADS[load] is not None else None
    try:
        out = subprocess.run(
            cmd, cwd=ROOT, env={**os.environ, **(env or {})}, capture_output=True, text=True, check=True
        )
    except subprocess.CalledProcessError as exc:
        raise RuntimeError(f"{workload} worker failed:\n{exc.stderr[-3000:]}") from exc
    finally:
        if spinner is not None:
            spinner.kill()
            spinner.wait()
    return json.loads(out.stdout.strip().splitlines()[-1])


def _ensure_dataset() -> None:
    if (DATASET / "meta/info.json").exists():
        return
    from vla.apps.record import record_dataset

    record_dataset(
        "vla/TouchCube-v0",
        DATASET,
        60,
        "train",
        1000,
        env_kwargs={"cameras": ["front"], "layout": "slots"},
        progress=False,
    )


def _thread_settings() -> list[tuple[str, int, dict]]:
    """(label, torch threads, extra environment); cores - 1 is listed once where it equals 1."""
    counts = sorted({1, max(1, CORES - 1), CORES})
    rows = [(f"{n} thread{'s' * (n > 1)}, spin-wait (libgomp default)", n, {}) for n in counts]
    passive = {"OMP_WAIT_POLICY": "PASSIVE"}
    return rows + [(f"{n} threads, OMP_WAIT_POLICY=PASSIVE", n, passive) for n in counts if n > 1]


def _ratio(value: float, quiet: float) -> str:
    return f"{value:.2f} ({value / quiet:.0%})"


def _threads_table(seconds: float) -> tuple[str, dict]:
    """The table, and the headline figures of vla's default and torch's default (one spinning thread
    per core) beside the quiet machine and the busy one."""
    rows, settings = [], {}
    for label, threads, env in _thread_settings():
        train = {load: measure("train", load, seconds, threads, env)["steps_per_s"] for load in LOADS}
        pol = {load: measure("policy", load, seconds, threads, env) for load in LOADS}
        default = " **(default)**" if threads == max(1, CORES - 1) and not env else ""
        rows.append(
            [label + default]
            + [_ratio(train[load], train["quiet"]) for load in LOADS]
            + [
                f"{pol[load]['p50_ms']:.1f} / {pol[load]['p99_ms']:.1f}"
                + ("" if load == "quiet" else f" ({pol[load]['p99_ms'] / pol['quiet']['p99_ms']:.1f}x)")
                for load in LOADS
            ]
        )
        print(rows[-1], flush=True)
        for key, n in (("default", max(1, CORES - 1)), ("torch", CORES)):
            if threads == n and not env:
                settings[key] = _headline(threads, train, pol)
    header = ["torch threads"] + [f"train steps/s, {load}" for load in LOADS]
    header += [f"policy p50 / p99 ms, {load}" for load in LOADS]
    return markdown_table(header, rows), settings


def _headline(threads: int, train: dict, pol: dict) -> dict:
    return {
        "threads": threads,
        "train_quiet": train["quiet"],
        "train_busy": train["busy"],
        "train_busy_share": train["busy"] / train["quiet"],
        "p50_quiet": pol["quiet"]["p50_ms"],
        "p99_quiet": pol["quiet"]["p99_ms"],
        "p99_busy": pol["busy"]["p99_ms"],
        "p99_busy_ratio": pol["busy"]["p99_ms"] / pol["quiet"]["p99_ms"],
    }


def _workers_table(seconds: float) -> str:
    rows = []
    for workers in (0, 1, 2):
        train = {load: measure("train", load, seconds, workers=workers)["steps_per_s"] for load in LOADS}
        rows.append([workers] + [_ratio(train[load], train["quiet"]) for load in LOADS])
        print(rows[-1], flush=True)
    return markdown_table(["DataLoader workers"] + [f"train steps/s, {load}" for load in LOADS], rows)


def _env_table(seconds: float) -> str:
    rows = []
    for label, env in (
        ("llvmpipe default (a thread per core)", {}),
        ("LP_NUM_THREADS=1", {"LP_NUM_THREADS": "1"}),
    ):
        steps = {load: measure("env", load, seconds, env=env)["steps_per_s"] for load in LOADS}
        rows.append([label] + [_ratio(steps[load], steps["quiet"]) for load in LOADS])
        print(rows[-1], flush=True)
    return markdown_table(["render threads"] + [f"env steps/s, {load}" for load in LOADS], rows)


def run(seconds: float) -> tuple[str, dict]:
    _ensure_dataset()
    loads = ", ".join(f"**{name}**" for name in LOADS)
    threads_table, settings = _threads_table(seconds)
    body = "\n\n".join(
        [
            f"Backgrounds: {loads}: nothing; one spinning Python process at normal priority; the same at "
            "nice 19; a niced torch job (384x384 matmuls, torch's default threads). Each figure is a fresh "
            f"process measured for {seconds:.0f} s beside it; in brackets: relative to the same setting "
            "quiet. Demo model (tiny VLA, one 96 px camera, chunk 5, bins, parallel decoder), batch 32 from "
            "a recorded TouchCube dataset (DataLoader workers 0) for training; batch 1 for the policy.",
            "### Torch threads and OpenMP wait policy\n\n" + threads_table,
            "### DataLoader workers (vla's default torch threads)\n\n" + _workers_table(seconds),
            "### Env stepping with rendering (TouchCube, front camera 96 px, EGL on Mesa llvmpipe)\n\n"
            + _env_table(seconds),
        ]
    )
    return body, {"cores": CORES, "seconds": seconds, "settings": settings}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--worker", choices=["train", "policy", "env"], help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--workers", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=8.0, help="seconds per measurement (default 8)")
    parser.add_argument("--no-write", action="store_true", help="print only; write no results file")
    args = parser.parse_args(argv)
    if args.worker:
        args.workload = args.worker
        print(json.dumps(_worker(args)))
        return
    body, figures = run(args.seconds)
    title = "Speed beside a background load: threads and wait policy"
    write_section("threads", title, command_line("bench_threads", argv), body, figures, dry_run=args.no_write)


if __name__ == "__main__":
    main()
