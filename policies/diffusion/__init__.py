"""LeRobot's Diffusion Policy through its own code: config.py (-> DiffusionConfig), policy.py."""
