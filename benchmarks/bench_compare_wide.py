"""A comparison's checkpoints evaluated again on more held-out episodes, and the per-task target checked.

    python -m benchmarks.bench_compare_wide --preset compare_600 --episodes 50 \\
        outputs/compare/compare_600_<time> outputs/compare/compare_600_vla_seeds

A comparison sweep (benchmarks/bench_compare.py) evaluates each policy on 10 episodes per task and split:
3/10 against 5/10 is inside either interval. This script takes the finished runs of one or more sweeps
of the preset (the sweep itself, and e.g. more training seeds of one policy), evaluates each run's last
checkpoint on `--episodes` episodes per task and split, on the seeds, env and splits its sweep used
(seed_base + 0 .. N-1: the sweep's own 10 episodes are the first 10), two runs at a time, one thread
each, and publishes one row per run (policy, training seed) with the issue's per-task target checked
for every run of the sweep's own policy (`baseline_of`): on each task, pooled over the splits, at
least SmolVLA's success and more than ACT's and Diffusion Policy's.

Each run's report goes to <run>/eval_wide_<N>/ (report.md, report.json, success.png) and is reused
when it is there, so an interrupted evaluation picks up where it stopped.
"""

import argparse
import sys
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from benchmarks.common import command_line, markdown_table, write_section
from benchmarks.figures_compare import PEERS, pool_pairs, target_text, wide_cell
from vla.apps import run_status
from vla.apps.eval_report import AVERAGE, wilson_interval
from vla.apps.sweep_files import sweep_overrides
from vla.apps.sweep_runs import job_dirs, read_run
from vla.checkpoint import step_dir_name


@dataclass
class WideRun:
    """One finished run of a sweep, and its wide evaluation once it has one."""

    job_dir: Path
    run_dir: Path
    policy: str
    seed: str
    steps: int | None
    commit: str
    counts: dict[str, list[int]] | None = None  # "task/split" -> [successes, episodes]

    @property
    def label(self) -> str:
        return f"{self.policy} (seed {self.seed})"


def finished_runs(sweeps: list[Path], preset: str) -> list[WideRun]:
    """The done runs of the sweeps, each checked to be a sweep of the preset."""
    runs = []
    for sweep in sweeps:
        if f"experiment={preset}" not in (sweep_overrides(sweep) or []):
            raise SystemExit(f"{sweep}: not a sweep of experiment={preset} (pass the --preset it ran)")
        for job in job_dirs(sweep):
            run, status = read_run(job), run_status.read_status(job) or {}
            if run.status != "done":
                print(f"skipped {job}: {run.status} {run.error}".rstrip(), flush=True)
                continue
            run_dir = Path(status.get("run_dir") or job)
            runs.append(WideRun(job, run_dir, run.policy, run.seed, run.step, str(status.get("commit"))))
    if not runs:
        raise SystemExit(f"no finished run in {[str(s) for s in sweeps]}")
    return runs


def ours_of(sweep: Path) -> str:
    """The policy the sweep's report compares the others with (its sweep_report callback's baseline_of)."""
    cfg = OmegaConf.load(sweep / "multirun.yaml")
    return str(OmegaConf.select(cfg, "hydra.callbacks.sweep_report.baseline_of"))


def evaluate_run(job_dir: Path, run_dir: Path, episodes: int) -> dict[str, list[int]]:
    """Evaluates the run's last checkpoint (or reads the report a previous call left) -> counts."""
    out = run_dir / f"eval_wide_{episodes}"
    report = run_status.read_json(out / "report.json")
    if report is None:
        from vla import runtime  # imports torch, MuJoCo: only in the worker processes
        from vla.apps.eval import evaluate, load_policy

        runtime.configure({"torch_threads": 1}, quiet=True)
        cfg = OmegaConf.load(job_dir / ".hydra" / "config.yaml")  # as the sweep ran it
        policy, label = load_policy(str(run_dir / "checkpoints" / "last"), None)
        eval_cfg = {**OmegaConf.to_container(cfg.eval, resolve=True), "n_episodes": episodes, "n_videos": 1}
        env_cfg = OmegaConf.to_container(cfg.env, resolve=True)
        report = evaluate(policy, label, env_cfg, eval_cfg, out)
    return with_average(
        {f"{r['task']}/{r['split']}": [r["successes"], r["episodes"]] for r in report["rows"]}
    )


def last_eval_counts(job_dir: Path, run_dir: Path, steps: int, episodes: int) -> dict[str, list[int]]:
    """ "task/split" -> [successes, episodes] of the last checkpoint on its sweep's evaluation seeds: the
    evaluation that ended training when it ran `episodes` per split (the same seeds), else a new one."""
    report = run_status.read_json(run_dir / "eval" / step_dir_name(steps) / "report.json") or {}
    rows = [r for r in report.get("rows", []) if r["task"] != AVERAGE]  # an average row sums the tasks'
    if rows and all(r["episodes"] == episodes for r in rows):
        return with_average({f"{r['task']}/{r['split']}": [r["successes"], r["episodes"]] for r in rows})
    return evaluate_run(job_dir, run_dir, episodes)


def diagnose(job_dir: Path, run_dir: Path, env: str, episodes: int, seed_base: int) -> dict:
    """scripts/experiments/failures.py's outcomes (and the holds of failed held episodes) for the run's
    last checkpoint on `env` (a failures.py name), one thread, at the control rate, layout and image
    size the run was trained with (its job's config), training phrasings."""
    import gymnasium as gym

    from scripts.experiments.failures import ENV_IDS, run_episode, takes_layout
    from vla import runtime
    from vla.apps.eval import load_policy

    runtime.configure({"torch_threads": 1}, quiet=True)
    kwargs = OmegaConf.load(job_dir / ".hydra" / "config.yaml").env.kwargs
    policy, _ = load_policy(str(run_dir / "checkpoints" / "last"), None)
    layout = {"layout": kwargs.layout} if "layout" in kwargs and takes_layout(ENV_IDS[env]) else {}
    sim = gym.make(
        ENV_IDS[env], split="train", control_hz=int(kwargs.control_hz), **layout,
        cameras=list(policy.cfg.cameras), image_size=int(kwargs.image_size),
    )  # fmt: skip
    runs = [run_episode(sim, policy, seed_base + i) for i in range(episodes)]
    sim.close()
    return {"outcomes": dict(Counter(o for o, _ in runs)), "holds": [h for _, h in runs if h]}


def with_average(counts: dict[str, list[int]]) -> dict[str, list[int]]:
    """Adds the average row per split that an evaluation of one task has none of (its task's own)."""
    out = dict(counts)
    for split in splits_of(counts):
        out.setdefault(
            f"{AVERAGE}/{split}", list(pool_pairs([counts[f"{t}/{split}"] for t in tasks_of(counts)]))
        )
    return out


def splits_of(counts: dict[str, list[int]]) -> list[str]:
    return list(dict.fromkeys(key.split("/")[1] for key in counts))


def tasks_of(counts: dict[str, list[int]]) -> list[str]:
    return [t for t in dict.fromkeys(key.split("/")[0] for key in counts) if t != AVERAGE]


def pooled(counts: dict[str, list[int]], task: str) -> tuple[int, int]:
    """(successes, episodes) of a task over its splits together."""
    return pool_pairs([counts[f"{task}/{s}"] for s in splits_of(counts)])


def rate_text(wins: int, n: int) -> str:
    low, high = wilson_interval(wins, n)
    return f"{wins / n:.0%} ({wins}/{n}) [{low:.2f}, {high:.2f}]"


def target_check(runs: list[WideRun], ours: str) -> list[dict[str, Any]]:
    """Per run of ours: the tasks where the target holds against every peer in the runs (a peer's runs
    pooled), and which peers those were (a sweep of some of the policies checks only against those)."""
    peers = {p: theirs for p in PEERS if (theirs := [r for r in runs if r.policy == p])}
    checks = []
    for run in (r for r in runs if r.policy == ours):
        held, tasks = [], tasks_of(run.counts)
        for task in tasks:
            mine = pooled(run.counts, task)
            ok = all(
                _beats(mine, pool_pairs([pooled(r.counts, task) for r in peer_runs]), PEERS[peer])
                for peer, peer_runs in peers.items()
            )
            held += [task] if ok else []
        checks.append({"seed": run.seed, "tasks_met": held, "of": len(tasks), "peers": list(peers)})
    return checks


def _beats(mine: tuple[int, int], theirs: tuple[int, int], how: str) -> bool:
    a, b = mine[0] / mine[1], theirs[0] / theirs[1]
    return a >= b if how == ">=" else a > b


def table(runs: list[WideRun]) -> str:
    """One row per run: per task its cell, the average per split, both pooled, the commit it trained at."""
    tasks, splits = tasks_of(runs[0].counts), splits_of(runs[0].counts)
    header = [
        "policy",
        "training seed",
        "steps",
        *tasks,
        *(f"average, {s}" for s in splits),
        "pooled",
        "trained at",
    ]
    rows = [
        [
            r.policy,
            r.seed,
            r.steps,
            *(wide_cell(r.counts, t) for t in tasks),
            *(rate_text(*r.counts[f"{AVERAGE}/{s}"]) for s in splits),
            rate_text(*pooled(r.counts, AVERAGE)),
            f"`{r.commit}`",
        ]
        for r in runs
    ]
    return markdown_table(header, rows)


def sweeps_parser(doc: str) -> argparse.ArgumentParser:
    """The arguments of a script that evaluates finished sweeps' checkpoints (this one, bench_cotrain)."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sweeps", nargs="+", type=Path, help="finished sweep dirs of the preset")
    parser.add_argument("--preset", default="compare_600", help="the experiment the sweeps ran")
    parser.add_argument("--episodes", type=int, default=50, help="episodes per task and split (default 50)")
    parser.add_argument("--jobs", type=int, default=2, help="evaluations at a time, one thread each")
    parser.add_argument("--no-write", action="store_true", help="print only, leave BENCHMARKS.md alone")
    return parser


def main(argv: list[str] | None = None) -> dict:
    args = sweeps_parser(__doc__).parse_args(sys.argv[1:] if argv is None else argv)
    runs = finished_runs(args.sweeps, args.preset)
    with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(evaluate_run, r.job_dir, r.run_dir, args.episodes) for r in runs]
        for run, future in zip(runs, futures, strict=True):
            run.counts = future.result()
            print(f"evaluated {run.label}: {run.run_dir / f'eval_wide_{args.episodes}'}", flush=True)
    ours = ours_of(args.sweeps[0])
    checks = target_check(runs, ours)
    met = "; ".join(f"seed {c['seed']}: {target_text(c)}" for c in checks)
    body = (
        f"The finished runs of {', '.join(f'`{s.name}`' for s in args.sweeps)}, each run's last checkpoint "
        f"evaluated on {args.episodes} episodes per task and split (the seeds, env and splits of its sweep; "
        f"the sweep's own episodes are the first of them), {args.jobs} runs at a time, one thread each. "
        "Per task: successes per split (training phrasings, then held-out phrasings); averages and all "
        "splits pooled with 95% Wilson intervals.\n\n"
        f"{table(runs)}\n\n"
        f"Per-task target for {ours} (on each task, the splits pooled, >= SmolVLA and > ACT and > "
        f"Diffusion Policy): met on {met}.\n"
    )
    figures = {
        "episodes": args.episodes,
        "ours": ours,
        "runs": [
            {"policy": r.policy, "seed": r.seed, "steps": r.steps, "commit": r.commit, "counts": r.counts}
            for r in runs
        ],
        "target": checks,
    }
    name = f"{args.preset}_wide"
    title = f"{args.preset}'s checkpoints on {args.episodes} episodes per task and split"
    return write_section(name, title, command_line("bench_compare_wide", argv), body, figures, args.no_write)


if __name__ == "__main__":
    main()
