"""The explicit registry of policies: name -> factory. grep finds every entry here.

Each policy is a folder, as LeRobot's `policies/<name>/` are: `policy.py` (the Policy subclass) and,
for a policy with options, `config.py` (the dataclass its conf/policy/<name>.yaml fills). Factories
import lazily only so that listing policies does not import torch or transformers.

`act`, `diffusion` and `smolvla` are LeRobot's own policy classes behind an adapter
(policies/lerobot_adapter.py); like `vla`, their factories load a checkpoint (`path=`), and
`load_checkpoint(path)` picks the class from the checkpoint's `_target_` (an allow-list: CHECKPOINT_TARGETS).
"""

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from policies.base import Policy


def _expert(**kwargs: Any) -> Policy:
    from policies.expert.policy import ExpertPolicy

    return ExpertPolicy(**kwargs)


def _vla(**kwargs: Any) -> Policy:
    from policies.vla.policy import VLAPolicy

    return VLAPolicy.from_pretrained(**kwargs)


def _act_class() -> Any:
    from policies.act.policy import ACTAdapter

    return ACTAdapter


def _diffusion_class() -> Any:
    from policies.diffusion.policy import DiffusionAdapter

    return DiffusionAdapter


def _smolvla_class() -> Any:
    from policies.smolvla.policy import SmolVLAAdapter

    return SmolVLAAdapter


# LeRobot's policies: name -> the adapter class (from_config for training, from_pretrained for checkpoints)
LEROBOT_POLICIES: dict[str, Callable[[], Any]] = {
    "act": _act_class,
    "diffusion": _diffusion_class,
    "smolvla": _smolvla_class,
}


def _loader(name: str) -> Callable[..., Policy]:
    return lambda **kwargs: LEROBOT_POLICIES[name]().from_pretrained(**kwargs)


POLICIES: dict[str, Callable[..., Policy]] = {
    "expert": _expert,
    "vla": _vla,
    "act": _loader("act"),
    "diffusion": _loader("diffusion"),
    "smolvla": _loader("smolvla"),
}

# a checkpoint's config.yaml `_target_` -> the registered policy that loads it; anything else is refused
CHECKPOINT_TARGETS: dict[str, str] = {
    "policies.vla.policy.VLAPolicy": "vla",
    "policies.vla_policy.VLAPolicy": "vla",  # checkpoints written before the move to policies/vla/
    "policies.act.policy.ACTAdapter": "act",
    "policies.diffusion.policy.DiffusionAdapter": "diffusion",
    "policies.smolvla.policy.SmolVLAAdapter": "smolvla",
}
CHECKPOINT_POLICIES = tuple(sorted(set(CHECKPOINT_TARGETS.values())))  # factories that take path=


def make_policy(name: str, **kwargs: Any) -> Policy:
    if name not in POLICIES:
        raise ValueError(f"unknown policy {name!r}; registered: {sorted(POLICIES)} (policies/registry.py)")
    return POLICIES[name](**kwargs)


def make_lerobot_policy(name: str, cfg: Mapping[str, Any], stats: Any, features: Any) -> Policy:
    """A fresh LeRobot policy (act | diffusion | smolvla) for a dataset, as `vla train` builds it."""
    if name not in LEROBOT_POLICIES:
        raise ValueError(f"unknown LeRobot policy {name!r}; registered: {sorted(LEROBOT_POLICIES)}")
    return LEROBOT_POLICIES[name]().from_config(cfg, stats, features)


def checkpoint_policy_name(path: str | Path) -> str:
    """The registered policy that wrote a save_pretrained folder (its config.yaml `_target_`)."""
    import yaml

    config = Path(path) / "config.yaml"
    if not config.exists():
        raise FileNotFoundError(
            f"{path} is not a policy checkpoint (no config.yaml); train one with `vla train`"
        )
    target = (yaml.safe_load(config.read_text()) or {}).get("_target_")
    if target not in CHECKPOINT_TARGETS:
        raise ValueError(f"{config}: _target_ {target!r} is not in {sorted(CHECKPOINT_TARGETS)}")
    return CHECKPOINT_TARGETS[target]


def load_checkpoint(path: str | Path, **kwargs: Any) -> Policy:
    """Loads any policy checkpoint (a save_pretrained folder) with the class that wrote it."""
    return make_policy(checkpoint_policy_name(path), path=path, **kwargs)
