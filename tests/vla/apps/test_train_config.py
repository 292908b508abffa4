"""Fault 15: a bad key or value fails before any work starts, with a message naming it and the fix."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException

from benchmarks.bench_compare import EPISODES
from tests.vla.apps.conftest import compose_train
from vla.apps.train import train
from vla.config import CONF_DIR
from vla.data.dataset import LeRobotView
from vla.data.memory import InMemoryDataset
from vla.training.setup import loader_factory
from vla.training.validate import ConfigError, validate_train


def test_default_and_preset_configs_are_valid() -> None:
    for overrides in (
        [],
        *([f"experiment={name}"] for name in ("debug", "demo", "demo_reach", "pick_slots", "multitask_vla")),
    ):
        cfg = compose_train(*overrides)
        validate_train(cfg)
        assert cfg.policy.backbone.name == cfg.backbone.name  # the policy sees the chosen backbone group


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ("train.lr=-1", "train.lr=-1"),
        ("train.steps=0", "train.steps=0"),
        ("train.warmup_steps=5000", "train.warmup_steps=5000"),
        ("train.mixed_precision=fp8", "train.mixed_precision='fp8'"),
        ("train.betas=[0.9]", "train.betas="),
        ("wandb.mode=sometimes", "wandb.mode='sometimes'"),
        ("eval.splits=[train,unseen]", "eval.splits="),
        ("eval.n_episodes=-3", "eval.n_episodes=-3"),
        ("train.ema.decay=1.5", "train.ema.decay=1.5"),
        ("eval.n_action_steps=0", "eval.n_action_steps=0"),
        ("dataset.video_codec=mpeg2", "dataset.video_codec='mpeg2'"),
        ("dataset.memory_limit_gb=-1", "dataset.memory_limit_gb=-1: must be a number of GB >= 0"),
        ("train.episode_start_fraction=1", "train.episode_start_fraction=1: must be in [0, 1)"),
        ("train.schedule_clock=seconds", "train.schedule_clock='seconds': must be steps, or seconds with"),
    ],
)
def test_bad_values_are_named_with_a_fix(override: str, named: str) -> None:
    with pytest.raises(ConfigError, match=r"fix: e\.g\.") as err:
        validate_train(compose_train(override))
    assert named in str(err.value)


@pytest.mark.parametrize(("limit_gb", "kind"), [(4, InMemoryDataset), (0, LeRobotView)])
def test_memory_limit_decides_whether_training_decodes_once(
    recorded: Path, limit_gb: int, kind: type
) -> None:
    """A real recorded dataset: under the limit its frames are decoded once into RAM, over it per sample."""
    limit = f"dataset.memory_limit_gb={limit_gb}"
    cfg = compose_train(f"dataset.root={recorded}", limit, "train.batch_size=2")
    validate_train(cfg)
    assert isinstance(loader_factory(cfg, recorded)(0).dataset, kind)


def test_the_suggested_warmup_fits_a_short_run() -> None:
    with pytest.raises(ConfigError, match=r"must be in \[0, 20\] \(fix: e\.g\. `train\.warmup_steps=2`\)"):
        validate_train(compose_train("train.steps=20", "train.warmup_steps=100"))


def test_unknown_key_is_rejected_by_struct_mode() -> None:
    with pytest.raises(ConfigCompositionException, match="stesp"):
        compose_train("train.stesp=5")


def test_missing_dataset_fails_before_work(tmp_path: Path) -> None:
    cfg = compose_train(f"dataset.root={tmp_path}/none", f"run_dir={tmp_path}/run", "wandb.mode=disabled")
    with pytest.raises(ConfigError, match="holds no dataset; record one with `vla record"):
        train(cfg)
    assert not (tmp_path / "run").exists()  # nothing was started


def test_dataset_that_does_not_fit_the_env_fails_before_work(tmp_path: Path, debug_dataset: Path) -> None:
    """Recorded at 96 px; asking for 72 px images (or other dims) is caught before the policy is built."""
    cfg = compose_train(
        "experiment=debug",
        f"dataset.root={debug_dataset}",
        f"run_dir={tmp_path}/run",
        "env.kwargs.image_size=72",
    )
    with pytest.raises(
        ConfigError, match=r"has front images \(96, 96\), env.kwargs.image_size gives \(72, 72\)"
    ):
        train(cfg)
    assert not (tmp_path / "run").exists()


def test_cli_reports_the_bad_value_and_exits_nonzero(tmp_path: Path) -> None:
    run = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "vla.cli", "train", "train.batch_size=0", f"run_dir={run}"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode != 0
    assert "train.batch_size=0: must be an integer > 0 (fix: e.g. `train.batch_size=32`)" in proc.stderr
    assert not run.exists()


def test_cli_missing_backbone_weights_offline_fails_before_work(tmp_path: Path) -> None:
    """A hub id whose weights are not on disk, with the hub off (as on this machine): one line naming the
    model and the fixes, no traceback, before any dataset is recorded and without a run folder."""
    run, data = tmp_path / "run", tmp_path / "data"
    proc = subprocess.run(
        [sys.executable, "-m", "vla.cli", "train", "experiment=debug",
         "backbone.pretrained=nobody/no-such-vlm", f"dataset.root={data}", f"hydra.run.dir={run}"],
        capture_output=True, text=True, timeout=120, env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )  # fmt: skip
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert "vla train: missing weights: backbone.pretrained=nobody/no-such-vlm" in proc.stderr
    assert "HF_HUB_OFFLINE=0" in proc.stderr
    assert not run.exists() and not data.exists()


@pytest.mark.parametrize("preset", sorted(EPISODES))  # every preset bench_compare runs
def test_comparison_presets_are_valid_for_every_policy_they_sweep(preset: str) -> None:
    """A comparison sweep fails job by job at its first step when one policy's config is bad: caught here."""
    with initialize_config_dir(CONF_DIR, version_base="1.3"):
        swept = compose("config", overrides=[f"experiment={preset}"], return_hydra_config=True)
    policies = str(swept.hydra.sweeper.params.policy).split(",")
    assert len(policies) >= 2, policies
    for policy in policies:
        validate_train(compose_train(f"experiment={preset}", f"policy={policy}"))
