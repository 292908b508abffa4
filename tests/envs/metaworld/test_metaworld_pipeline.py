"""Slow: MT1 end to end. Expert episodes recorded into a real LeRobotDataset, a few training steps, and an
evaluation episode of the trained checkpoint."""

import json
from pathlib import Path

import pytest

from tests.vla.apps.conftest import compose_train
from vla import checkpoint as ckpt
from vla.apps.eval import evaluate, load_policy
from vla.apps.record import record_dataset
from vla.data import meta


@pytest.mark.slow
def test_mt1_record_train_eval(tmp_path: Path) -> None:
    from vla.apps.train import train

    root = tmp_path / "reach"
    kwargs = {"task": "reach-v3", "split": "train", "image_size": 64, "cameras": ["corner2"]}
    result = record_dataset("metaworld/reach-v3", root, 2, "train", 0, env_kwargs=kwargs, progress=False)
    assert result.recorded == 2 and result.successes == result.attempts == 2  # the expert reaches
    info = meta.read_info(root)
    assert info["fps"] == 80 and info["total_episodes"] == 2
    assert info["features"]["action"]["shape"] == [4]
    assert info["features"]["observation.state"]["shape"] == [4]
    assert info["features"]["observation.images.corner2"]["shape"][:2] == [64, 64]
    rows = meta.read_sidecar(root)
    assert [r["env_id"] for r in rows] == ["metaworld/reach-v3"] * 2 and all(r["success"] for r in rows)

    run = tmp_path / "run"
    cfg = compose_train(
        "experiment=debug", "env=metaworld_mt1", "env.kwargs.image_size=64", f"dataset.root={root}",
        "dataset.record_if_missing=false", f"run_dir={run}", "train.eval_at_end=false",
    )  # fmt: skip
    assert cfg.env.id == "metaworld/reach-v3"
    train(cfg)
    pretrained = ckpt.resolve_checkpoint(run)
    policy, label = load_policy(str(pretrained), None)
    eval_cfg = {
        "envs": None, "n_episodes": 1, "n_envs": 1, "splits": ["train"], "seed_base": 100000, "max_steps": 20,
        "n_action_steps": None, "n_videos": 1, "video_size": 64, "camera": "corner2",
    }  # fmt: skip
    env_cfg = {"id": "metaworld/reach-v3", "kwargs": kwargs}
    report = evaluate(policy, label, env_cfg, eval_cfg, tmp_path / "eval")
    assert [(r["task"], r["split"], r["episodes"]) for r in report["rows"]] == [("reach-v3", "train", 1)]
    assert report["rows"][0]["mean_length"] <= 20
    assert json.loads((tmp_path / "eval" / "report.json").read_text())["tasks"][0]["name"] == "reach-v3"
    markdown = (tmp_path / "eval" / "report.md").read_text()
    assert "| easy | train | 1/28 |" in markdown and "SmolVLA (2.25B) (published) | 68.2" in markdown
