"""Every controller behind one interface (policies.base.Policy), found through POLICIES (registry.py).

One folder per policy, as LeRobot's `policies/<name>/`: `policy.py` holds the Policy subclass and, when
the policy has options, `config.py` their dataclass (the fields of conf/policy/<name>.yaml). A policy
may use the libraries under vla/ (model, data); nothing under vla/ except the apps imports a policy.

`act`, `diffusion` and `smolvla` are LeRobot's own policy classes behind one adapter (lerobot_adapter.py):
their folders hold only which lerobot class and config they wrap (docs/baselines.md).
"""
