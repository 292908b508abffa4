"""The explicit registry of policies: name -> factory. grep finds every entry here.

Each policy is a folder, as LeRobot's `policies/<name>/` are: `policy.py` (the Policy subclass) and,
for a policy with options, `config.py` (the dataclass its conf/policy/<name>.yaml fills). Factories
import lazily only so that listing policies does not import torch or transformers.
"""

from collections.abc import Callable
from typing import Any

from policies.base import Policy


def _expert(**kwargs: Any) -> Policy:
    from policies.expert.policy import ExpertPolicy

    return ExpertPolicy(**kwargs)


def _vla(**kwargs: Any) -> Policy:
    from policies.vla.policy import VLAPolicy

    return VLAPolicy.from_pretrained(**kwargs)


POLICIES: dict[str, Callable[..., Policy]] = {
    "expert": _expert,
    "vla": _vla,
}


def make_policy(name: str, **kwargs: Any) -> Policy:
    if name not in POLICIES:
        raise ValueError(f"unknown policy {name!r}; registered: {sorted(POLICIES)} (policies/registry.py)")
    return POLICIES[name](**kwargs)
