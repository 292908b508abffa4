"""The policy comparison: the VLA against LeRobot's ACT, Diffusion Policy and SmolVLA (the `compare` section).

    python -m benchmarks.bench_compare                       # record what is missing, run, publish
    python -m benchmarks.bench_compare --record-only         # only the datasets
    python -m benchmarks.bench_compare --preset compare_debug --no-write   # the pipeline in minutes
    python -m benchmarks.bench_compare --preset compare_pick                 # one task: PickCube, random
    python -m benchmarks.bench_compare --preset compare_pick --publish outputs/compare/<sweep dir>
    python -m benchmarks.bench_compare --preset compare_mt10                 # Meta-World MT10
    python -m benchmarks.bench_compare --preset compare_600                  # the six tasks, 3x the demos

It is one Hydra multirun (`vla train -m experiment=<preset>`, conf/experiment/compare.yaml: the same
data, optimiser steps and seeds for every policy), reported by `vla sweep report` at its end; this
script records the preset's datasets first (scripted expert, one dataset per task, seeds from the
preset's dataset.seed_base) and publishes the sweep's report as its BENCHMARKS.md section, with the
headline rows for the README.
--publish publishes a sweep that already ran (e.g. `vla train -m experiment=compare_pick ...`), stamped
with the commit its runs recorded in their status.json.
"""

import argparse
import csv
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from benchmarks.common import ROOT, write_section
from vla.apps import run_status
from vla.apps.sweep_files import sweep_overrides
from vla.apps.sweep_runs import job_dirs
from vla.config import CONF_DIR
from vla.provenance import commit_before

# demos per dataset (compare: one per task; compare_mt10: one dataset, each seed draws its task)
EPISODES = {
    "compare": 200,
    "compare_debug": 2,
    "compare_pick": 1800,
    "compare_mt10": 300,
    "compare_600": 600,
    "compare_600_4500": 600,
}
TITLES = {
    "compare": "Policies compared: the VLA, ACT, Diffusion Policy, SmolVLA",
    "compare_debug": "Policies compared: the pipeline on tiny data",
    "compare_pick": "Policies compared on one task: PickCube, random layout",
    "compare_mt10": "Policies compared on Meta-World MT10",
    "compare_600": "Policies compared on 600 demos per task",
    "compare_600_4500": "Policies compared on 600 demos per task, 4500 s each",
}
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
    roots = cfg.dataset.roots or [cfg.dataset.root]
    for root in roots:
        path = ROOT / root
        if (path / "meta" / "info.json").exists():
            continue
        task = TASK_IDS.get(path.name, cfg.env.id)  # one folder per task, or the preset's one env
        print(f"recording {episodes} demos of {task} into {root}", flush=True)
        seeds = cfg.dataset.seed_base
        record_dataset(task, path, episodes, "train", seeds, env_kwargs=kwargs, num_workers=2, progress=False)


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


def section_body(report: str, sweep_dir: Path) -> str:
    """The sweep's report.md without its title, its plots named by where they are: the sweep dir is not
    in the repository, so an image link to it would not resolve from BENCHMARKS.md."""
    lines = report.split("\n")[1:]
    plots = [line[line.index("(") + 1 : -1] for line in lines if line.startswith("![")]
    kept = [line for line in lines if not line.startswith("![")]
    where = ", ".join(f"`{sweep_dir.name}/{name}`" for name in plots)
    return "\n".join(kept).rstrip() + (
        f"\n\nPlots (in the sweep dir, not committed): {where}.\n" if plots else "\n"
    )


def headline(sweep_dir: Path) -> dict:
    """Per policy: the report.csv columns the README quotes (one run per policy in the preset)."""
    with open(sweep_dir / "report.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r.get("status") == "done"]
    return {r["policy"]: r for r in rows}


def sweep_stamp(sweep_dir: Path, preset: str) -> tuple[tuple[str | None, list[str]], float]:
    """((commit, changed folders) of the code the sweep's runs ran, the sweep's minutes) from status.json.

    Runs from before status.json held a commit: the last commit made before the sweep started.
    """
    if f"experiment={preset}" not in (sweep_overrides(sweep_dir) or []):
        raise SystemExit(
            f"--publish {sweep_dir}: not a sweep of experiment={preset} (its multirun.yaml's overrides: "
            f"{sweep_overrides(sweep_dir)}); pass the --preset it ran"
        )
    statuses = [s for d in job_dirs(sweep_dir) if (s := run_status.read_status(d))]
    if not statuses:
        raise SystemExit(f"--publish {sweep_dir}: no job has a status.json yet")
    commits = {s["commit"] for s in statuses if s.get("commit")}
    if len(commits) > 1:
        raise SystemExit(f"--publish {sweep_dir}: its runs ran different commits {sorted(commits)}")
    started = min(s["started"] for s in statuses)
    ended = max(s.get("ended", s["started"]) for s in statuses)
    minutes = (datetime.fromisoformat(ended) - datetime.fromisoformat(started)).total_seconds() / 60
    changed = sorted({c for s in statuses for c in s.get("uncommitted") or []})
    return (commits.pop() if commits else commit_before(started), changed), minutes


def main(argv: list[str] | None = None) -> dict | None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--preset", default="compare", choices=sorted(EPISODES))
    parser.add_argument("--record-only", action="store_true", help="record the missing datasets, run nothing")
    parser.add_argument("--publish", type=Path, help="publish this finished sweep of the preset; run nothing")
    parser.add_argument("--no-write", action="store_true", help="print only, leave BENCHMARKS.md alone")
    parser.add_argument("overrides", nargs="*", help="extra `vla train` overrides, e.g. policy=vla,act")
    argv = sys.argv[1:] if argv is None else argv  # the command published is the one that ran
    args = parser.parse_args(argv)
    if args.publish:
        sweep_dir = args.publish
        stamp, minutes = sweep_stamp(sweep_dir, args.preset)
    else:
        record_missing(args.preset, EPISODES[args.preset])
        if args.record_only:
            return None
        sweep_dir = ROOT / "outputs" / "compare" / f"{args.preset}_{time.strftime('%Y-%m-%d_%H-%M-%S')}"
        t0 = time.time()
        run_sweep(args.preset, sweep_dir, args.overrides)
        stamp, minutes = None, (time.time() - t0) / 60
    report = (sweep_dir / "report.md").read_text()
    cfg = OmegaConf.load(job_dirs(sweep_dir)[0] / ".hydra" / "config.yaml")  # as it ran, overrides included
    limit = f"{cfg.train.max_seconds} s" if cfg.train.max_seconds else f"{cfg.train.steps} steps"
    cap = f", each cut at {cfg.eval.max_steps} steps" if cfg.eval.get("max_steps") else ""
    budget = (
        f"{limit} of training per policy at batch {cfg.train.batch_size} (the steps each "
        f"reached are in the table), evaluated on seeds {cfg.eval.seed_base}+ ({cfg.eval.n_episodes} "
        f"episodes per task and split{cap}); the whole sweep took {minutes:.0f} min."
    )
    command = "python -m benchmarks.bench_compare" + (" " + " ".join(argv) if argv else "")
    return write_section(
        args.preset,
        TITLES[args.preset],
        command,
        f"{budget}\n\n{section_body(report, sweep_dir)}",
        {"policies": headline(sweep_dir), "budget": budget},
        dry_run=args.no_write,
        stamp=stamp,
    )


if __name__ == "__main__":
    main()
