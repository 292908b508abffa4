"""benchmarks/bench_demo_end.py's bookkeeping on counts and validation outcomes written by hand: which demos a
run trained on, its table row and the figures the docs quote (the recording it reads is tested on real
episodes in tests/vla/apps/test_record.py; the evaluation as bench_compare_wide's)."""

import json
from pathlib import Path

import pytest

from benchmarks.bench_compare_wide import WideRun, last_eval_counts
from benchmarks.bench_demo_end import after_success_steps, table
from benchmarks.figures_compare import FIGURES
from vla.checkpoint import step_dir_name

HOLDS = [
    {"left": "released", "command_mm": 20.0, "lift_cm": 4.2},
    {"left": "held to the end", "command_mm": 0.1, "lift_cm": 5.1},
]
VALIDATION = {"outcomes": {"success": 9, "held, dropped": 2, "wrong cube": 9}, "holds": HOLDS}


def _run(train: int, heldout: int) -> WideRun:
    counts = {"PickCube/train": [train, 50], "PickCube/heldout_phrasing": [heldout, 50]}
    return WideRun(Path("job"), Path("run"), "vla_multitask", "0", 4800, "abc1234", counts)


def _job(tmp_path: Path, name: str, sidecar_rows: list[dict], roots: int = 1) -> Path:
    root, job = tmp_path / name / "data", tmp_path / name / "job"
    (root / "meta").mkdir(parents=True)
    (root / "meta" / "vla_episodes.jsonl").write_text("".join(json.dumps(r) + "\n" for r in sidecar_rows))
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "config.yaml").write_text(f"dataset:\n  roots: {[str(root)] * roots}\n")
    return job


def test_after_success_steps_read_from_the_runs_dataset(tmp_path: Path) -> None:
    assert after_success_steps(_job(tmp_path, "a", [{"episode_index": 0, "after_success_steps": 9}])) == 9
    assert after_success_steps(_job(tmp_path, "b", [{"episode_index": 0}])) == 0  # recorded ending on success
    with pytest.raises(SystemExit, match="trained on 2 datasets"):
        after_success_steps(_job(tmp_path, "c", [{"episode_index": 0}], roots=2))
    mixed = [{"episode_index": 0}, {"episode_index": 1, "after_success_steps": 9}]  # appended, other setting
    with pytest.raises(SystemExit, match=r"go on \[0, 9\] steps"):
        after_success_steps(_job(tmp_path, "d", mixed))


def test_table_row_per_run_with_validation_outcomes_and_holds() -> None:
    empty = {"outcomes": {"success": 1, "never close": 19}, "holds": []}
    lines = table([_run(10, 8), _run(20, 15)], [0, 9], [empty, VALIDATION], fps=30).splitlines()
    assert lines[0].endswith(
        "| validation: success / held, dropped / missed grasp / wrong cube / never close "
        "| held, dropped: held to the end / released / slipped | held, dropped: lifted (cm) | trained at |"
    )
    assert lines[2].startswith("| end on success | 0 | 4800 | 20% (10/50) [0.11, 0.33] | 16% (8/50)")
    assert "| 1 / 0 / 0 / 0 / 19 | 0 / 0 / 0 | none |" in lines[2]
    assert lines[3].startswith("| go on 9 steps (0.3 s) | 0 | 4800 | 40% (20/50)")
    assert "| 9 / 2 / 0 / 9 / 0 | 1 / 1 / 0 | 4.2, 5.1 | `abc1234` |" in lines[3]  # held to the end first


def test_figures_pool_each_arms_seeds_and_say_when_one_is_missing() -> None:
    seed_1 = {
        "arm": "goes_on",
        "seed": "1",
        "steps": 4700,
        "counts": _run(5, 5).counts,
        "validation": VALIDATION,
    }
    seed_0 = {**seed_1, "seed": "0", "steps": 4800, "counts": _run(20, 15).counts}
    figures, f = FIGURES["demo_end"], {"runs": [seed_1, seed_0]}
    assert figures["goes_on_pooled"](f) == "22% (45/200, [0.17, 0.29])"
    assert figures["goes_on_train"](f) == "25% (25/100, [0.18, 0.34])"
    assert figures["goes_on_steps"](f) == "4800, 4700"  # in training-seed order
    one_run = "9/20 succeeded, 2 held and dropped, 9 wrong cube"
    assert figures["goes_on_val"](f) == f"{one_run}; {one_run}"
    assert figures["goes_on_lifts"](f) == "4.2, 5.1; 4.2, 5.1"
    assert figures["ends_pooled"](f) == "not measured"


def test_the_evaluation_that_ended_training_is_reused_when_it_ran_the_same_episodes(tmp_path: Path) -> None:
    report = {
        "rows": [
            {"task": "PickCube", "split": "train", "episodes": 50, "successes": 8},
            {"task": "TouchCube", "split": "train", "episodes": 50, "successes": 2},
            {"task": "average", "split": "train", "episodes": 100, "successes": 10},  # a multi-task eval's
        ]
    }
    step_dir = tmp_path / "eval" / step_dir_name(4800)
    step_dir.mkdir(parents=True)
    (step_dir / "report.json").write_text(json.dumps(report))
    # the same shape as a new evaluation's counts (bench_compare_wide.evaluate_run): with the average rows
    counts = last_eval_counts(tmp_path, tmp_path, 4800, 50)
    assert counts == {"PickCube/train": [8, 50], "TouchCube/train": [2, 50], "average/train": [10, 100]}
