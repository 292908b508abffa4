"""The files of `vla sweep report`: report.md, report.csv, success.png, loss.png (see sweep_report.py)."""

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from vla.apps.sweep_runs import (
    DONE,
    FAILED,
    INCOMPLETE,
    NOT_STARTED,
    RUNNING,
    SEED_KEYS,
    Config,
    Run,
    override_key,
    success_keys,
)

# (metric, header, format): shown wherever some run records the metric
COLUMNS = (
    ("loss", "loss", "{:.4g}"), ("train_s", "train s", "{:.1f}"), ("samples_per_s", "samples/s", "{:.1f}"),
    ("params", "params", "{:,.0f}"), ("peak_rss_mb", "peak RSS MB", "{:.0f}"), ("p50_ms", "p50 ms", "{:.1f}"),
    ("p95_ms", "p95 ms", "{:.1f}"), ("actions_per_s", "actions/s", "{:.0f}"),
)  # fmt: skip


def counts(runs: Sequence[Run]) -> str:
    """The status line, e.g. `4 jobs: 2 done, 1 failed, 1 running.`"""
    parts = [f"{n} {s}" for s in (DONE, FAILED, RUNNING, INCOMPLETE, NOT_STARTED) if (n := _count(runs, s))]
    return f"{len(runs)} job{'s' if len(runs) != 1 else ''}: {', '.join(parts) or 'none yet'}."


def _count(runs: Sequence[Run], status: str) -> int:
    return sum(r.status == status for r in runs)


def markdown(
    sweep_dir: Path, runs: Sequence[Run], configs: Sequence[Config], best: Config | None, best_what: str,
    ratios: list[dict[str, Any]] | None, baseline: str | None, plots: Sequence[str], now: str,
) -> str:  # fmt: skip
    varying = _varying(runs)
    common = [o for o in (runs[0].overrides if runs else []) if override_key(o) not in varying]
    lines = [
        f"# Sweep report: {sweep_dir}",
        "",
        f"{counts(runs)} Read {now}; a running sweep shows what has finished.",
    ]
    if (sweep := sweep_overrides(sweep_dir)) is not None:
        lines.append(f"Sweep: `vla train -m {' '.join(sweep)}`.")
    if common:
        lines.append(f"Same in every run: `{' '.join(common)}`.")
    metrics = [c for c in COLUMNS if any(c[0] in r.metrics for r in runs)]
    keys = success_keys(runs)
    lines += [
        "",
        "## Configurations",
        "",
        _CONFIG_NOTE.format(seeds=" / ".join(SEED_KEYS), best=best_what),
        "",
    ]
    lines += _table(
        [
            "config",
            "overrides",
            "seeds",
            "finished",
            *(_name(k, keys) for k in keys),
            *(c[1] for c in metrics),
        ],
        [_config_row(c, c is best, varying, keys, metrics) for c in configs],
    )
    lines += ["", "## Runs", "", "Success: the latest evaluation of each run, 95% Wilson interval.", ""]
    lines += _table(
        ["job", "status", "config", "seed", "policy", "step", *(_name(k, keys) for k in keys),
         *(c[1] for c in metrics), "error"],
        [_run_row(r, configs, keys, metrics) for r in runs],
    )  # fmt: skip
    if ratios is not None:
        lines += ["", f"## {baseline} / each other policy", "", _RATIO_NOTE.format(b=baseline), ""]
        if not ratios:
            lines.append(f"None yet: {baseline} and at least one other policy need a finished run.")
        shown = [c for c in (("success", "success", ""), *COLUMNS) if any(c[0] in r for r in ratios)]
        lines += _table(
            ["policy", "finished runs", *(c[1] for c in shown)],
            [
                [r["policy"], str(r["runs"]), *(f"{r[c[0]]:.2f}x" if c[0] in r else "-" for c in shown)]
                for r in ratios
            ],
        )
    lines += ["", *(f"![{p}]({p})" for p in plots)]
    return "\n".join(lines) + "\n"


_CONFIG_NOTE = (
    "Runs whose overrides differ only in {seeds} are one configuration. Success: the mean over its "
    "finished seeds with a 95% Student-t interval over seeds (t with n-1 degrees of freedom, clipped to "
    "[0, 1]; from 2 seeds), then all their episodes pooled with the 95% Wilson interval. Other columns: "
    "mean over finished seeds (+- the t half-width from 2 seeds). **best**: {best}."
)
_RATIO_NOTE = (
    "{b}'s mean over its finished runs divided by each other policy's (params 0.50x: {b} has half the "
    "parameters; samples/s 2.00x: {b} trains twice as fast)."
)


def _config_row(
    c: Config, is_best: bool, varying: list[str], keys: list[tuple[str, str]], metrics: Sequence[tuple]
) -> list[str]:
    others = [f"{n} {s}" for s in (FAILED, RUNNING, INCOMPLETE, NOT_STARTED) if (n := _count(c.runs, s))]
    finished = f"{len(c.done)}/{len(c.runs)}" + (f" ({', '.join(others)})" if others else "")
    shown = [o for o in c.overrides if override_key(o) in varying]
    return [
        f"**{c.name} (best)**" if is_best else c.name, " ".join(shown) or "-",
        ",".join(r.seed for r in c.runs) or "-", finished, *(_config_success(c, k) for k in keys),
        *(_mean(c, key, fmt) for key, _, fmt in metrics),
    ]  # fmt: skip


def _config_success(c: Config, key: tuple[str, str]) -> str:
    stat, pooled = c.stat(f"success/{key[0]}/{key[1]}"), c.pooled(*key)
    if stat is None or pooled is None:
        return "-"
    k, n, lo, hi = pooled
    wilson = f"{k}/{n} [{lo:.2f}, {hi:.2f}]"
    if stat.low is None:
        return f"{stat.mean:.0%} ({wilson})"
    return f"{stat.mean:.0%} [t {max(0.0, stat.low):.0%}, {min(1.0, stat.high):.0%}]; {wilson}"


def _mean(c: Config, key: str, fmt: str) -> str:
    stat = c.stat(key)
    if stat is None:
        return "-"
    spread = stat.high - stat.mean if stat.high is not None else 0.0
    return fmt.format(stat.mean) + (f" +- {fmt.format(spread)}" if spread > 0 else "")


def _run_row(
    r: Run, configs: Sequence[Config], keys: list[tuple[str, str]], metrics: Sequence[tuple]
) -> list:
    rows = {(row["task"], row["split"]): row for row in r.eval_rows}
    success = [
        f"{row['success_rate']:.0%} ({row['successes']}/{row['episodes']}) "
        f"[{row['ci95_low']:.2f}, {row['ci95_high']:.2f}]"
        if (row := rows.get(k))
        else "-"
        for k in keys
    ]
    error = " ".join(r.error.split())
    return [
        r.job, r.status, _config_of(r, configs), r.seed or "-", r.policy or "-", str(r.step or "-"), *success,
        *(fmt.format(r.metrics[key]) if key in r.metrics else "-" for key, _, fmt in metrics),
        error[:200] + ("..." if len(error) > 200 else "") or "-",
    ]  # fmt: skip


def _config_of(r: Run, configs: Sequence[Config]) -> str:
    return next(c.name for c in configs if r in c.runs)


def _name(key: tuple[str, str], keys: list[tuple[str, str]]) -> str:
    """Column title of a task x split: the split alone when there is one task."""
    return key[1] if len({k[0] for k in keys}) == 1 else f"{key[0]} {key[1]}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    cell = lambda s: str(s).replace("|", "\\|")  # noqa: E731
    return [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(cell(x) for x in row) + " |" for row in rows),
    ]


def _varying(runs: Sequence[Run]) -> list[str]:
    """Override keys whose value is not the same in every run (seed keys included)."""
    given: dict[str, set[str]] = {}
    for run in runs:
        for o in run.overrides:
            given.setdefault(override_key(o), set()).add(o)
    everywhere = lambda k: all(k in map(override_key, r.overrides) for r in runs)  # noqa: E731
    return [k for k, v in given.items() if len(v) > 1 or not everywhere(k)]


def sweep_overrides(sweep_dir: Path) -> list[str] | None:
    """The overrides the whole sweep was launched with (multirun.yaml), or None without one."""
    try:
        return [str(o) for o in OmegaConf.load(sweep_dir / "multirun.yaml").hydra.overrides.task]
    except Exception:  # no multirun.yaml (a dir of job dirs only) or a foreign one
        return None


def write_csv(runs: Sequence[Run], configs: Sequence[Config], path: Path) -> Path:
    """One row per run: its overrides (a column per varying key), status, every metric, the error."""
    keys = success_keys(runs)
    fixed = ["job", "status", "config", "seed", "policy", "overrides"]
    varying = [k for k in _varying(runs) if k not in SEED_KEYS and k not in fixed]  # `policy=` has its column
    eval_fields = [
        f"{f}/{t}/{s}" for t, s in keys for f in ("success", "successes", "episodes", "ci95_low", "ci95_high")
    ]
    known = {c[0] for c in COLUMNS} | set(eval_fields)
    other = sorted({k for r in runs for k in r.metrics} - known)
    fields = [*fixed, *varying, "step", "eval_step",
              *eval_fields, *(c[0] for c in COLUMNS), *other, "error"]  # fmt: skip
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fields, restval="")
        writer.writeheader()
        for r in runs:
            given = {override_key(o): o.split("=", 1)[-1] for o in r.overrides}
            row: dict[str, Any] = {
                "job": r.job, "status": r.status, "config": _config_of(r, configs), "seed": r.seed,
                "policy": r.policy, "overrides": " ".join(r.overrides), "step": r.step,
                "eval_step": r.eval_step, "error": r.error, **r.metrics,
            }  # fmt: skip
            row.update({k: given.get(k, "") for k in varying})
            for e in r.eval_rows:
                for f_ in ("successes", "episodes", "ci95_low", "ci95_high"):
                    row[f"{f_}/{e['task']}/{e['split']}"] = e[f_]
            writer.writerow(row)
    return path


def plots(configs: Sequence[Config], keys: list[tuple[str, str]], out: Path) -> list[Path]:
    """success.png (pooled success per configuration, Wilson intervals) and loss.png (every run's curve)."""
    from vla.apps.eval_report import bar_plot

    written = []
    rows = []
    for c in configs:
        for key in keys:
            if (pooled := c.pooled(*key)) is not None:
                k, n, lo, hi = pooled
                rows.append({"task": c.name, "split": _name(key, keys), "success_rate": k / n,
                             "ci95_low": lo, "ci95_high": hi})  # fmt: skip
    if rows:
        title = "success, seeds pooled"
        written.append(bar_plot(rows, out / "success.png", title=title))
    if any(r.loss_curve for c in configs for r in c.runs):
        written.append(_loss_plot(configs, out / "loss.png"))
    return written


def _loss_plot(configs: Sequence[Config], path: Path) -> Path:
    """One colour per configuration, one line style per seed; unfinished runs fainter, their status named."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    fig, ax = plt.subplots(figsize=(7, 4))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    styles = ("-", "--", "-.", ":")
    for i, c in enumerate(configs):
        for j, r in enumerate(x for x in c.runs if x.loss_curve):
            steps, losses = zip(*r.loss_curve, strict=True)
            label = f"{c.name} seed {r.seed or '?'}" + ("" if r.status == DONE else f" ({r.status})")
            ax.plot(
                steps, losses, styles[j % len(styles)], color=colors[i % len(colors)],
                alpha=1.0 if r.status == DONE else 0.4, label=label,
            )  # fmt: skip
    ax.set(xlabel="step", ylabel="training loss", yscale="log", title="training loss, every run")
    plain = FuncFormatter(lambda v, _: f"{v:g}")  # 5.3, not 5.3 x 10^0
    ax.yaxis.set_major_formatter(plain)
    ax.yaxis.set_minor_formatter(plain)
    ax.legend(fontsize="x-small", ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
