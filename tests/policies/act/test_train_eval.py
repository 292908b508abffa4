"""`vla train policy=act experiment=debug` end to end: lerobot's ACT trains a few steps on a recorded
dataset, checkpoints, and the checkpoint runs a 1-episode `vla eval` and loads in `vla deploy`."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from policies.act.policy import ACTAdapter
from tests.policies.lerobot_helpers import observation
from tests.vla.apps.conftest import compose_train
from vla import checkpoint as ckpt
from vla.apps.deploy import build_policy as deploy_policy
from vla.apps.eval import evaluate, load_policy
from vla.apps.train import train
from vla.logging_utils import read_metrics
from vla.training.validate import ConfigError


def test_vla_train_policy_act_trains_saves_and_evaluates(debug_dataset: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    cfg = compose_train(
        "experiment=debug", "policy=act", f"dataset.root={debug_dataset}", f"run_dir={run}",
        "policy.dim_model=32", "policy.dim_feedforward=64", "+policy.n_encoder_layers=1",
        "+policy.n_vae_encoder_layers=1", "train.batch_size=2", "train.eval_at_end=false",
    )  # fmt: skip
    train(cfg)
    assert sorted(p.name for p in (run / ckpt.CHECKPOINTS).iterdir()) == [
        "last",
        "step_000002",
        "step_000004",
    ]
    records = [r for r in read_metrics(run) if r["split"] == "train"]
    assert len(records) == 4 and all(np.isfinite(r["loss"]) and "l1_loss" in r for r in records)
    assert "token_acc" not in records[0]  # the VLA's metric; ACT logs lerobot's loss terms

    policy, label = load_policy(str(run), None)  # `vla eval policy_path=<run>`
    assert isinstance(policy, ACTAdapter) and label.endswith("pretrained")
    assert (policy.cfg.chunk_size, policy.cfg.options["dim_model"]) == (100, 32)  # YAML default, override
    env_cfg, eval_cfg = (OmegaConf.to_container(cfg[k], resolve=True) for k in ("env", "eval"))
    report = evaluate(policy, label, env_cfg, eval_cfg, tmp_path / "eval")
    assert [r["episodes"] for r in report["rows"]] == [1] and report["episodes"][0]["length"] <= 10
    assert json.loads((tmp_path / "eval" / "report.json").read_text())["policy"] == label

    deploy_cfg = OmegaConf.create({"policy": {"name": "act", "kwargs": {"path": str(run), "device": None}}})
    deployed = deploy_policy(deploy_cfg)  # `vla deploy policy.name=act policy.kwargs.path=<run>`
    obs = observation(debug_dataset)
    np.testing.assert_array_equal(deployed.predict_action_chunk(obs), policy.predict_action_chunk(obs))
    assert torch.equal(next(deployed.parameters()), next(policy.parameters()))
    assert deployed.fps == 10  # the dataset's rate: vla deploy runs its loop at it


def test_a_bad_lerobot_field_fails_before_any_data_is_recorded(tmp_path: Path) -> None:
    root = tmp_path / "never_recorded"
    cfg = compose_train("experiment=debug", "policy=act", f"dataset.root={root}", "+policy.dim_modle=64")
    with pytest.raises(ConfigError, match=r"policy\.dim_modle is not a field of lerobot's ACTConfig"):
        train(cfg)
    assert not root.exists()  # experiment=debug records a missing dataset: the check came first
