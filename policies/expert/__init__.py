"""The tabletop suite's scripted expert as a policy (policy.py); it has no options, so no config.py."""
