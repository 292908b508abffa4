"""The VLA policy: config.py (VLAConfig, conf/policy/vla.yaml), policy.py (VLAPolicy around vla.model)."""
