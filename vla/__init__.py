"""vla: vision-language-action policies for robots.

Importing the package sets safe defaults for a CPU-only, offline machine, each only if the user
has not set it already: MuJoCo renders offscreen through EGL, the Hugging Face hub is never
contacted implicitly, and wandb logs offline.
"""

import os

_DEFAULTS = {
    "MUJOCO_GL": "egl",  # headless rendering on CPU (Mesa llvmpipe) or GPU
    "PYOPENGL_PLATFORM": "egl",
    "HF_HUB_OFFLINE": "1",  # the hub is opt-in: set HF_HUB_OFFLINE=0 to download weights
    "WANDB_MODE": "offline",
    "TOKENIZERS_PARALLELISM": "false",
}
for _key, _value in _DEFAULTS.items():
    os.environ.setdefault(_key, _value)

__version__ = "0.1.0"
