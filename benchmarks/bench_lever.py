"""One training lever for the six-task VLA at the comparison's budget: new runs of the preset that differ
from its published runs in one config key, checked against the same published baselines.

    vla train -m experiment=compare_600_4500 "hydra.sweeper.params.policy=vla_multitask" seed=1,2 \\
        train.episode_start_fraction=0.8 eval.n_episodes=50 hydra/launcher=joblib hydra.launcher.n_jobs=2 \\
        hydra.sweep.dir=outputs/compare/start08_4500
    python -m benchmarks.bench_lever --preset compare_600_4500 --key train.episode_start_fraction \\
        outputs/compare/start08_4500

The published runs are the preset's BENCHMARKS.md section `<preset>_wide` (bench_compare_wide: the same
data, budget, held-out seeds and episodes per task and split; its VLA runs have the key at the preset's
value). Per new run this script takes:

- held-out success per task and split: the evaluation that ended training when it ran `--episodes` per
  split on the published runs' seeds, else a new one (as bench_compare_wide);
- the per-task target against the published baselines (>= SmolVLA, > ACT, > Diffusion Policy, splits
  pooled);
- on validation seeds (train split), what the fingers went for, by scripts/experiments/failures.py, on
  TouchCube and PickCube: "wrong cube" is a colour word the policy has not bound to its cube;
- the probe at TouchCube's episode starts (vla/apps/probe.py): the loss as is and with the instruction
  swapped across the batch. On a first frame only the words say which cube, so a policy that reads them
  loses much more when they are swapped.
"""

import argparse
import json
import sys
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from benchmarks.bench_compare_wide import (
    WideRun,
    diagnose,
    finished_runs,
    last_eval_counts,
    pooled,
    rate_text,
    splits_of,
    target_check,
    tasks_of,
)
from benchmarks.common import command_line, markdown_table, write_section
from benchmarks.figures_compare import LEVER_POLICY as OURS
from benchmarks.figures_compare import PEERS, probe_text, target_text, wide_cell
from vla.apps.eval_report import AVERAGE

VAL_ENVS = ("touch_cube", "pick_cube")  # failures.py names: the tasks where the words pick one of three cubes
PROBE_TASK = "touch_cube"  # the dataset (folder name) whose episode starts the probe reads


def published(preset: str) -> dict:
    """The figures of the preset's published wide evaluation (benchmarks/results/<preset>_wide.json)."""
    from benchmarks import summary

    path = summary.RESULTS_DIR / f"{preset}_wide.json"
    if not path.exists():
        raise SystemExit(f"{path}: no published runs of {preset} (run benchmarks.bench_compare_wide first)")
    return json.loads(path.read_text())["figures"]


def config_value(cfg: object, key: str) -> str:
    value = OmegaConf.select(cfg, key, default=None)
    if value is None:
        raise SystemExit(f"--key {key}: not a key of the run's config (e.g. train.episode_start_fraction)")
    return str(value)


def preset_eval(preset: str) -> tuple[DictConfig, dict]:
    """(the config the preset gives ours, its eval group) composed as `vla train` would."""
    from vla.apps.dry_run import compose_train

    cfg = compose_train([f"experiment={preset}", f"policy={OURS}"])
    return cfg, OmegaConf.to_container(cfg.eval, resolve=True)


def check_same_evaluation(runs: list[WideRun], preset_eval_cfg: dict) -> None:
    """Refuses a run whose sweep evaluated on other seeds or splits than the published runs did."""
    for run in runs:
        ran = OmegaConf.load(run.job_dir / ".hydra" / "config.yaml").eval
        for field in ("seed_base", "splits"):
            if OmegaConf.to_container(ran)[field] != preset_eval_cfg[field]:
                raise SystemExit(
                    f"{run.job_dir}: eval.{field}={ran[field]}, the published runs used "
                    f"{preset_eval_cfg[field]}; train again without overriding it"
                )


def probe_starts(job_dir: Path, run_dir: Path, samples: int) -> dict[str, float]:
    """The probe's losses at episode starts of the run's TouchCube dataset (one thread)."""
    from vla import runtime
    from vla.apps.probe import probe

    runtime.configure({"torch_threads": 1}, quiet=True)
    dataset = OmegaConf.load(job_dir / ".hydra" / "config.yaml").dataset
    roots = dataset.roots or [dataset.root]
    root = next((r for r in roots if Path(r).name == PROBE_TASK), None)
    if root is None:
        raise SystemExit(f"{job_dir}: no {PROBE_TASK} dataset among {list(roots)} to probe")
    return probe(str(run_dir / "checkpoints" / "last"), root, samples)["episode starts"]


def validation(run: WideRun, env: str, episodes: int, seed_base: int) -> dict:
    """failures.py's outcomes on `env`, every one of them in its order (0 where none), and the holds."""
    from scripts.experiments.failures import OUTCOMES  # imports torch, MuJoCo: only in the workers

    found = diagnose(run.job_dir, run.run_dir, env, episodes, seed_base)
    return {**found, "outcomes": {o: found["outcomes"].get(o, 0) for o in OUTCOMES[env]}}


def measure(run: WideRun, episodes: int, val_episodes: int, val_seed_base: int, samples: int) -> dict:
    return {
        "counts": last_eval_counts(run.job_dir, run.run_dir, int(run.steps or 0), episodes),
        "validation": {env: validation(run, env, val_episodes, val_seed_base) for env in VAL_ENVS},
        "probe": probe_starts(run.job_dir, run.run_dir, samples),
    }


def peer_runs(figures: dict) -> list[WideRun]:
    """The published baselines' runs, for target_check."""
    return [
        WideRun(Path(), Path(), r["policy"], r["seed"], r["steps"], r["commit"], r["counts"])
        for r in figures["runs"]
        if r["policy"] in PEERS
    ]


def table(key: str, rows: list[dict]) -> str:
    from scripts.experiments.failures import OUTCOMES  # imports torch, MuJoCo

    counts = rows[0]["counts"]
    tasks, splits = tasks_of(counts), splits_of(counts)
    header = [
        key,
        "training seed",
        "steps",
        *tasks,
        *(f"average, {s}" for s in splits),
        "pooled",
        "per-task target",
        *(f"validation {env}: {' / '.join(OUTCOMES[env])}" for env in VAL_ENVS),
        "probe at TouchCube starts: as is / words swapped",
        "trained at",
    ]
    body = [
        [
            r["value"],
            r["seed"],
            r["steps"],
            *(wide_cell(r["counts"], t) for t in tasks),
            *(rate_text(*r["counts"][f"{AVERAGE}/{s}"]) for s in splits),
            rate_text(*pooled(r["counts"], AVERAGE)),
            target_text(r["target"]),
            *(" / ".join(map(str, r["validation"][env]["outcomes"].values())) for env in VAL_ENVS),
            probe_text(r["probe"]),
            f"`{r['commit']}`",
        ]
        for r in rows
    ]
    return markdown_table(header, body)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("sweeps", nargs="+", type=Path, help="finished sweeps of the preset, lever set")
    parser.add_argument("--preset", default="compare_600_4500", help="the experiment the sweeps ran")
    parser.add_argument(
        "--key", required=True, help="the config key the lever sets, e.g. train.episode_start_fraction"
    )
    parser.add_argument("--val-episodes", type=int, default=20, help="validation episodes per task")
    parser.add_argument("--val-seed-base", type=int, default=200000, help="first validation seed")
    parser.add_argument("--samples", type=int, default=128, help="episode starts the probe reads")
    parser.add_argument("--no-write", action="store_true", help="print only, leave BENCHMARKS.md alone")
    return parser.parse_args(sys.argv[1:] if argv is None else argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    reference = published(args.preset)
    preset_cfg, eval_cfg = preset_eval(args.preset)
    runs = [r for r in finished_runs(args.sweeps, args.preset) if r.policy == OURS]
    if not runs:
        raise SystemExit(f"no finished {OURS} run in {[str(s) for s in args.sweeps]}")
    check_same_evaluation(runs, eval_cfg)
    episodes = reference["episodes"]
    with ProcessPoolExecutor(2, mp_context=get_context("spawn")) as pool:
        futures = [
            pool.submit(measure, r, episodes, args.val_episodes, args.val_seed_base, args.samples)
            for r in runs
        ]
        measured = [f.result() for f in futures]
    for run, m in zip(runs, measured, strict=True):
        run.counts = m["counts"]
    checks = target_check(runs + peer_runs(reference), OURS)
    rows = [
        {
            "value": config_value(OmegaConf.load(r.job_dir / ".hydra" / "config.yaml"), args.key),
            "policy": OURS, "seed": r.seed, "steps": r.steps, "commit": r.commit, "target": check, **m,
        }
        for r, m, check in zip(runs, measured, checks, strict=True)
    ]  # fmt: skip
    preset_value = config_value(preset_cfg, args.key)
    last_val = args.val_seed_base + args.val_episodes - 1
    body = (
        f"The {OURS} runs of {', '.join(f'`{s.name}`' for s in args.sweeps)}: experiment={args.preset} "
        f"with `{args.key}` set as in the first column (the preset's and its published runs': "
        f"{preset_value}). Held-out: {reference['episodes']} episodes per task and split on the published "
        "runs' seeds (BENCHMARKS.md section "
        f"`{args.preset}_wide`), 95% Wilson intervals; the per-task target against the baselines "
        f"published there. Validation: seeds {args.val_seed_base}..{last_val}, training phrasings, "
        "classified by scripts/experiments/failures.py. Probe: vla/apps/probe.py, "
        f"{args.samples} TouchCube episode starts, the loss as is and with the instruction swapped.\n\n"
        f"{table(args.key, rows)}\n"
    )
    figures = {
        "key": args.key, "preset_value": preset_value, "episodes": reference["episodes"], "runs": rows,
        "target": checks,
    }  # fmt: skip
    name = f"lever_{args.key.rsplit('.', 1)[-1]}"
    title = f"{args.preset} with {args.key} changed"
    return write_section(name, title, command_line("bench_lever", argv), body, figures, args.no_write)


if __name__ == "__main__":
    main()
