"""Demonstration data as LeRobotDataset v3.0 folders: write (writer.py), load (dataset.py, memory.py,
stats.py), inspect (inspect.py, checks.py, meta.py), normalise (normalize.py). See docs/datasets.md.
No env and no policy: recording them is the record app's (vla/apps/record.py, rollout.py).

Quiet defaults, set before lerobot/`datasets` are imported (each only if the user has not set
it): `datasets` draws a "Map" progress bar per saved episode and lerobot's SuppressProgressBars
re-enables bars after every load; SVT-AV1 prints ~20 info lines per encoded video.
"""

import os
import warnings

os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("SVT_LOG", "1")
warnings.filterwarnings("ignore", message="Cannot enable progress bars")
