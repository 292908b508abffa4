"""Several tasks: training on several recorded datasets (by weight, within a time budget) and evaluating
per task with an average row (the multi-task env's tasks one by one, or a list of env configs)."""

import json
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import yaml
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from safetensors.torch import load_file

from tests.vla.apps.conftest import compose_train
from tests.vla.conftest import ENV_ID, ENV_KWARGS
from vla import checkpoint as ckpt
from vla.apps.eval import eval_tasks, evaluate, load_policy, success_metrics
from vla.apps.eval_episodes import EpisodeResult
from vla.apps.eval_report import summarize
from vla.apps.record import record_dataset
from vla.apps.train import train
from vla.config import CONF_DIR
from vla.constants import ACTION
from vla.data.dataset import load_stats
from vla.logging_utils import read_metrics
from vla.training.validate import ConfigError, validate_eval, validate_train

pytestmark = pytest.mark.filterwarnings("ignore:Cannot enable progress bars")  # lerobot vs our quiet default

ROOT = Path(__file__).resolve().parents[3]
EVAL = {
    "n_episodes": 2, "n_envs": 2, "splits": ["train", "heldout_phrasing"], "seed_base": 500,
    "max_steps": None, "n_videos": 1, "video_size": 64,
}  # fmt: skip


def test_multitask_env_gives_each_task_the_same_seeded_episodes(tmp_path: Path) -> None:
    env = {
        "id": "vla/MultiTask-v0",
        "kwargs": {"image_size": 64, "cameras": ["front"], "tasks": ["TouchCube", "PickCube"]},
    }
    policy, label = load_policy(None, "expert")
    report = evaluate(policy, label, env, EVAL, tmp_path)
    rows = {(r["task"], r["split"]): r for r in report["rows"]}
    assert list(rows) == [
        (task, split) for task in ("TouchCube", "PickCube", "average") for split in EVAL["splits"]
    ]
    for (task, _), row in rows.items():
        assert row["episodes"] == (4 if task == "average" else 2) and row["success_rate"] == 1.0
    assert [(t["name"], t["max_steps"]) for t in report["tasks"]] == [("TouchCube", 40), ("PickCube", 50)]
    direct = gym.make("vla/MultiTask-v0", tasks=["PickCube"], image_size=64, cameras=["front"])
    direct.reset(seed=501)  # the task is fixed, the seed alone decides the scene and the instruction
    picks = [e for e in report["episodes"] if e["task"] == "PickCube" and e["split"] == "train"]
    assert [e["seed"] for e in picks] == [500, 501] and picks[1][
        "instruction"
    ] == direct.unwrapped.task_description
    direct.close()
    assert success_metrics(report) == {
        "success/train": 1.0, "success/heldout_phrasing": 1.0,
        **{f"task_success/{t}/{s}": 1.0 for t in ("TouchCube", "PickCube") for s in EVAL["splits"]},
    }  # fmt: skip
    assert "| **average** | train | 100% (4/4) |" in (tmp_path / "report.md").read_text()
    assert sorted(Path(v).name for v in report["files"]["videos"]) == sorted(
        f"{t}_{s}_seed500.mp4" for t in ("TouchCube", "PickCube") for s in EVAL["splits"]
    )


def test_average_row_is_the_mean_over_tasks_with_a_pooled_wilson_interval() -> None:
    outcomes = {"PickCube": [1, 1, 1, 0], "PushCube": [1, 0, 0, 0]}  # 75% and 25%
    episodes = [
        EpisodeResult(task, "train", seed, success=bool(ok), length=5)
        for task, oks in outcomes.items()
        for seed, ok in enumerate(oks)
    ]
    rows = summarize(episodes)
    assert rows[-1] | {"ci95_low": 0, "ci95_high": 0} == {
        "task": "average", "split": "train", "episodes": 8, "successes": 4, "success_rate": 0.5,
        "ci95_low": 0, "ci95_high": 0, "mean_length": 5.0,
    }  # fmt: skip
    assert rows[-1]["ci95_low"] == pytest.approx(0.2152, abs=1e-4)  # Wilson, 4 of 8
    metrics = success_metrics({"rows": rows})
    assert metrics == {
        "success/train": 0.5,
        "task_success/PickCube/train": 0.75,
        "task_success/PushCube/train": 0.25,
    }


def _compose_eval(*overrides: str) -> dict:
    with initialize_config_dir(CONF_DIR, version_base="1.3"):
        cfg = compose("eval", overrides=list(overrides))
    validate_eval(cfg)
    return OmegaConf.to_container(cfg, resolve=True)


def test_eval_envs_take_their_configs_with_the_env_groups_shared_kwargs() -> None:
    cfg = _compose_eval(
        "eval.envs=[touch_cube,push_cube]", "env.kwargs.image_size=64", "env.kwargs.control_hz=30"
    )
    tasks = eval_tasks(cfg["env"], cfg["eval"])
    assert [(t.name, t.env_id, t.max_steps) for t in tasks] == [
        ("TouchCube", "vla/TouchCube-v0", 120), ("PushCube", "vla/PushCube-v0", 240),  # 4 s / 8 s at 30 Hz
    ]  # fmt: skip
    assert all(t.kwargs["image_size"] == 64 and t.kwargs["control_hz"] == 30 for t in tasks)
    assert "layout" not in tasks[1].kwargs  # push_cube.yaml has no layout: nothing foreign is passed
    with pytest.raises(ConfigError, match=r"evaluates \['PickCube'\] twice"):
        eval_tasks(cfg["env"], {**cfg["eval"], "envs": ["pick_cube", "multitask"]})
    with pytest.raises(ConfigError, match=r"eval.envs=\['pick_cube', 'nope'\]: must be null .* drawn from"):
        _compose_eval("eval.envs=[pick_cube,nope]")


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        (
            ["dataset.root=/d/x", "dataset.roots=[/d/a,/d/b]"],
            "are both set: give one (fix: `dataset.root=null`",
        ),
        (["dataset.root=null"], "neither dataset.root nor dataset.roots is set"),
        (["dataset.roots=[/d/a,/d/b]", "dataset.weights=[1]"], "dataset.weights=[1]: must be 2 numbers > 0"),
        (["dataset.roots=[/d/a,/d/b]", "dataset.weights=[1,0]"], "dataset.weights=[1, 0]: must be 2 numbers"),
        (["dataset.weights=[1,2]"], "dataset.weights=[1, 2] needs dataset.roots"),
        (["dataset.roots=[/d/a,/d/a]"], "dataset.roots lists ['/d/a'] twice"),
        (["dataset.roots=[]"], "dataset.roots=[]: must be a non-empty list"),
        (["train.max_seconds=0"], "train.max_seconds=0: must be null (no time budget) or"),
    ],
)
def test_bad_dataset_lists_and_budgets_are_named(overrides: list[str], named: str) -> None:
    with pytest.raises(ConfigError, match="fix: ") as err:
        validate_train(compose_train(*overrides))
    assert named in str(err.value)


def test_roots_replace_the_default_root() -> None:
    validate_train(
        compose_train("dataset.roots=[/d/a,/d/b]", "dataset.weights=[2,1]", "train.max_seconds=60")
    )


def test_datasets_that_differ_fail_before_work(tmp_path: Path, recorded: Path) -> None:
    """Two sound datasets recorded at different rates (each passes `vla dataset check`) cannot train
    together: the error names both and the key."""
    other = tmp_path / "at30"
    record_dataset(ENV_ID, other, 1, "train", 0, env_kwargs={**ENV_KWARGS, "control_hz": 30}, progress=False)
    roots = f"dataset.roots=[{recorded},{other}]"
    cfg = compose_train(
        "experiment=debug", "dataset.root=null", roots, "env.kwargs.image_size=64", f"run_dir={tmp_path}/run"
    )
    with pytest.raises(
        ConfigError, match=rf"dataset.roots: dataset {other} has fps 30 but dataset {recorded} has 10"
    ):
        train(cfg)
    cfg.dataset.roots = [str(recorded), str(tmp_path / "none")]
    with pytest.raises(ConfigError, match="hold no dataset; record each with `vla record"):
        train(cfg)
    assert not (tmp_path / "run").exists()


def test_two_datasets_train_to_a_time_budget_and_resume_with_what_is_left(
    tmp_path: Path, recorded: Path, recorded_push: Path
) -> None:
    """PickCube + PushCube demos weighted 1:3, evaluated per task; training stops on train.max_seconds,
    saves, evaluates, and a resume gets only the budget that is left."""
    run = tmp_path / "run"
    common = [
        "experiment=debug", "dataset.root=null", f"dataset.roots=[{recorded},{recorded_push}]",
        "dataset.weights=[1,3]", "env.kwargs.image_size=64", "train.steps=1000", "train.save_every=1000",
    ]  # fmt: skip
    train(compose_train(*common, "train.max_seconds=2", "eval.envs=[pick_cube,push_cube]", f"run_dir={run}"))
    step = int(ckpt.resolve_checkpoint(run).name.removeprefix("step_"))
    state = json.loads((ckpt.resolve_checkpoint(run) / "training_state" / "state.json").read_text())
    assert 1 <= step < 1000 and state["elapsed_s"] >= 2
    records = read_metrics(run)
    trained = [r for r in records if r["split"] == "train"]
    assert trained[-1]["step"] == step and trained[-1]["elapsed_s"] == state["elapsed_s"]
    assert len(trained) == 1 or trained[-2]["elapsed_s"] < 2  # it stopped at the first step past the budget
    (evaluation,) = [r for r in records if r["split"] == "eval"]
    per_task = [evaluation[f"task_success/{t}/train"] for t in ("PickCube", "PushCube")]
    assert evaluation["step"] == step and evaluation["success/train"] == np.mean(per_task)
    saved = yaml.safe_load((ckpt.resolve_checkpoint(run) / "config.yaml").read_text())
    assert saved["dataset"]["root"] is None and saved["dataset"]["roots"] == [
        str(recorded),
        str(recorded_push),
    ]
    normalizer = load_file(str(ckpt.resolve_checkpoint(run) / ckpt.PRETRAINED / "normalizer.safetensors"))
    union = load_stats([recorded, recorded_push])[ACTION]
    np.testing.assert_allclose(normalizer[f"{ACTION}/q01"].numpy(), union["q01"])  # the tokenizer's range

    # the budget is spent: resuming with the same one trains nothing
    train(compose_train(*common, "train.max_seconds=2", f"resume={run}", "train.eval_at_end=false"))
    assert ckpt.resolve_checkpoint(run).name == f"step_{step:06d}"
    # a larger budget: only what is left of it, whatever one step takes on this machine
    budget = round(state["elapsed_s"] + 0.5, 3)
    train(compose_train(*common, f"train.max_seconds={budget}", f"resume={run}", "train.eval_at_end=false"))
    trained = [r for r in read_metrics(run) if r["split"] == "train"]
    assert (
        trained[-1]["step"] > step and ckpt.resolve_checkpoint(run).name == f"step_{trained[-1]['step']:06d}"
    )
    assert trained[-2]["elapsed_s"] < budget <= trained[-1]["elapsed_s"]  # counted over both sessions


@pytest.mark.slow
def test_cli_evaluates_the_six_tasks_of_the_multitask_env(tmp_path: Path) -> None:
    """`vla eval env=multitask`: the scripted expert, 5 episodes per task and split, every task solved."""
    out = tmp_path / "eval"
    cmd = [
        sys.executable, "-m", "vla.cli", "eval", "policy_name=expert", "env=multitask",
        "eval.n_episodes=5", "eval.n_videos=0", f"output_dir={out}",
    ]  # fmt: skip
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    tasks = ["TouchCube", "PickCube", "PushCube", "SlideCube", "PlaceInBowl", "StackCube"]
    assert [t["name"] for t in report["tasks"]] == tasks
    splits = ["train", "heldout_phrasing", "heldout_combo"]
    assert [(r["task"], r["split"]) for r in report["rows"]] == [
        (t, s) for t in [*tasks, "average"] for s in splits
    ]
    assert all(r["episodes"] == (30 if r["task"] == "average" else 5) for r in report["rows"])
    assert all(r["success_rate"] >= 0.8 for r in report["rows"]), report["rows"]
    assert "| **average** | heldout_combo |" in proc.stdout
