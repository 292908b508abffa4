"""benchmarks/bench_cotrain.py's bookkeeping: arms, pooled seeds and the QA tables, on counts written by
hand (the evaluation itself runs on real co-trained checkpoints in tests/vla/apps/test_compare.py, slow)."""

from pathlib import Path

from benchmarks.bench_compare_wide import WideRun, with_average
from benchmarks.bench_cotrain import CotrainRun, arm_table, arms, qa_counts, qa_table, run_table, sum_counts


def _run(seed: str, qa_fraction: float, touch: int, pick: int, qa: dict | None = None) -> CotrainRun:
    """10 episodes per task and split; `touch` and `pick` successes on the train split, 1 held out each."""
    counts = {
        "TouchCube/train": [touch, 10], "TouchCube/heldout_phrasing": [1, 10],
        "PickCube/train": [pick, 10], "PickCube/heldout_phrasing": [1, 10],
    }  # fmt: skip
    run = WideRun(Path(seed), Path(seed), "vla_multitask", seed, 100, "abc1234", with_average(counts))
    return CotrainRun(run, qa_fraction, qa or {})


def _qa_rows(split: str, count_right: int, colour_right: int) -> list[dict]:
    """Rows as vla/apps/eval_qa.summarize_qa writes them: 10 count and 20 colour questions, and all."""
    return [
        {"split": split, "type": "count", "correct": count_right, "questions": 10},
        {"split": split, "type": "colour_at_position", "correct": colour_right, "questions": 20},
        {"split": split, "type": "all", "correct": count_right + colour_right, "questions": 30},
    ]


def test_qa_counts_sum_datasets_per_split_and_type():
    touch, place = _qa_rows("train", 10, 4), _qa_rows("train", 5, 0) + _qa_rows("heldout", 2, 1)
    counts = qa_counts([touch, place])
    assert counts["train/count"] == [15, 20] and counts["train/colour_at_position"] == [4, 40]
    assert counts["train/all"] == [19, 60] and counts["heldout/all"] == [3, 30]
    assert sum_counts([{"a": [1, 2]}, {"a": [3, 4], "b": [0, 1]}]) == {"a": [4, 6], "b": [0, 1]}


def test_arms_are_split_by_qa_fraction_action_only_first():
    runs = [_run("1", 0.2, 3, 2), _run("0", 0.0, 5, 1), _run("0", 0.2, 4, 0), _run("1", 0.0, 2, 2)]
    grouped = arms(runs)
    assert list(grouped) == ["action-only", "co-trained, qa_fraction 0.2"]
    assert [r.run.seed for r in grouped["action-only"]] == ["0", "1"]


def test_arm_table_pools_the_seeds_with_intervals():
    runs = [_run("0", 0.0, 5, 1), _run("1", 0.0, 2, 2), _run("0", 0.5, 4, 0)]
    lines = arm_table(runs).splitlines()
    assert lines[0] == (
        "| arm | seeds | TouchCube | PickCube | average, train | average, heldout_phrasing | pooled |"
    )
    # action-only: TouchCube (5+1) + (2+1) of 40, PickCube (1+1) + (2+1);
    # train average (5+1+2+2) of 40; pooled 14 of 80
    assert lines[2].startswith("| action-only | 0, 1 | 22% (9/40) [0.12, 0.38] | 12% (5/40) [0.05, 0.26] |")
    assert lines[2].endswith(
        "| 25% (10/40) [0.14, 0.40] | 10% (4/40) [0.04, 0.23] | 18% (14/80) [0.11, 0.27] |"
    )
    assert lines[3].startswith("| co-trained, qa_fraction 0.5 | 0 | 25% (5/20) [0.11, 0.47] |")


def test_run_and_qa_tables_say_what_was_not_asked():
    asked = qa_counts([_qa_rows("train", 10, 4) + _qa_rows("heldout", 3, 2)])
    runs = [_run("0", 0.0, 5, 1), _run("0", 0.5, 4, 0, asked)]
    lines = run_table(runs).splitlines()
    assert lines[2].startswith("| action-only | 0 | 100 | 6/20 | 2/20 |")
    assert lines[2].endswith("| not asked | not asked | `abc1234` |")
    assert "| 47% (14/30) [0.30, 0.64] | 17% (5/30) [0.07, 0.34] | `abc1234` |" in lines[3]
    qa = qa_table(runs).splitlines()
    assert qa[0] == (
        "| type | action-only, train phrasings | action-only, heldout phrasings | "
        "co-trained, qa_fraction 0.5, train phrasings | co-trained, qa_fraction 0.5, heldout phrasings |"
    )
    assert qa[2] == "| colour_at_position | - | - | 20% (4/20) [0.08, 0.42] | 10% (2/20) [0.03, 0.30] |"
    assert qa[-1].startswith("| all | - | - | 47% (14/30)")


def test_page_figures_pool_each_arms_seeds():
    from benchmarks.figures_compare import FIGURES

    asked = qa_counts([_qa_rows("train", 10, 4) + _qa_rows("heldout", 3, 2)])
    runs = [_run("0", 0.0, 5, 1), _run("1", 0.0, 2, 2), _run("0", 0.2, 4, 0, asked)]
    figures = {"runs": [{"qa_fraction": r.qa_fraction, "seed": r.run.seed, "steps": 100 + i,
                         "counts": r.run.counts, "qa": r.qa} for i, r in enumerate(runs)]}  # fmt: skip
    fig = FIGURES["cotrain_600"]
    assert fig["action_only_train"](figures) == "25% (10/40, [0.14, 0.40])"
    assert fig["action_only_pooled"](figures) == "18% (14/80, [0.11, 0.27])"
    assert fig["cotrained_TouchCube"](figures) == "25% (5/20, [0.11, 0.47])"
    assert fig["cotrained_qa_heldout"](figures) == "17% (5/30, [0.07, 0.34])"
    assert fig["action_only_qa_train"](figures) == "not measured"  # never asked
    assert fig["action_only_steps"](figures) == "100, 101" and fig["cotrained_steps"](figures) == "102"


def test_a_qa_dataset_without_its_file_stops_before_any_evaluation(tmp_path: Path):
    import pytest

    from benchmarks.bench_cotrain import main

    with pytest.raises(SystemExit, match=r"no scene QA file .*generate it with `vla dataset qa "):
        main([str(tmp_path / "sweep"), "--qa-dataset", str(tmp_path), "--no-write"])
