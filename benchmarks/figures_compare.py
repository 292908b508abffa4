"""How the policy comparisons' figures are worded (benchmarks/bench_compare.py, bench_compare_wide.py,
bench_cotrain.py).

FIGURES[section][name](figures) -> the text of `<!-- fig:section.name -->` in a page, as in
benchmarks/figures.py, whose FIGURES holds the other sections; benchmarks/summary.py reads both.
"""

from collections.abc import Callable

from benchmarks.figures import NOT_MEASURED, Fig
from vla.data.qa import QA_TYPES

# ---------------------------------------------------------------- one sweep (bench_compare)
COMPARED = ("vla", "act", "diffusion_ddim", "smolvla")
COMPARED_PICK = ("vla_pick", "act", "diffusion_ddim", "smolvla")  # compare_pick: the VLA's PickCube recipe
COMPARED_600 = ("vla_multitask", "act", "diffusion_ddim", "smolvla")  # compare_600: the six-task recipe
# the sweep report's task columns: envs/tabletop/multitask.py's TASKS, not imported (it loads MuJoCo)
TASKS = ("TouchCube", "PickCube", "PushCube", "SlideCube", "PlaceInBowl", "StackCube")
COMPARED_MT10 = ("vla", "diffusion_ddim")  # compare_mt10: the VLA and the six-task comparison's best baseline


def _compare_success(policy: str, split: str, task: str = "average") -> Fig:
    def fig(f: dict) -> str:
        row = f["policies"].get(policy)
        k = f"{task}/{split}"
        if row is None or not row.get(f"success/{k}"):  # not in the sweep, or not evaluated
            return NOT_MEASURED
        return f"{float(row['success/' + k]):.0%} ({row['successes/' + k]}/{row['episodes/' + k]})"

    return fig


def _evaluated(f: dict, policy: str, task: str, splits: tuple[str, ...]) -> tuple[dict | None, list[str]]:
    """The policy's report row and its "task/split" keys; no row when a split was not evaluated."""
    row = f["policies"].get(policy)
    keys = [f"{task}/{split}" for split in splits]
    if row is None or not all(row.get(f"episodes/{k}") for k in keys):
        return None, keys
    return row, keys


def _compare_pooled(policy: str, task: str, splits: tuple[str, ...] = ("train", "heldout_phrasing")) -> Fig:
    """Successes over the splits together, with the 95% Wilson interval of the pooled episodes."""

    def fig(f: dict) -> str:
        row, keys = _evaluated(f, policy, task, splits)
        if row is None:
            return NOT_MEASURED
        from vla.apps.eval_report import wilson_interval  # imports gymnasium: only when a page asks

        wins, n = (sum(int(row[f"{c}/{k}"]) for k in keys) for c in ("successes", "episodes"))
        low, high = wilson_interval(wins, n)
        return f"{wins} of {n} ({wins / n:.0%}, 95% interval [{low:.2f}, {high:.2f}])"

    return fig


def _compare_task(policy: str, task: str, splits: tuple[str, ...] = ("train", "heldout_phrasing")) -> Fig:
    """Per split, successes / episodes on one task: "8/10, 9/10" (a table cell)."""

    def fig(f: dict) -> str:
        row, keys = _evaluated(f, policy, task, splits)
        if row is None:
            return NOT_MEASURED
        return ", ".join(f"{row['successes/' + k]}/{row['episodes/' + k]}" for k in keys)

    return fig


def _compare_field(policy: str, key: str, fmt: str) -> Fig:
    def fig(f: dict) -> str:
        row = f["policies"].get(policy)
        return NOT_MEASURED if row is None else format(float(row[key]), fmt)

    return fig


# ---------------------------------------------------------------- more episodes (bench_compare_wide)
WIDE_SEEDS = ("0", "1", "2")  # the training seeds a page may quote
PEERS = {"smolvla": ">=", "act": ">", "diffusion_ddim": ">"}  # the per-task target: ours against each


def _wide_run(f: dict, policy: str, seed: str) -> dict | None:
    return next((r for r in f["runs"] if r["policy"] == policy and r["seed"] == seed), None)


def pool_pairs(pairs: list) -> tuple[int, int]:
    """(successes, episodes) of several (successes, episodes) pairs together."""
    return sum(p[0] for p in pairs), sum(p[1] for p in pairs)


def _rate_with_interval(wins: int, n: int) -> str:
    """ "12% (69/600, [0.09, 0.14])": a rate with its 95% Wilson interval."""
    from vla.apps.eval_report import wilson_interval  # imports gymnasium: only when a page asks

    low, high = wilson_interval(wins, n)
    return f"{wins / n:.0%} ({wins}/{n}, [{low:.2f}, {high:.2f}])"


def wide_cell(counts: dict[str, list[int]], task: str) -> str:
    """ "8/50, 6/50": a task's successes per split ("task/split" -> [successes, episodes])."""
    splits = dict.fromkeys(k.split("/")[1] for k in counts)
    return ", ".join("{}/{}".format(*counts[f"{task}/{s}"]) for s in splits)


def target_text(check: dict) -> str:
    """ "3 of 6 (PickCube, PushCube, SlideCube)": where the per-task target holds for one run, and
    " against smolvla only" when the runs it was checked on lacked some of the peers."""
    text = f"{len(check['tasks_met'])} of {check['of']} ({', '.join(check['tasks_met']) or 'none'})"
    peers = check.get("peers", list(PEERS))  # results written before the key: every peer was there
    return text if len(peers) == len(PEERS) else f"{text} against {', '.join(peers) or 'no peer'} only"


def _of_wide_run(policy: str, seed: str, render: Callable[[dict], str]) -> Fig:
    """A figure rendered from one run of the results (policy, training seed); not measured without it."""

    def fig(f: dict) -> str:
        run = _wide_run(f, policy, seed)
        return NOT_MEASURED if run is None else render(run)

    return fig


def _average_pairs(run: dict, split: str | None = None) -> list:
    """A run's (successes, episodes) over the tasks, per split (split None: every split)."""
    return [
        n for k, n in run["counts"].items() if k.startswith("average/") and split in (None, k.split("/")[1])
    ]


def _split_rate(run: dict, split: str | None) -> str:
    """A run's average over the tasks on a split (None: all splits pooled), with its Wilson interval."""
    return _rate_with_interval(*pool_pairs(_average_pairs(run, split)))


def _wide_target(seed: str) -> Fig:
    """Where the per-task target holds for the run of ours with this training seed."""

    def fig(f: dict) -> str:
        check = next((c for c in f["target"] if c["seed"] == seed), None)
        return NOT_MEASURED if check is None else target_text(check)

    return fig


def seeds_pooled(runs: list[dict], policy: str) -> str:
    """ "22% (401/1800, [0.20, 0.24]) over 3 training seeds": every run of the policy, every task and
    split, together."""
    mine = [r for r in runs if r["policy"] == policy]
    if not mine:
        return NOT_MEASURED
    pairs = [pair for r in mine for pair in _average_pairs(r)]
    return f"{_rate_with_interval(*pool_pairs(pairs))} over {len(mine)} training seeds"


def _wide_figures(policies: tuple[str, ...]) -> dict[str, Fig]:
    return {
        **{f"{p}_seeds_pooled": lambda f, p=p: seeds_pooled(f["runs"], p) for p in policies},
        **{
            f"{p}_{s}_{t}": _of_wide_run(p, s, lambda run, t=t: wide_cell(run["counts"], t))
            for p in policies
            for s in WIDE_SEEDS
            for t in TASKS
        },
        **{
            f"{p}_{s}_{split or 'pooled'}": _of_wide_run(
                p, s, lambda run, split=split: _split_rate(run, split)
            )
            for p in policies
            for s in WIDE_SEEDS
            for split in ("train", "heldout_phrasing", None)
        },
        **{
            f"{p}_{s}_steps": _of_wide_run(p, s, lambda run: str(run["steps"]))
            for p in policies
            for s in WIDE_SEEDS
        },
        **{f"target_{s}": _wide_target(s) for s in WIDE_SEEDS},
    }


# ---------------------------------------------------------------- co-training (bench_cotrain)
COTRAIN_ARMS = ("action_only", "cotrained")  # qa_fraction 0, and > 0 (one co-trained fraction per result)
QA_KINDS = (*QA_TYPES, "all")  # the question types and each split's pooled row (vla/apps/eval_qa.py)


def _arm_runs(f: dict, arm: str) -> list[dict]:
    return [r for r in f["runs"] if (r["qa_fraction"] > 0) == (arm == "cotrained")]


def _cotrain_rate(arm: str, part: str, keys: list[str]) -> Fig:
    """An arm's training seeds pooled over `keys` of each run's counts ("counts") or QA ("qa")."""

    def fig(f: dict) -> str:
        wins, n = pool_pairs([r[part][k] for r in _arm_runs(f, arm) for k in keys if k in r[part]])
        return _rate_with_interval(wins, n) if n else NOT_MEASURED

    return fig


def _cotrain_steps(arm: str) -> Fig:
    def fig(f: dict) -> str:
        runs = sorted(_arm_runs(f, arm), key=lambda r: r["seed"])
        return ", ".join(str(r["steps"]) for r in runs) or NOT_MEASURED

    return fig


def _cotrain_figures() -> dict[str, Fig]:
    splits = {
        "train": ["train"],
        "heldout_phrasing": ["heldout_phrasing"],
        "pooled": ["train", "heldout_phrasing"],
    }
    return {
        **{f"{a}_{name}": _cotrain_rate(a, "counts", [f"average/{s}" for s in keys])
           for a in COTRAIN_ARMS for name, keys in splits.items()},
        **{f"{a}_{t}": _cotrain_rate(a, "counts", [f"{t}/{s}" for s in splits["pooled"]])
           for a in COTRAIN_ARMS for t in TASKS},
        **{f"{a}_qa_{s}" + ("" if k == "all" else f"_{k}"): _cotrain_rate(a, "qa", [f"{s}/{k}"])
           for a in COTRAIN_ARMS for s in ("train", "heldout") for k in QA_KINDS},
        **{f"{a}_steps": _cotrain_steps(a) for a in COTRAIN_ARMS},
    }  # fmt: skip


# ---------------------------------------------------------------- where a demo ends (bench_demo_end)
DEMO_END_ARMS = ("ends", "goes_on")  # demos ending on success; the same demos going on past it


def _demo_end(arm: str, render: Callable[[list[dict]], str]) -> Fig:
    """A figure of an arm's runs (its training seeds, by seed); not measured without one."""

    def fig(f: dict) -> str:
        runs = sorted((r for r in f["runs"] if r["arm"] == arm), key=lambda r: r["seed"])
        return render(runs) if runs else NOT_MEASURED

    return fig


def _demo_end_rate(runs: list[dict], splits: list[str]) -> str:
    return _rate_with_interval(*pool_pairs([r["counts"][f"PickCube/{s}"] for r in runs for s in splits]))


def _demo_end_figures() -> dict[str, Fig]:
    """Each arm's training seeds pooled (success), or listed in seed order (steps, validation, lifts)."""
    splits = {
        "train": ["train"],
        "heldout_phrasing": ["heldout_phrasing"],
        "pooled": ["train", "heldout_phrasing"],
    }
    out: dict[str, Fig] = {}
    for a in DEMO_END_ARMS:
        for name, keys in splits.items():
            out[f"{a}_{name}"] = _demo_end(a, lambda runs, keys=keys: _demo_end_rate(runs, keys))
        out[f"{a}_steps"] = _demo_end(a, lambda runs: ", ".join(str(r["steps"]) for r in runs))
        out[f"{a}_val"] = _demo_end(a, lambda runs: "; ".join(_val_outcomes(r["validation"]) for r in runs))
        out[f"{a}_lifts"] = _demo_end(a, lambda runs: "; ".join(lifts_text(r["validation"]) for r in runs))
    return out


def lifts_text(v: dict) -> str:
    """ "4.2, 5.1": how high each failed held cube was lifted (cm) in one run's validation episodes."""
    return ", ".join(f"{h['lift_cm']:.1f}" for h in v["holds"]) or "none"


def _val_outcomes(v: dict) -> str:
    """ "10/20 succeeded, 6 held and dropped, 1 wrong cube": one run's validation episodes, headline."""
    n, o = sum(v["outcomes"].values()), v["outcomes"]
    held, wrong = o.get("held, dropped", 0), o.get("wrong cube", 0)
    return f"{o.get('success', 0)}/{n} succeeded, {held} held and dropped, {wrong} wrong cube"


# ---------------------------------------------------------------- one lever on the six-task VLA (bench_lever)
LEVER_POLICY = "vla_multitask"


def outcomes_text(outcomes: dict[str, int]) -> str:
    """ "4/20 succeeded, 11 wrong cube, 5 never close": one run's validation episodes on one task, the
    outcomes in the order stored (failures.py's), those that happened."""
    n, rest = sum(outcomes.values()), [f"{c} {o}" for o, c in outcomes.items() if o != "success" and c]
    return ", ".join([f"{outcomes.get('success', 0)}/{n} succeeded", *rest])


def probe_text(losses: dict[str, float]) -> str:
    """ "2.65 / 6.10": the probe's loss at episode starts as is / with the instruction swapped."""
    return f"{losses['as is']:.2f} / {losses['task swapped']:.2f}"


def _lever_figures() -> dict[str, Fig]:
    """bench_lever's runs as the wide evaluation's, and per run its validation outcomes and its probe."""
    return {
        **_wide_figures((LEVER_POLICY,)),
        **{
            f"{s}_val_{env}": _of_wide_run(
                LEVER_POLICY, s, lambda run, env=env: outcomes_text(run["validation"][env]["outcomes"])
            )
            for s in WIDE_SEEDS
            for env in ("touch_cube", "pick_cube")
        },
        **{
            f"{s}_probe": _of_wide_run(LEVER_POLICY, s, lambda run: probe_text(run["probe"]))
            for s in WIDE_SEEDS
        },
    }


FIGURES: dict[str, dict[str, Fig]] = {
    "compare": {
        **{
            f"{p}_{split}": _compare_success(p, split)
            for p in COMPARED
            for split in ("train", "heldout_phrasing")
        },
        **{f"{p}_steps": _compare_field(p, "step", ".0f") for p in COMPARED},
        **{f"{p}_p50_ms": _compare_field(p, "p50_ms", ".0f") for p in COMPARED},
    },
    "compare_pick": {
        **{
            f"{p}_{split}": _compare_success(p, split, "PickCube")
            for p in COMPARED_PICK
            for split in ("train", "heldout_phrasing")
        },
        **{f"{p}_pooled": _compare_pooled(p, "PickCube") for p in COMPARED_PICK},
        **{f"{p}_steps": _compare_field(p, "step", ".0f") for p in COMPARED_PICK},
        **{f"{p}_p50_ms": _compare_field(p, "p50_ms", ".0f") for p in COMPARED_PICK},
    },
    "compare_600": {
        **{
            f"{p}_{split}": _compare_success(p, split)
            for p in COMPARED_600
            for split in ("train", "heldout_phrasing")
        },
        **{f"{p}_pooled": _compare_pooled(p, "average") for p in COMPARED_600},
        **{f"{p}_{task}": _compare_task(p, task) for p in COMPARED_600 for task in TASKS},
        **{f"{p}_steps": _compare_field(p, "step", ".0f") for p in COMPARED_600},
        **{f"{p}_p50_ms": _compare_field(p, "p50_ms", ".0f") for p in COMPARED_600},
    },
    "compare_mt10": {
        **{
            f"{p}_{split}": _compare_success(p, split)
            for p in COMPARED_MT10
            for split in ("train", "heldout_phrasing")
        },
        **{f"{p}_pooled": _compare_pooled(p, "average") for p in COMPARED_MT10},
        **{f"{p}_steps": _compare_field(p, "step", ".0f") for p in COMPARED_MT10},
        **{f"{p}_p50_ms": _compare_field(p, "p50_ms", ".0f") for p in COMPARED_MT10},
    },
    "compare_600_wide": _wide_figures(COMPARED_600),
    "compare_600_4500_wide": _wide_figures(COMPARED_600),
    "cotrain_600": _cotrain_figures(),
    "demo_end": _demo_end_figures(),
    "lever_episode_start_fraction": _lever_figures(),
}
