"""Reads a Hydra multirun dir (`vla train -m ...`) into one Run per job, finished or not, and groups
the runs into configurations (runs that differ only in the seed) with their statistics.

    <sweep dir>/multirun.yaml                    the sweep as launched (its overrides, its sweeper)
    <sweep dir>/<n>/.hydra/{config,hydra,overrides}.yaml
    <sweep dir>/<n>/status.json                  vla/apps/run_status.py: running | done | failed
    <run dir>/metrics.jsonl, eval/step_N/report.json

Every job is kept: a failed or killed one has status "failed" and its error; a job of the sweep that
has no dir yet is "not started". Reading never writes, so it works on a sweep that is still running.
"""

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from vla.apps import run_status
from vla.logging_utils import read_metrics

SEED_KEYS = ("seed", "train.seed")  # runs differing only in these are one configuration
DONE, FAILED, RUNNING, INCOMPLETE, NOT_STARTED = "done", "failed", "running", "incomplete", "not started"
# the eval report row over all tasks of a split (several tasks): "average" (eval_report.AVERAGE), "all" before
ALL_TASKS = ("average", "all")


class NotAMultirunDirError(ValueError):
    pass


@dataclass
class Run:
    job: str  # the job's dir name: Hydra's job number
    overrides: list[str]  # as Hydra passed them to the job: ["train.lr=0.001", "seed=1"]
    status: str
    error: str = ""
    policy: str = ""
    seed: str = ""
    step: int | None = None  # last step logged
    eval_step: int | None = None  # the step of the latest sim evaluation (its report is eval_rows)
    metrics: dict[str, float] = field(default_factory=dict)  # flat numbers: see read_run
    eval_rows: list[dict[str, Any]] = field(
        default_factory=list
    )  # eval report rows (vla/apps/eval_report.py)
    loss_curve: list[tuple[int, float]] = field(default_factory=list)

    @property
    def config(self) -> tuple[str, ...]:
        """The overrides that make its configuration: all but the seed."""
        return tuple(o for o in self.overrides if override_key(o) not in SEED_KEYS)


def override_key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def job_dirs(sweep_dir: Path) -> list[Path]:
    """The job dirs of a multirun dir (numeric names in numeric order); raises NotAMultirunDirError."""
    sweep_dir = Path(sweep_dir)
    expected = (
        "expected a Hydra multirun dir: multirun.yaml and one dir per job holding .hydra/overrides.yaml, "
        "as `vla train -m ...` writes under outputs/multirun/<time>/"
    )
    if not sweep_dir.is_dir():
        raise NotAMultirunDirError(f"{sweep_dir} does not exist or is not a directory ({expected})")
    if (sweep_dir / ".hydra").is_dir() and not (sweep_dir / "multirun.yaml").exists():
        raise NotAMultirunDirError(
            f"{sweep_dir} is the dir of a single run (it holds .hydra/); pass the multirun dir that "
            f"holds its jobs, e.g. {sweep_dir.parent} ({expected})"
        )
    jobs = [p for p in sweep_dir.iterdir() if (p / ".hydra" / "overrides.yaml").exists()]
    if not jobs and not (sweep_dir / "multirun.yaml").exists():
        raise NotAMultirunDirError(f"{sweep_dir} holds no multirun.yaml and no job dir ({expected})")
    return sorted(jobs, key=lambda p: _job_order(p.name))


def read_sweep(sweep_dir: str | Path) -> list[Run]:
    """One Run per job dir, plus one "not started" Run per job of the sweep that has no dir yet."""
    sweep_dir = Path(sweep_dir)
    runs = [read_run(d) for d in job_dirs(sweep_dir)]
    seen = {r.job for r in runs}
    for num, overrides in enumerate(expected_jobs(sweep_dir) or []):
        if str(num) not in seen:
            runs.append(Run(job=str(num), overrides=overrides, status=NOT_STARTED, seed=_seed_of(overrides)))
    return sorted(runs, key=lambda r: _job_order(r.job))


def _job_order(name: str) -> tuple[bool, int, str]:
    """Job numbers in numeric order (2 before 10), then any other dir names."""
    return not name.isdigit(), int(name) if name.isdigit() else 0, name


def expected_jobs(sweep_dir: Path) -> list[list[str]] | None:
    """The overrides of every job of the sweep in job-number order, when Hydra's basic sweeper and the
    default `hydra.sweep.subdir` (the job number) made it; None otherwise (other sweepers decide as they
    go)."""
    try:
        from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
        from hydra.core.override_parser.overrides_parser import OverridesParser

        cfg = OmegaConf.load(sweep_dir / "multirun.yaml")
        hydra = cfg.hydra
        if "BasicSweeper" not in str(hydra.sweeper.get("_target_", "")):
            return None
        if OmegaConf.to_container(hydra.sweep, resolve=False).get("subdir") != "${hydra.job.num}":
            return None
        params = [f"{k}={v}" for k, v in (hydra.sweeper.get("params") or {}).items()]
        overrides = OverridesParser.create().parse_overrides(params + list(hydra.overrides.task))
        return [list(job) for batch in BasicSweeper.split_arguments(overrides, None) for job in batch]
    except Exception:  # an unreadable or foreign multirun.yaml: report the job dirs only
        return None


def read_run(job_dir: Path) -> Run:
    """A job's overrides, status and what it recorded (metrics: final train record, success/<task>/<split>,
    params, samples_per_s, train_s, wall_s, peak_rss_mb, p50_ms, p95_ms, actions_per_s)."""
    job_dir = Path(job_dir)
    overrides = [str(o) for o in OmegaConf.load(job_dir / ".hydra" / "overrides.yaml")]
    cfg = _load(job_dir / ".hydra" / "config.yaml")
    status = run_status.read_status(job_dir) or {}
    run_dir = Path(status.get("run_dir") or _select(cfg, "run_dir") or job_dir)
    run = Run(job=job_dir.name, overrides=overrides, status="", policy=_policy(job_dir, cfg))
    config_seed = _select(cfg, "seed")  # the seed the run used when the sweep did not set it
    run.seed = _seed_of(overrides) or ("" if config_seed is None else str(config_seed))
    records = read_metrics(run_dir)
    train = [r for r in records if r["split"] == "train"]
    run.loss_curve = [(r["step"], r["loss"]) for r in train if _is_num(r.get("loss"))]
    if train:
        run.step = train[-1]["step"]
        run.metrics.update({k: v for k, v in train[-1].items() if k not in ("step", "split") and _is_num(v)})
    summaries = [r for r in records if r["split"] == run_status.SUMMARY_SPLIT]
    if summaries:
        run.metrics.update({k: v for k, v in summaries[-1].items() if k != "split" and _is_num(v)})
        run.metrics.pop("step", None)
    run.metrics.update({k: status[k] for k in ("wall_s", "peak_rss_mb") if _is_num(status.get(k))})
    _read_eval(run, run_dir)
    run.status, run.error = _status(status, run, run_dir, _select(cfg, "train.steps"))
    return run


def _read_eval(run: Run, run_dir: Path) -> None:
    """The latest sim evaluation: success per task x split, and the policy's inference latency."""
    reports = sorted(
        (int(p.parent.name.removeprefix("step_")), p)
        for p in (run_dir / "eval").glob("step_*/report.json")
        if p.parent.name.removeprefix("step_").isdigit()
    )
    if not reports:
        return
    run.eval_step, path = reports[-1]
    report = run_status.read_json(path)
    if report is None:  # being written
        return
    run.eval_rows = report.get("rows", [])
    for row in run.eval_rows:
        run.metrics[f"success/{row['task']}/{row['split']}"] = row["success_rate"]
    latency = report.get("latency") or {}
    if latency.get("calls"):
        run.metrics.update(p50_ms=latency["p50_ms"], p95_ms=latency["p95_ms"])
        # actions executed per second of policy compute: env steps / time inside inference calls
        steps = sum(r["mean_length"] * r["episodes"] for r in run.eval_rows if r["task"] not in ALL_TASKS)
        run.metrics["actions_per_s"] = steps / (latency["calls"] * latency["mean_ms"] / 1000)


def _status(status: dict[str, Any], run: Run, run_dir: Path, steps: Any) -> tuple[str, str]:
    state = status.get("status")
    if state in (DONE, FAILED):
        return state, status.get("error", "")
    where = (
        f"last step logged: {run.step}" + (f" of {steps}" if steps else "") if run.step else "no step logged"
    )
    if state == RUNNING:
        alive = run_status.process_alive(int(status.get("pid", -1)), status.get("host"))
        if alive is False:
            return FAILED, f"killed: its process ({status.get('pid')}) is gone without a result ({where})"
        return RUNNING, "" if alive else f"running on {status.get('host')} (cannot check from here)"
    # no status.json: a run from before vla wrote one, or a job that has only just started
    from vla.checkpoint import CHECKPOINTS, LAST  # imports torch: only for such runs

    if (run_dir / CHECKPOINTS / LAST).exists() and steps is not None and run.step == steps:
        return DONE, ""
    return INCOMPLETE, f"no status.json and no final result ({where})"


def _policy(job_dir: Path, cfg: Any) -> str:
    """The `policy=` option the job ran with (Hydra's choice), else the config's policy.name."""
    hydra = _load(job_dir / ".hydra" / "hydra.yaml")
    return str(_select(hydra, "hydra.runtime.choices.policy") or _select(cfg, "policy.name") or "")


def _seed_of(overrides: list[str]) -> str:
    return next((o.split("=", 1)[1] for o in overrides if override_key(o) in SEED_KEYS), "")


def _load(path: Path) -> Any:
    try:
        return OmegaConf.load(path)
    except (FileNotFoundError, OSError, ValueError):
        return None


def _select(cfg: Any, key: str) -> Any:
    if cfg is None:
        return None
    try:
        return OmegaConf.select(cfg, key, default=None)
    except Exception:  # an interpolation that only resolves inside the job (e.g. ${hydra:...})
        return None


def _is_num(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@dataclass
class Stat:
    mean: float
    n: int
    low: float | None = None  # 95% Student-t interval over seeds; None below 2 seeds
    high: float | None = None


def t_interval(values: Sequence[float]) -> Stat:
    """Mean and 95% Student-t interval (n - 1 degrees of freedom) of per-seed values."""
    mean = statistics.fmean(values)
    if len(values) < 2:
        return Stat(mean, len(values))
    from scipy import stats

    half = stats.t.ppf(0.975, len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
    return Stat(mean, len(values), mean - half, mean + half)


@dataclass
class Config:
    """Runs whose overrides differ only in the seed."""

    name: str
    overrides: tuple[str, ...]
    runs: list[Run]

    @property
    def done(self) -> list[Run]:
        return [r for r in self.runs if r.status == DONE]

    def stat(self, key: str) -> Stat | None:
        values = [r.metrics[key] for r in self.done if key in r.metrics]
        return t_interval(values) if values else None

    def pooled(self, task: str, split: str) -> tuple[int, int, float, float] | None:
        """Successes and episodes of all finished seeds together, with their 95% Wilson interval."""
        from vla.apps.eval_report import wilson_interval

        rows = [row for r in self.done for row in r.eval_rows if (row["task"], row["split"]) == (task, split)]
        if not rows:
            return None
        k, n = sum(row["successes"] for row in rows), sum(row["episodes"] for row in rows)
        return (k, n, *wilson_interval(k, n))


def group(runs: Sequence[Run]) -> list[Config]:
    """Configurations in order of first appearance, named c0, c1, ..."""
    by_overrides: dict[tuple[str, ...], list[Run]] = {}
    for run in runs:
        by_overrides.setdefault(run.config, []).append(run)
    return [Config(f"c{i}", overrides, rs) for i, (overrides, rs) in enumerate(by_overrides.items())]


def success_keys(runs: Sequence[Run]) -> list[tuple[str, str]]:
    """(task, split) pairs of the evaluations, in first-seen order."""
    return list(dict.fromkeys((row["task"], row["split"]) for r in runs for row in r.eval_rows))
