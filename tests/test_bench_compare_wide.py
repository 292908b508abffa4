"""benchmarks/bench_compare_wide.py's bookkeeping: the per-task target and the table, on counts written by
hand (the evaluation itself runs on a real sweep's checkpoints in tests/vla/apps/test_compare.py, slow)."""

from pathlib import Path

from benchmarks.bench_compare_wide import WideRun, pooled, table, target_check, with_average
from benchmarks.figures_compare import seeds_pooled, target_text


def _run(policy: str, seed: str, touch: tuple[int, int], pick: tuple[int, int]) -> WideRun:
    """A run with 10 episodes per task and split: (train, held-out) successes on TouchCube and PickCube."""
    counts = {
        "TouchCube/train": [touch[0], 10], "TouchCube/heldout_phrasing": [touch[1], 10],
        "PickCube/train": [pick[0], 10], "PickCube/heldout_phrasing": [pick[1], 10],
    }  # fmt: skip
    return WideRun(Path(policy), Path(policy), policy, seed, 100, "abc1234", with_average(counts))


def test_the_average_row_pools_the_tasks_of_each_split():
    run = _run("vla", "0", (3, 1), (2, 0))
    assert run.counts["average/train"] == [5, 20] and run.counts["average/heldout_phrasing"] == [1, 20]
    assert pooled(run.counts, "TouchCube") == (4, 20) and pooled(run.counts, "average") == (6, 40)
    single = with_average({"PickCube/train": [7, 20]})  # one task: the task's own count
    assert single["average/train"] == [7, 20]


def test_target_is_at_least_smolvla_and_more_than_act_and_diffusion_per_task():
    runs = [
        _run("vla", "0", (5, 3), (1, 1)),  # Touch 8/20; Pick 2/20
        _run("vla", "1", (4, 4), (3, 1)),  # Touch 8/20; Pick 4/20
        _run("smolvla", "0", (4, 4), (2, 2)),  # Touch 8/20 (a tie is enough); Pick 4/20
        _run("act", "0", (2, 2), (0, 0)),
        _run("diffusion_ddim", "0", (3, 4), (0, 1)),  # Touch 7/20 (must be beaten)
    ]
    checks = target_check(runs, "vla")
    assert checks == [
        {"seed": "0", "tasks_met": ["TouchCube"], "of": 2, "peers": ["smolvla", "act", "diffusion_ddim"]},
        {
            "seed": "1",
            "tasks_met": ["TouchCube", "PickCube"],
            "of": 2,
            "peers": ["smolvla", "act", "diffusion_ddim"],
        },
    ]
    assert target_text(checks[1]) == "2 of 2 (TouchCube, PickCube)"
    act_ties = [*runs[:3], _run("act", "0", (4, 4), (0, 0)), runs[4]]  # 8/20 against ACT: not > it
    assert target_check(act_ties, "vla")[0]["tasks_met"] == []
    # a peer with several runs is pooled: smolvla 8/20 and 0/20 on Touch -> 8/40
    two_seeds = [*runs, _run("smolvla", "1", (0, 0), (0, 0))]
    assert target_check(two_seeds, "vla")[1]["tasks_met"] == ["TouchCube", "PickCube"]


def test_table_has_a_row_per_run_with_cells_averages_and_intervals():
    text = table([_run("vla", "0", (5, 3), (1, 1)), _run("act", "0", (2, 2), (0, 0))])
    lines = text.splitlines()
    assert lines[0] == (
        "| policy | training seed | steps | TouchCube | PickCube | average, train | "
        "average, heldout_phrasing | pooled | trained at |"
    )
    assert lines[2].startswith("| vla | 0 | 100 | 5/10, 3/10 | 1/10, 1/10 | 30% (6/20) [0.15, 0.52] |")
    assert lines[3].endswith("| 10% (4/40) [0.04, 0.23] | `abc1234` |")


def test_a_sweep_without_some_peers_is_checked_against_those_it_has_and_says_so():
    """A longer-budget comparison run a pair of policies at a time: ours and SmolVLA first."""
    runs = [_run("vla", "0", (5, 3), (1, 1)), _run("smolvla", "0", (4, 4), (2, 2))]
    (check,) = target_check(runs, "vla")
    assert check == {"seed": "0", "tasks_met": ["TouchCube"], "of": 2, "peers": ["smolvla"]}
    assert target_text(check) == "1 of 2 (TouchCube) against smolvla only"
    assert target_text({"tasks_met": [], "of": 6}) == "0 of 6 (none)"  # written before the key: all peers


def test_a_policys_training_seeds_pool_every_task_and_split():
    runs = [
        _run("vla", "0", (5, 3), (1, 1)),
        _run("vla", "1", (4, 4), (3, 1)),
        _run("act", "0", (2, 2), (0, 0)),
    ]
    as_results = [{"policy": r.policy, "counts": r.counts} for r in runs]
    assert seeds_pooled(as_results, "vla") == "28% (22/80, [0.19, 0.38]) over 2 training seeds"
    assert seeds_pooled(as_results, "smolvla") == "not measured"
