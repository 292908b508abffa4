"""Every controller behind one interface (policies.base.Policy), found through POLICIES (registry.py).

One folder per policy, as LeRobot's `policies/<name>/`: `policy.py` holds the Policy subclass and, when
the policy has options, `config.py` their dataclass (the fields of conf/policy/<name>.yaml). A policy
may use the libraries under vla/ (model, data); nothing under vla/ except the apps imports a policy.
"""
