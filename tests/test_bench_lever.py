"""benchmarks/bench_lever.py: a real run (the debug experiment's VLA, a few steps on real TouchCube demos)
read from its own config, classified on real TouchCube and PickCube episodes and probed on its dataset's
episode starts; and the bookkeeping on counts written by hand (the target against published baselines,
the table, the figures the docs quote, runs evaluated on other seeds refused)."""

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from benchmarks.bench_compare_wide import WideRun, target_check
from benchmarks.bench_lever import (
    check_same_evaluation,
    config_value,
    peer_runs,
    preset_eval,
    probe_starts,
    table,
    validation,
)
from benchmarks.figures_compare import FIGURES
from scripts.experiments.failures import OUTCOMES
from tests.vla.apps.conftest import compose_train

TASKS = ("TouchCube", "PickCube")


@pytest.fixture(scope="module")
def lever_run(tmp_path_factory: pytest.TempPathFactory) -> WideRun:
    """The debug experiment's VLA trained 4 steps on 2 TouchCube demos with the lever set, and a job dir
    holding its config as a sweep's job does (.hydra/config.yaml)."""
    from vla.apps.record import record_dataset
    from vla.apps.train import train

    tmp = tmp_path_factory.mktemp("lever")
    root, run, job = tmp / "data" / "touch_cube", tmp / "run", tmp / "job"
    record_dataset(
        "vla/TouchCube-v0", root, num_episodes=2, split="train", seeds=1000,
        env_kwargs={"image_size": 96, "cameras": ["front", "wrist"]}, progress=False,
    )  # fmt: skip
    cfg = compose_train(
        "experiment=debug", "dataset.root=null", f"dataset.roots=[{root}]", f"run_dir={run}",
        "train.episode_start_fraction=0.8", "train.eval_at_end=false",
    )  # fmt: skip
    train(cfg)
    (job / ".hydra").mkdir(parents=True)
    OmegaConf.save(cfg, job / ".hydra" / "config.yaml")
    return WideRun(job, run, "vla_multitask", "0", 4, "abc1234")


def test_a_run_is_classified_on_validation_seeds_at_its_own_settings(lever_run: WideRun) -> None:
    for env in ("touch_cube", "pick_cube"):
        found = validation(lever_run, env, episodes=1, seed_base=200000)
        assert tuple(found["outcomes"]) == OUTCOMES[env]  # every outcome of failures.py, in its order
        assert sum(found["outcomes"].values()) == 1
    config = OmegaConf.load(lever_run.job_dir / ".hydra" / "config.yaml")
    assert config_value(config, "train.episode_start_fraction") == "0.8"
    with pytest.raises(SystemExit, match=r"train\.episode_start_fractoin: not a key"):
        config_value(config, "train.episode_start_fractoin")


def test_the_probe_reads_the_runs_touch_cube_episode_starts(lever_run: WideRun, tmp_path: Path) -> None:
    losses = probe_starts(lever_run.job_dir, lever_run.run_dir, samples=2)
    assert {"as is", "task swapped"} <= losses.keys()
    assert all(v == v and v > 0 for v in losses.values())  # finite, positive cross-entropies
    other = tmp_path / "job"
    (other / ".hydra").mkdir(parents=True)
    (other / ".hydra" / "config.yaml").write_text("dataset:\n  root: null\n  roots: [data/pick_cube]\n")
    with pytest.raises(SystemExit, match="no touch_cube dataset"):
        probe_starts(other, lever_run.run_dir, samples=2)


def test_runs_evaluated_on_other_seeds_than_the_published_ones_are_refused(lever_run: WideRun) -> None:
    _, published_eval = preset_eval("compare_600_4500")
    assert published_eval["seed_base"] == 100000
    assert published_eval["splits"] == ["train", "heldout_phrasing"]
    with pytest.raises(
        SystemExit, match=r"eval.splits=\['train'\], the published runs used \['train', 'held"
    ):
        check_same_evaluation([lever_run], published_eval)  # the debug experiment evaluates one split
    with pytest.raises(SystemExit, match=r"eval.seed_base=100000, the published runs used 200000"):
        check_same_evaluation([lever_run], {"seed_base": 200000, "splits": ["train"]})
    check_same_evaluation([lever_run], {"seed_base": 100000, "splits": ["train"]})  # the same: passes


def _counts(touch: int, pick: int) -> dict[str, list[int]]:
    splits = ("train", "heldout_phrasing")
    counts = {f"{t}/{s}": [n, 50] for t, n in zip(TASKS, (touch, pick), strict=True) for s in splits}
    return {**counts, **{f"average/{s}": [touch + pick, 100] for s in splits}}


def _published() -> dict:
    peer = {"seed": "0", "steps": 1000, "commit": "def5678"}
    return {
        "episodes": 50,
        "runs": [
            {**peer, "policy": "smolvla", "counts": _counts(10, 2)},
            {**peer, "policy": "act", "counts": _counts(10, 0)},
            {**peer, "policy": "diffusion_ddim", "counts": _counts(5, 0)},
            {**peer, "policy": "vla_multitask", "counts": _counts(40, 40)},  # ours at the preset's value
        ],
    }


def test_target_against_the_published_baselines_the_table_and_the_figures() -> None:
    ours = [
        WideRun(
            Path("j1"), Path("r1"), "vla_multitask", "1", 9000, "abc1234", _counts(30, 2)
        ),  # ties SmolVLA
        WideRun(Path("j2"), Path("r2"), "vla_multitask", "2", 8800, "abc1234", _counts(10, 3)),  # ties ACT
    ]
    checks = target_check(ours + peer_runs(_published()), "vla_multitask")  # the published ours not a peer
    assert [c["tasks_met"] for c in checks] == [["TouchCube", "PickCube"], ["PickCube"]]
    touch = {"success": 4, "held, dropped": 0, "missed grasp": 0, "wrong cube": 11, "never close": 5}
    rows = [
        {
            "value": "0.8", "policy": "vla_multitask", "seed": r.seed, "steps": r.steps, "commit": r.commit,
            "counts": r.counts, "target": c, "probe": {"as is": 2.651, "task swapped": 6.104},
            "validation": {"touch_cube": {"outcomes": touch}, "pick_cube": {"outcomes": touch}},
        }
        for r, c in zip(ours, checks, strict=True)
    ]  # fmt: skip
    lines = table("train.episode_start_fraction", rows).splitlines()
    assert lines[0].startswith(
        "| train.episode_start_fraction | training seed | steps | TouchCube | PickCube |"
    )
    assert (
        "validation touch_cube: success / held, dropped / missed grasp / wrong cube / never close" in lines[0]
    )
    assert lines[2].startswith("| 0.8 | 1 | 9000 | 30/50, 30/50 | 2/50, 2/50 | 32% (32/100)")
    assert (
        "| 2 of 2 (TouchCube, PickCube) | 4 / 0 / 0 / 11 / 5 | 4 / 0 / 0 / 11 / 5 | 2.65 / 6.10 |" in lines[2]
    )
    figures, f = FIGURES["lever_episode_start_fraction"], {"runs": rows, "target": checks}
    assert figures["1_val_touch_cube"](f) == "4/20 succeeded, 11 wrong cube, 5 never close"
    assert figures["1_probe"](f) == "2.65 / 6.10"
    assert figures["target_2"](f) == "1 of 2 (PickCube)"
    assert figures["vla_multitask_1_pooled"](f) == "32% (64/200, [0.26, 0.39])"
    assert figures["vla_multitask_seeds_pooled"](f) == "22% (90/400, [0.19, 0.27]) over 2 training seeds"
    assert figures["0_probe"](f) == "not measured"
