"""A tiny real dataset (2 expert episodes of TouchCube, recorded once per session) for the train tests."""

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from vla.config import CONF_DIR


def compose_train(*overrides: str) -> DictConfig:
    """conf/config.yaml with overrides, as `vla train` composes it (struct mode: unknown keys fail)."""
    with initialize_config_dir(CONF_DIR, version_base="1.3"):
        return compose("config", overrides=list(overrides))


@pytest.fixture(scope="session")
def debug_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from vla.apps.record import record_dataset

    root = tmp_path_factory.mktemp("data") / "touch2"
    record_dataset(
        "vla/TouchCube-v0", root, num_episodes=2, split="train", seeds=1000,
        env_kwargs={"image_size": 96, "cameras": ["front", "wrist"]}, progress=False,
    )  # fmt: skip
    return root
