"""Where the Hydra configs live and helpers shared by every Hydra app."""

from pathlib import Path

CONF_DIR = str(Path(__file__).resolve().parents[1] / "conf")
