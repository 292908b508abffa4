"""Scene question answering stored beside a dataset: the file, its columns, reading and writing.

`meta/vla_qa.parquet` holds one row per (frame, question), generated from the simulator's exact scene
(vla/data/qa.py, `vla dataset qa PATH`) and used to co-train the VLA's language ability
(`train.cotrain.qa_fraction`) and to measure it (`vla eval`, `vla ask`):

    episode_index  int64   the dataset's episode
    frame_index    int64   frame within that episode (the images the question is asked about)
    type           string  question type, e.g. "colour_at_position", "count", "left_of", "holding"
    split          string  "train" | "heldout": held-out question templates are never trained on
    question       string  the question as asked, e.g. "what colour is the cube on the left?"
    answer         string  the exact answer, short and lower case, e.g. "red", "3", "yes"

The file is derived data: it can be rebuilt at any time from the dataset's sidecar (env id, seed, env
kwargs per episode) without recording again, so new question types need no new recording.
"""

import os
from pathlib import Path

import pandas as pd

QA_FILE = "meta/vla_qa.parquet"
QA_COLUMNS = ("episode_index", "frame_index", "type", "split", "question", "answer")
QA_SPLITS = ("train", "heldout")


def qa_path(root: str | Path) -> Path:
    return Path(root) / QA_FILE


def read_qa(root: str | Path) -> pd.DataFrame:
    """The dataset's QA rows; a clear error naming the file and the command that makes it."""
    path = qa_path(root)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: generate it with `vla dataset qa {root}`")
    table = pd.read_parquet(path)
    missing = [c for c in QA_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{path} lacks columns {missing}: regenerate it with `vla dataset qa {root}`")
    return table[list(QA_COLUMNS)]


def write_qa(root: str | Path, rows: pd.DataFrame) -> Path:
    """Writes the rows atomically (a temporary file renamed over the old one): a crash keeps the old file."""
    missing = [c for c in QA_COLUMNS if c not in rows.columns]
    if missing:
        raise ValueError(f"QA rows lack columns {missing}")
    bad = sorted(set(rows["split"]) - set(QA_SPLITS))
    if bad:
        raise ValueError(f"QA rows with split {bad}: use one of {QA_SPLITS}")
    path = qa_path(root)
    tmp = path.with_suffix(".parquet.tmp")
    rows[list(QA_COLUMNS)].reset_index(drop=True).to_parquet(tmp, index=False)
    os.replace(tmp, path)
    return path
