"""LeRobot's SmolVLA through its own code: config.py (-> SmolVLAConfig), policy.py (SmolVLAAdapter)."""
