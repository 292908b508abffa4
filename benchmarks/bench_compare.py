"""The policy comparison: the VLA against LeRobot's ACT, Diffusion Policy and SmolVLA (the `compare` section).

    python -m benchmarks.bench_compare                       # record what is missing, run, publish
    python -m benchmarks.bench_compare --record-only         # only the datasets
    python -m benchmarks.bench_compare --preset compare_debug --no-write   # the pipeline in minutes

It is one Hydra multirun (`vla train -m experiment=<preset>`, conf/experiment/compare.yaml: the same
data, optimiser steps and seeds for every policy), reported by `vla sweep report` at its end; this
script records the preset's datasets first (scripted expert, one dataset per task, seeds from 1000)
and publishes the sweep's report as its BENCHMARKS.md section, with the headline rows for the README.
"""

import argparse
import csv
import subprocess
import sys
import time
from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from benchmarks.common import ROOT, write_section
from vla.config import CONF_DIR

EPISODES = {"compare": 200, "compare_debug": 2}  # demos per task
TASK_IDS = {
    "touch_cube": "vla/TouchCube-v0",
    "pick_cube": "vla/PickCube-v0",
    "push_cube": "vla/PushCube-v0",
    "slide_cube": "vla/SlideCube-v0",
    "place_in_bowl": "vla/PlaceInBowl-v0",
    "stack_cube": "vla/StackCube-v0",
}


def preset_config(preset: str):
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose("config", overrides=[f"experiment={preset}"])


def record_missing(preset: str, episodes: int) -> None:
    """Records each dataset of the preset that is not there yet (the task is the folder's name)."""
    from vla.apps.record import record_dataset

    cfg = preset_config(preset)
    kwargs = OmegaConf.to_container(cfg.env.kwargs, resolve=True)
    kwargs = {k: v for k, v in kwargs.items() if k not in ("tasks", "split")}
    for root in cfg.dataset.roots:
        path = ROOT / root
        if (path / "meta" / "info.json").exists():
            continue
        task = TASK_IDS[path.name]
        print(f"recording {episodes} demos of {task} into {root}", flush=True)
        record_dataset(task, path, episodes, "train", 1000, env_kwargs=kwargs, num_workers=2, progress=False)


def run_sweep(preset: str, sweep_dir: Path, extra: list[str]) -> None:
    cmd = [
        sys.executable,
        "-m",
        "vla.cli",
        "train",
        "-m",
        f"experiment={preset}",
        f"hydra.sweep.dir={sweep_dir}",
    ]
    subprocess.run([*cmd, *extra], cwd=ROOT, check=False)  # failed jobs are in the report, not an exception


def headline(sweep_dir: Path) -> dict:
    """Per policy: the report.csv columns the README quotes (one run per policy in the preset)."""
    with open(sweep_dir / "report.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r.get("status") == "done"]
    return {r["policy"]: r for r in rows}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--preset", default="compare", choices=sorted(EPISODES))
    parser.add_argument("--record-only", action="store_true", help="record the missing datasets, run nothing")
    parser.add_argument("--no-write", action="store_true", help="print only, leave BENCHMARKS.md alone")
    parser.add_argument("overrides", nargs="*", help="extra `vla train` overrides, e.g. policy=vla,act")
    argv = sys.argv[1:] if argv is None else argv  # the command published is the one that ran
    args = parser.parse_args(argv)
    record_missing(args.preset, EPISODES[args.preset])
    if args.record_only:
        return
    sweep_dir = ROOT / "outputs" / "compare" / f"{args.preset}_{time.strftime('%Y-%m-%d_%H-%M-%S')}"
    t0 = time.time()
    run_sweep(args.preset, sweep_dir, args.overrides)
    report = (sweep_dir / "report.md").read_text()
    cfg = preset_config(args.preset)
    budget = (
        f"{cfg.train.max_seconds} s of training per policy at batch {cfg.train.batch_size} (the steps each "
        f"reached are in the table), evaluated on seeds {cfg.eval.seed_base}+ ({cfg.eval.n_episodes} "
        f"episodes per task and split); the whole sweep took {(time.time() - t0) / 60:.0f} min."
    )
    command = "python -m benchmarks.bench_compare" + (" " + " ".join(argv) if argv else "")
    write_section(
        "compare" if args.preset == "compare" else f"compare_{args.preset}",
        "Policies compared: the VLA, ACT, Diffusion Policy, SmolVLA",
        command,
        f"{budget}\n\n{report.split(chr(10), 1)[1]}",
        {"policies": headline(sweep_dir), "budget": budget},
        dry_run=args.no_write,
    )


if __name__ == "__main__":
    main()
