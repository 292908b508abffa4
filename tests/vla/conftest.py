"""Shared by tests/vla/data and tests/vla/apps: small datasets recorded once per session (PickCube, and
PushCube with the same features for the multi-dataset tests)."""

import shutil
from pathlib import Path

import pytest

from vla.apps.record import record_dataset

ENV_ID = "vla/PickCube-v0"
ENV_KWARGS = {"image_size": 64, "cameras": ["front", "wrist"]}  # small images keep the tests fast


@pytest.fixture(scope="session")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 expert episodes (seeds 0..3) in two commits; read-only for tests (copy it to modify)."""
    root = tmp_path_factory.mktemp("data") / "pick"
    result = record_dataset(
        ENV_ID, root, 4, "train", 0, env_kwargs=ENV_KWARGS, commit_every=2, progress=False
    )
    assert result.recorded == 4 and result.total_episodes == 4
    return root


@pytest.fixture
def dataset_copy(recorded: Path, tmp_path: Path) -> Path:
    """A private copy of the session dataset, free to corrupt."""
    return Path(shutil.copytree(recorded, tmp_path / "pick"))


@pytest.fixture(scope="session")
def recorded_push(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 expert episodes of another task (PushCube, seeds 0..2), features as `recorded`; read-only."""
    root = tmp_path_factory.mktemp("data") / "push"
    result = record_dataset("vla/PushCube-v0", root, 3, "train", 0, env_kwargs=ENV_KWARGS, progress=False)
    assert result.total_episodes == 3
    return root
