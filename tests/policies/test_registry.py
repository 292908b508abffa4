"""The registry loads any checkpoint with the class its `_target_` names, and nothing else."""

from pathlib import Path

import pytest
import yaml

from policies.registry import CHECKPOINT_POLICIES, POLICIES, checkpoint_policy_name, load_checkpoint


def _checkpoint(tmp_path: Path, target: str) -> Path:
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"_target_": target, "policy": {}}))
    return tmp_path


@pytest.mark.parametrize(
    ("target", "name"),
    [
        ("policies.vla.policy.VLAPolicy", "vla"),
        ("policies.act.policy.ACTAdapter", "act"),
        ("policies.diffusion.policy.DiffusionAdapter", "diffusion"),
        ("policies.smolvla.policy.SmolVLAAdapter", "smolvla"),
    ],
)
def test_checkpoint_target_names_its_policy(tmp_path: Path, target: str, name: str) -> None:
    assert checkpoint_policy_name(_checkpoint(tmp_path, target)) == name


def test_untrusted_target_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"_target_ 'os\.system' is not in"):
        load_checkpoint(_checkpoint(tmp_path, "os.system"))
    with pytest.raises(FileNotFoundError, match="not a policy checkpoint"):
        load_checkpoint(tmp_path / "nothing")


def test_every_checkpoint_policy_is_registered() -> None:
    assert CHECKPOINT_POLICIES == ("act", "diffusion", "smolvla", "vla")
    assert set(CHECKPOINT_POLICIES) <= set(POLICIES)
