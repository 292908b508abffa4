"""Scene QA rows (meta/vla_qa.parquet, vla/data/qa_format.py) joined to a dataset's samples, and the images
of those samples as a batch: what co-training (cotrain.py) and `vla eval`'s QA accuracy read.

A QA row names its frame by (episode_index, frame_index); the sample of that frame in a torch dataset built
by vla.data.dataset.make_dataset (one root or several, all episodes or some) is found from the data
parquet files, so QA images come through exactly the pipeline the action samples do (same decoding,
same [0, 1] floats per camera).
"""

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from torch.utils.data import default_collate

from vla.constants import OBS_IMAGES
from vla.data import meta
from vla.data.qa_format import read_qa
from vla.data.stats import data_files

FRAME_KEYS = ["episode_index", "frame_index"]
log = logging.getLogger(__name__)


def read_frames(root: str | Path) -> pd.DataFrame:
    """(episode_index, frame_index) of every frame of root, in the order of their global `index`: the
    order make_dataset gives its samples. Read once per root: it opens every data parquet file."""
    tables = [meta.read_table(path, ["index", *FRAME_KEYS]).to_pandas() for path in data_files(Path(root))]
    return pd.concat(tables).sort_values("index", kind="stable")[FRAME_KEYS]


def frame_positions(frames: pd.DataFrame, episodes: Sequence[int] | None = None) -> pd.DataFrame:
    """(episode_index, frame_index, position): position = the frame's sample index in a dataset of these
    frames (read_frames) restricted to these episodes."""
    if episodes is not None:
        frames = frames[frames["episode_index"].isin(list(episodes))]
    frames = frames.reset_index(drop=True)
    frames["position"] = np.arange(len(frames), dtype=np.int64)
    return frames


def qa_rows_with_samples(
    roots: Sequence[str | Path],
    sizes: Sequence[int],
    episodes: Sequence[int] | None = None,
    splits: Sequence[str] | None = None,
) -> pd.DataFrame:
    """The QA rows of every root (splits: only these), with `sample`: the index of their frame in the
    dataset of these roots (sizes: the samples each root contributes, dataset.sizes), and `root`."""
    parts, offset = [], 0
    for root, size in zip(roots, sizes, strict=True):
        rows, frames = read_qa(root), read_frames(root)
        warn_uncovered_episodes(rows, frames, root, episodes)
        if splits is not None:
            rows = rows[rows["split"].isin(list(splits))]
        parts.append(attach_samples(rows, root, size, episodes, offset, frames))
        offset += size
    return pd.concat(parts, ignore_index=True)


def attach_samples(
    rows: pd.DataFrame,
    root: str | Path,
    size: int,
    episodes: Sequence[int] | None = None,
    offset: int = 0,
    frames: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """QA rows of `root` with `sample` (offset + the frame's index in a dataset of the root's `episodes`,
    `size` samples) and `root`. Rows of episodes left out are dropped; a row naming a frame the dataset
    does not have is an error (the QA file is older than the dataset). frames: read_frames(root), when
    the caller has it already."""
    frames = read_frames(root) if frames is None else frames
    stale = rows.merge(frame_positions(frames), on=FRAME_KEYS, how="left")["position"].isna().to_numpy()
    if stale.any():
        bad = rows[stale].iloc[0]
        raise ValueError(
            f"{root}/meta/vla_qa.parquet names frame {int(bad.frame_index)} of episode "
            f"{int(bad.episode_index)}, which the dataset lacks: regenerate it with `vla dataset qa {root}`"
        )
    here = frame_positions(frames, episodes)
    if len(here) != size:
        raise ValueError(f"{root}: {len(here)} frames in its data files, the dataset has {size} samples")
    rows = rows.merge(here, on=FRAME_KEYS, how="inner")
    rows["sample"] = rows.pop("position") + offset
    rows["root"] = str(root)
    return rows


def warn_uncovered_episodes(
    rows: pd.DataFrame, frames: pd.DataFrame, root: str | Path, episodes: Sequence[int] | None
) -> list[int]:
    """Episodes of the dataset (these `episodes`) without a QA row: recorded after `vla dataset qa` ran
    (`vla record` appends; the QA file is derived data and is not rebuilt then). Their frames still train
    actions; only their questions are missing. Logs a warning naming them and the fix; returns them."""
    have = set(frames["episode_index"].unique().tolist())
    wanted = have if episodes is None else have & {int(e) for e in episodes}
    missing = sorted(wanted - set(rows["episode_index"].unique().tolist()))
    if missing:
        shown = ", ".join(map(str, missing[:5])) + (", ..." if len(missing) > 5 else "")
        log.warning(
            "%s/meta/vla_qa.parquet has no questions for %d of %d episodes (%s): co-training asks only "
            "about the others; regenerate it with `vla dataset qa %s`",
            root,
            len(missing),
            len(wanted),
            shown,
            root,
        )
    return missing


def images_of(dataset: Any, samples: Sequence[int]) -> dict[str, Any]:
    """The camera images of these samples of a make_dataset dataset: {image key: (B, 3, H, W) float in
    [0, 1]}, as its DataLoader batches them."""
    samples = [int(i) for i in samples]
    if hasattr(dataset, "__getitems__"):  # InMemoryDataset: one tensor-indexed batch
        batch = dataset.__getitems__(samples)
    else:
        batch = default_collate([dataset[i] for i in samples])
    return {k: v for k, v in batch.items() if k.startswith(OBS_IMAGES + ".")}
