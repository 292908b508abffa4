"""Co-training with scene questions on the six-task policy: action-only against co-trained runs.

    python -m benchmarks.bench_cotrain --preset compare_600 --episodes 50 \\
        --qa-dataset outputs/datasets/qa_eval30/touch_cube \\
        --qa-dataset outputs/datasets/qa_eval30/place_in_bowl \\
        outputs/compare/compare_600_<time> outputs/compare/compare_600_vla_seeds \\
        outputs/compare/compare_600_vla_cotrain outputs/compare/compare_600_vla_cotrain_seed2

The sweeps are runs of one comparison preset (benchmarks/bench_compare.py): the same data, the same
wall-clock budget, the same held-out seeds. Of their finished runs, those of the preset's own policy
(its sweep report's `baseline_of`) are taken and put in arms by `train.cotrain.qa_fraction` (0: action
only). Each run's last checkpoint is evaluated on `--episodes` episodes per task and split (as
benchmarks/bench_compare_wide.py does, sharing its cached `<run>/eval_wide_<N>/` reports) and asked the
same `--qa-rows` scene questions of each `--qa-dataset` (a seeded draw, the same rows for every run;
cached in `<run>/qa_<dataset>_<rows>.json`). An action-only run is asked too: what it answers without
ever having been trained to write text is the floor co-training starts from.
"""

import json
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

from omegaconf import OmegaConf

from benchmarks.bench_compare_wide import (
    WideRun,
    evaluate_run,
    finished_runs,
    ours_of,
    pooled,
    rate_text,
    splits_of,
    sweeps_parser,
    tasks_of,
)
from benchmarks.common import command_line, markdown_table, write_section
from benchmarks.figures_compare import pool_pairs
from vla.apps import run_status
from vla.apps.eval_report import AVERAGE, QA_ALL
from vla.data.qa_format import qa_path


@dataclass
class CotrainRun:
    """A finished run of ours, its arm (qa_fraction), and its evaluations once it has them."""

    run: WideRun
    qa_fraction: float
    qa: dict[str, list[int]] = field(default_factory=dict)  # "split/type" -> [correct, questions]

    @property
    def arm(self) -> str:
        return arm_name(self.qa_fraction)


def arm_name(qa_fraction: float) -> str:
    return "action-only" if qa_fraction == 0 else f"co-trained, qa_fraction {qa_fraction:g}"


def qa_fraction_of(job_dir: Path) -> float:
    """train.cotrain.qa_fraction as the run was configured; 0 for a run without the group."""
    cfg = OmegaConf.load(job_dir / ".hydra" / "config.yaml")
    return float(OmegaConf.select(cfg, "train.cotrain.qa_fraction", default=0.0) or 0.0)


def evaluate_qa(job_dir: Path, run_dir: Path, qa_root: Path, rows: int) -> list[dict]:
    """The run's last checkpoint asked `rows` questions of qa_root (or the answers a previous call left)."""
    out = run_dir / f"qa_{qa_root.name}_{rows}.json"
    section = run_status.read_json(out)
    if section is None:
        from vla import runtime  # imports torch: only in the worker processes
        from vla.apps.eval import load_policy
        from vla.apps.eval_qa import qa_accuracy

        runtime.configure({"torch_threads": 1}, quiet=True)
        seed_base = int(OmegaConf.load(job_dir / ".hydra" / "config.yaml").eval.seed_base)
        policy, _ = load_policy(str(run_dir / "checkpoints" / "last"), None)
        eval_cfg = {"qa_dataset": str(qa_root), "qa_max_rows": rows, "seed_base": seed_base}
        section = qa_accuracy(policy, eval_cfg)
        out.write_text(json.dumps(section, indent=1) + "\n")
    return section["rows"]


def qa_counts(sections: list[list[dict]]) -> dict[str, list[int]]:
    """Accuracy rows of several QA evaluations (eval_qa.summarize_qa) summed per "split/type"."""
    return sum_counts(
        [
            {f"{r['split']}/{r['type']}": [int(r["correct"]), int(r["questions"])] for r in rows}
            for rows in sections
        ]
    )


def sum_counts(many: list[dict[str, list[int]]]) -> dict[str, list[int]]:
    """Several runs' counts ("key" -> [hits, total]) pooled key by key."""
    keys = dict.fromkeys(key for counts in many for key in counts)
    return {key: list(pool_pairs([c[key] for c in many if key in c])) for key in keys}


def arms(runs: list[CotrainRun]) -> dict[str, list[CotrainRun]]:
    """Runs per arm, action-only first, then by qa_fraction."""
    out: dict[str, list[CotrainRun]] = {}
    for r in sorted(runs, key=lambda r: (r.qa_fraction, r.run.seed)):
        out.setdefault(r.arm, []).append(r)
    return out


def _rate_or(pair: list[int] | None, empty: str) -> str:
    return rate_text(*pair) if pair and pair[1] else empty


def run_table(runs: list[CotrainRun]) -> str:
    """One row per run: per task the splits pooled, the averages, QA over all types, the commit."""
    tasks, splits = tasks_of(runs[0].run.counts), splits_of(runs[0].run.counts)
    header = ["arm", "training seed", "steps", *tasks, *(f"average, {s}" for s in splits), "pooled",
              "QA, train phrasings", "QA, held-out phrasings", "trained at"]  # fmt: skip
    rows = [
        [
            r.arm,
            r.run.seed,
            r.run.steps,
            *("{}/{}".format(*pooled(r.run.counts, t)) for t in tasks),
            *(rate_text(*r.run.counts[f"{AVERAGE}/{s}"]) for s in splits),
            rate_text(*pooled(r.run.counts, AVERAGE)),
            _rate_or(r.qa.get(f"train/{QA_ALL}"), "not asked"),
            _rate_or(r.qa.get(f"heldout/{QA_ALL}"), "not asked"),
            f"`{r.run.commit}`",
        ]
        for members in arms(runs).values()
        for r in members
    ]
    return markdown_table(header, rows)


def arm_table(runs: list[CotrainRun]) -> str:
    """One row per arm, its training seeds pooled: per task and averaged, with 95% Wilson intervals."""
    tasks, splits = tasks_of(runs[0].run.counts), splits_of(runs[0].run.counts)
    header = ["arm", "seeds", *tasks, *(f"average, {s}" for s in splits), "pooled"]
    rows = []
    for arm, members in arms(runs).items():
        counts = sum_counts([r.run.counts for r in members])
        rows.append([
            arm, ", ".join(r.run.seed for r in members),
            *(rate_text(*pooled(counts, t)) for t in tasks),
            *(rate_text(*counts[f"{AVERAGE}/{s}"]) for s in splits),
            rate_text(*pooled(counts, AVERAGE)),
        ])  # fmt: skip
    return markdown_table(header, rows)


def qa_table(runs: list[CotrainRun]) -> str:
    """Scene-question accuracy per type, one column per arm and phrasing split, the seeds pooled."""
    per_arm = {arm: sum_counts([r.qa for r in members]) for arm, members in arms(runs).items()}
    splits = ("train", "heldout")
    kinds = [*sorted({k.split("/")[1] for qa in per_arm.values() for k in qa} - {QA_ALL}), QA_ALL]
    header = ["type", *(f"{arm}, {s} phrasings" for arm in per_arm for s in splits)]
    rows = [
        [kind, *(_rate_or(qa.get(f"{s}/{kind}"), "-") for qa in per_arm.values() for s in splits)]
        for kind in kinds
    ]  # fmt: skip
    return markdown_table(header, rows)


def collect(sweeps: list[Path], preset: str) -> tuple[str, list[CotrainRun]]:
    """(ours, its finished runs in the sweeps with their qa_fraction)."""
    ours = ours_of(sweeps[0])
    runs = [
        CotrainRun(r, qa_fraction_of(r.job_dir)) for r in finished_runs(sweeps, preset) if r.policy == ours
    ]
    if not runs:
        raise SystemExit(f"no finished run of {ours} in {[str(s) for s in sweeps]}")
    return ours, runs


def evaluate_all(runs: list[CotrainRun], episodes: int, qa_roots: list[Path], rows: int, jobs: int) -> None:
    with ProcessPoolExecutor(jobs, mp_context=get_context("spawn")) as pool:
        success = [pool.submit(evaluate_run, r.run.job_dir, r.run.run_dir, episodes) for r in runs]
        qa = [
            [pool.submit(evaluate_qa, r.run.job_dir, r.run.run_dir, q, rows) for q in qa_roots] for r in runs
        ]
        for r, s, q in zip(runs, success, qa, strict=True):
            r.run.counts, r.qa = s.result(), qa_counts([f.result() for f in q])
            print(f"evaluated {r.arm}, seed {r.run.seed}: {r.run.run_dir}", flush=True)


def main(argv: list[str] | None = None) -> dict:
    parser = sweeps_parser(__doc__)
    parser.add_argument(
        "--qa-dataset", type=Path, action="append", default=[], metavar="PATH",
        help="a recorded dataset with scene QA (`vla dataset qa PATH`); repeat for several",
    )  # fmt: skip
    parser.add_argument(
        "--qa-rows", type=int, default=200, help="questions asked per QA dataset (default 200)"
    )
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    for root in args.qa_dataset:  # before any evaluation: a missing file would surface only at its end
        if not qa_path(root).exists():
            missing = f"--qa-dataset {root}: no scene QA file ({qa_path(root)})"
            raise SystemExit(f"{missing}: generate it with `vla dataset qa {root}`")
    ours, runs = collect(args.sweeps, args.preset)
    evaluate_all(runs, args.episodes, args.qa_dataset, args.qa_rows, args.jobs)
    qa_names = ", ".join(f"`{q.name}`" for q in args.qa_dataset) or "none"
    body = (
        f"{ours}'s finished runs in {', '.join(f'`{s.name}`' for s in args.sweeps)}, in arms by "
        f"`train.cotrain.qa_fraction` (same data, same wall-clock budget, steps as reached). Each run's last "
        f"checkpoint on {args.episodes} episodes per task and split (the sweep's seeds, env and splits) and "
        f"{args.qa_rows} scene questions from each of {qa_names} (exact match after strip/lower). Per run, "
        "per task: successes with the splits pooled.\n\n"
        f"{run_table(runs)}\n\nThe training seeds of each arm pooled (95% Wilson intervals):\n\n"
        f"{arm_table(runs)}\n\nScene questions per type, the seeds and QA datasets pooled:\n\n"
        f"{qa_table(runs)}\n"
    )
    figures = {
        "episodes": args.episodes,
        "ours": ours,
        "runs": [
            {
                "arm": r.arm,
                "qa_fraction": r.qa_fraction,
                "seed": r.run.seed,
                "steps": r.run.steps,
                "commit": r.run.commit,
                "counts": r.run.counts,
                "qa": r.qa,
            }
            for r in runs
        ],
    }
    name = f"cotrain_{args.preset.removeprefix('compare_')}"
    title = f"Co-training with scene questions on {args.preset}'s six-task policy"
    return write_section(name, title, command_line("bench_cotrain", argv), body, figures, args.no_write)


if __name__ == "__main__":
    main()
