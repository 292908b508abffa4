"""Language-conditioned MuJoCo tabletop suite."""
