"""LeRobot's ACT through its own code: config.py (conf/policy/act.yaml -> ACTConfig), policy.py."""
