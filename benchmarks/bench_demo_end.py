"""Where a demo ends: PickCube VLAs trained on demos that end on success against the same demos going on.

    D=outputs/datasets
    vla record env=pick_cube 'env.kwargs.cameras=[front,wrist]' env.kwargs.control_hz=30 seed=1000 \\
        num_episodes=600 num_workers=2 after_success_s=0.3 root=$D/compare30_600_after/pick_cube
    vla train -m experiment=compare_600 "hydra.sweeper.params.policy=vla_multitask" env=pick_cube \\
        'dataset.weights=[1]' eval.n_episodes=50 hydra/launcher=joblib hydra.launcher.n_jobs=2 \\
        "dataset.roots=[$D/compare30_600/pick_cube],[$D/compare30_600_after/pick_cube]" \\
        hydra.sweep.dir=outputs/compare/pick_after_ab
    vla train -m ... seed=1 hydra.sweep.dir=outputs/compare/pick_after_ab_seed1    # the same, training seed 1
    python -m benchmarks.bench_demo_end outputs/compare/pick_after_ab outputs/compare/pick_after_ab_seed1

A PickCube episode ends on the step the named cube's centre passes 7 cm, mid-lift (the expert lifts on to
~10 cm); a policy trained on such demos never sees the lift finish. This script takes sweeps of runs
that differ in their dataset only (the same seeds and phrasings, recorded with and without
`after_success_s`), takes each run's success on the held-out seeds of its sweep from the evaluation
that ended its training (when it ran `--episodes` per split; else evaluates the last checkpoint as
bench_compare_wide does, reports in <run>/eval_wide_<N>/), classifies its failures on validation seeds
(scripts/experiments/failures.py: where the fingers went, and how a held cube left them) and publishes
one row per run; the docs' figures pool each arm's training seeds.
"""

import argparse
import sys
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

from omegaconf import OmegaConf

from benchmarks.bench_compare_wide import (
    WideRun,
    diagnose,
    finished_runs,
    last_eval_counts,
    pooled,
    rate_text,
)
from benchmarks.common import command_line, markdown_table, write_section
from benchmarks.figures_compare import lifts_text
from vla.data import meta

TASK = "PickCube"


def after_success_steps(job_dir: Path) -> int:
    """The steps past success the run's one dataset goes on (its sidecar; 0 = ends on success)."""
    roots = OmegaConf.load(job_dir / ".hydra" / "config.yaml").dataset.roots
    if len(roots) != 1:
        raise SystemExit(f"{job_dir}: trained on {len(roots)} datasets; this compares one-dataset runs")
    found = {int(row.get("after_success_steps", 0)) for row in meta.read_sidecar(Path(roots[0]))}
    if len(found) != 1:  # appended to with another setting: neither arm
        raise SystemExit(
            f"{roots[0]}: its episodes go on {sorted(found)} steps past success; record one setting"
        )
    return found.pop()


def measure(run: WideRun, episodes: int, val_episodes: int, val_seed_base: int) -> tuple:
    counts = last_eval_counts(run.job_dir, run.run_dir, int(run.steps or 0), episodes)
    return counts, diagnose(run.job_dir, run.run_dir, "pick_cube", val_episodes, val_seed_base)


def arm(steps_after: int) -> str:
    return "goes_on" if steps_after else "ends"


def table(runs: list[WideRun], after: list[int], val: list[dict], fps: int) -> str:
    from scripts.experiments.failures import HOLD_OUTCOMES, OUTCOMES  # imports torch, MuJoCo

    outcomes, holds_by = OUTCOMES["pick_cube"], HOLD_OUTCOMES
    header = [
        "demos",
        "training seed",
        "steps",
        f"{TASK}, train phrasings",
        f"{TASK}, held-out phrasings",
        "pooled",
        f"validation: {' / '.join(outcomes)}",
        f"held, dropped: {' / '.join(holds_by)}",
        "held, dropped: lifted (cm)",
        "trained at",
    ]
    rows = []
    for run, steps_after, v in zip(runs, after, val, strict=True):
        left = Counter(h["left"] for h in v["holds"])
        rows.append([
            f"go on {steps_after} steps ({steps_after / fps:.1f} s)" if steps_after else "end on success",
            run.seed,
            run.steps,
            rate_text(*run.counts[f"{TASK}/train"]),
            rate_text(*run.counts[f"{TASK}/heldout_phrasing"]),
            rate_text(*pooled(run.counts, TASK)),
            " / ".join(str(v["outcomes"].get(k, 0)) for k in outcomes),
            " / ".join(str(left[k]) for k in holds_by),
            lifts_text(v),
            f"`{run.commit}`",
        ])  # fmt: skip
    return markdown_table(header, rows)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "sweeps", nargs="+", type=Path, help="finished sweeps whose runs differ in their dataset"
    )
    parser.add_argument("--preset", default="compare_600", help="the experiment the sweep ran")
    parser.add_argument("--episodes", type=int, default=50, help="held-out episodes per split (default 50)")
    parser.add_argument("--val-episodes", type=int, default=20, help="validation episodes to classify")
    parser.add_argument("--val-seed-base", type=int, default=200000, help="first validation seed")
    parser.add_argument("--no-write", action="store_true", help="print only, leave BENCHMARKS.md alone")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    runs = finished_runs(args.sweeps, args.preset)
    after = [after_success_steps(r.job_dir) for r in runs]
    with ProcessPoolExecutor(2, mp_context=get_context("spawn")) as pool:
        futures = [
            pool.submit(measure, r, args.episodes, args.val_episodes, args.val_seed_base) for r in runs
        ]
        results = [f.result() for f in futures]
    for run, (counts, _) in zip(runs, results, strict=True):
        run.counts = counts
    val = [v for _, v in results]
    fps = int(OmegaConf.load(runs[0].job_dir / ".hydra" / "config.yaml").env.kwargs.control_hz)
    last_val = args.val_seed_base + args.val_episodes - 1
    sweeps = ", ".join(f"`{s.name}`" for s in args.sweeps)
    body = (
        f"The runs of {sweeps}: one VLA recipe and budget, trained on {TASK} demos of the same "
        "seeds and phrasings that end on the step of success, or go on past it "
        f"(`vla record ... after_success_s`). Held-out: {args.episodes} episodes per split, seeds "
        f"from the sweep's seed_base, with 95% Wilson intervals. Validation: seeds {args.val_seed_base}.."
        f"{last_val} (train split) classified by scripts/experiments/failures.py; the lifts are the "
        "highest the held cube's bottom rose above the table in each failed held episode (success "
        "needs 5.5 cm).\n\n"
        f"{table(runs, after, val, fps)}\n"
    )
    figures = {
        "episodes": args.episodes,
        "runs": [
            {"arm": arm(a), "after_success_steps": a, "seed": r.seed, "steps": r.steps, "commit": r.commit,
             "counts": r.counts, "validation": v}
            for r, a, v in zip(runs, after, val, strict=True)
        ],
    }  # fmt: skip
    title = f"Where a {TASK} demo ends: on success, or going on past it"
    return write_section(
        "demo_end", title, command_line("bench_demo_end", argv), body, figures, args.no_write
    )


if __name__ == "__main__":
    main()
