"""`vla sweep report <multirun dir>`: every run of a Hydra sweep in one report, seeds grouped.

    vla sweep report outputs/multirun/2026-12-01_14-35-40
    vla sweep report <dir> --baseline-of vla           # adds vla's ratios to each other policy
    vla sweep report <dir> --best-by min:peak_rss_mb   # what "best configuration" means

Writes report.md, report.csv (one row per run), success.png and loss.png into the multirun dir (or
--out). Runs by itself at the end of every `vla train -m` (SweepReportCallback, hydra.callbacks in
conf/config.yaml). Reads what exists, so it works on a sweep that is still running.
"""

import argparse
import atexit
import datetime
import logging
import math
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from vla.apps import sweep_files
from vla.apps.sweep_files import COLUMNS
from vla.apps.sweep_runs import (
    ALL_TASKS,
    DONE,
    Config,
    NotAMultirunDirError,
    Run,
    group,
    read_sweep,
    success_keys,
)

log = logging.getLogger(__name__)


def run_score(run: Run, best_by: str) -> float | None:
    """The run's score for best_by: with "success", its mean success over the latest evaluation's rows
    (the all-task rows when there are several tasks); else the metric named, e.g. "loss" ("min:"/"max:"
    prefixes are dropped here)."""
    if best_by == "success":
        rows = [row for row in run.eval_rows if row["task"] in ALL_TASKS] or run.eval_rows
        return statistics.fmean(row["success_rate"] for row in rows) if rows else None
    return run.metrics.get(best_by.split(":", 1)[-1])


def best_config(configs: Sequence[Config], best_by: str) -> tuple[Config | None, str]:
    """The configuration with the best mean score over its finished seeds, and what "best" meant.

    Lower is better for "min:<metric>" and for metrics named *loss*; higher otherwise. With
    "success" and no evaluation at all, the lowest final loss decides; it also breaks ties.
    """
    if best_by == "success" and not any(r.eval_rows for c in configs for r in c.done):
        best_by = "min:loss"
    key = best_by.split(":", 1)[-1]
    lower = best_by.startswith("min:") or (not best_by.startswith("max:") and "loss" in key)
    scored = []
    for config in configs:
        scores = [s for r in config.done if (s := run_score(r, best_by)) is not None]
        if scores:
            loss = config.stat("loss")  # breaks ties (0% everywhere is common early on)
            tie = -loss.mean if loss is not None else -math.inf
            scored.append(((statistics.fmean(scores) * (-1 if lower else 1), tie), config))
    what = f"{'lowest' if lower else 'highest'} mean {key if key != 'success' else 'success over splits'}"
    return (max(scored, key=lambda s: s[0])[1] if scored else None), f"{what}; on a tie, lowest loss"


def policy_ratios(runs: Sequence[Run], baseline: str) -> list[dict[str, Any]]:
    """Per other policy: baseline mean / that policy's mean, over finished runs, per metric in COLUMNS
    (but the loss) and "success"; empty until the baseline has a finished run. Raises ValueError when
    no run of the sweep has that policy."""
    means: dict[str, dict[str, float]] = {}
    for policy in dict.fromkeys(r.policy for r in runs if r.policy):
        done = [r for r in runs if r.policy == policy and r.status == DONE]
        # losses of different policies are different objectives: their ratio means nothing
        values = {k: [r.metrics[k] for r in done if k in r.metrics] for k, _, _ in COLUMNS if k != "loss"}
        values["success"] = [s for r in done if (s := run_score(r, "success")) is not None]
        means[policy] = {k: statistics.fmean(v) for k, v in values.items() if v}
        means[policy]["runs"] = len(done)
    if baseline not in means:
        raise ValueError(
            f"--baseline-of {baseline}: no run of this sweep has policy {baseline!r} ({sorted(means)})"
        )
    base = means.pop(baseline)
    return [
        {"policy": p, "runs": m["runs"], **{k: base[k] / m[k] for k in base if k != "runs" and m.get(k)}}
        for p, m in means.items()
        if m["runs"] and base["runs"]
    ]


def write_report(
    sweep_dir: str | Path,
    out: str | Path | None = None,
    baseline_of: str | None = None,
    best_by: str = "success",
) -> dict[str, Any]:
    """Reads the sweep, writes report.md, report.csv and the plots; returns their paths and the markdown."""
    sweep_dir = Path(sweep_dir)
    out = Path(out) if out else sweep_dir
    runs = read_sweep(sweep_dir)
    configs = group(runs)
    best, best_what = best_config(configs, best_by)
    ratios = policy_ratios(runs, baseline_of) if baseline_of else None
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "report_csv": sweep_files.write_csv(runs, configs, out / "report.csv"),
        "plots": sweep_files.plots(configs, success_keys(runs), out),
    }
    text = sweep_files.markdown(
        sweep_dir, runs, configs, best, best_what, ratios, baseline_of, [p.name for p in files["plots"]],
        datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
    )  # fmt: skip
    (out / "report.md").write_text(text)
    return {**files, "report_md": out / "report.md", "markdown": text, "runs": runs}


class SweepReportCallback(Callback):
    """Writes the sweep report when a multirun ends, also when a job failed; a failing report only logs.

    Hydra skips on_multirun_end when a job failed (the sweep raises the job's error first), so the
    report is also registered to run when the process exits; it runs once either way.
    """

    def __init__(self, baseline_of: str | None = None, best_by: str = "success"):
        self.baseline_of, self.best_by = baseline_of, best_by
        self.sweep_dir: Path | None = None

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self.sweep_dir = Path(str(OmegaConf.select(config, "hydra.sweep.dir")))
        atexit.register(self.report)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        self.report()

    def report(self) -> None:
        if self.sweep_dir is None:
            return
        sweep_dir, self.sweep_dir = self.sweep_dir, None  # once
        try:
            try:
                result = write_report(sweep_dir, baseline_of=self.baseline_of, best_by=self.best_by)
            except ValueError as err:  # baseline_of names no policy of this sweep: the rest still helps
                log.warning("sweep report: %s; written without the ratios", err)
                result = write_report(sweep_dir, best_by=self.best_by)
        except Exception:
            log.exception(
                "the sweep report of %s failed (the runs are not affected); retry: vla sweep report %s",
                sweep_dir, sweep_dir,
            )  # fmt: skip
            return
        log.info("%s", sweep_files.counts(result["runs"]))
        log.info(
            "sweep report: %s (csv: report.csv, plots: %s)",
            result["report_md"],
            ", ".join(p.name for p in result["plots"]),
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="vla sweep", description="Reports of Hydra sweeps (`vla train -m ...`).",
        epilog="example: vla sweep report outputs/multirun/<time>   (guide: docs/training.md, Sweeps)",
    )  # fmt: skip
    sub = parser.add_subparsers(dest="command", metavar="report")
    rep = sub.add_parser(
        "report", help="one report of a multirun dir: report.md, report.csv, success.png, loss.png",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    rep.add_argument("sweep_dir", type=Path, help="a multirun dir, e.g. outputs/multirun/<time>")
    rep.add_argument("--baseline-of", metavar="POLICY", help="add POLICY's ratios to each other policy")
    rep.add_argument(
        "--best-by", default="success", metavar="[min:|max:]METRIC",
        help="success (default: mean success over splits), or a report.csv metric, e.g. min:peak_rss_mb",
    )  # fmt: skip
    rep.add_argument("--out", type=Path, help="write the files here instead of into the multirun dir")
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return
    try:
        result = write_report(args.sweep_dir, args.out, args.baseline_of, args.best_by)
    except (NotAMultirunDirError, ValueError) as err:
        sys.exit(f"vla sweep report: {err}")
    print(result["markdown"])
    print(f"report: {result['report_md']}\ncsv:    {result['report_csv']}")
    for plot in result["plots"]:
        print(f"plot:   {plot}")
