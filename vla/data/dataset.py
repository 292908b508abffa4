"""Training batches from a LeRobotDataset v3 folder (ours, or any one already on disk).

    loader = make_dataloader("outputs/datasets/pick_cube", chunk_size=8, batch_size=32)
    batch = next(iter(loader))
    batch["observation.images.front"]  # (B, 3, H, W) float32 in [0, 1]
    batch["observation.state"]         # (B, D_s) float32, raw (the policy normalises)
    batch["action"]                    # (B, T, D_a) float32, raw: actions t .. t+T-1
    batch["action_is_pad"]             # (B, T) bool: True past the end of the episode
    batch["task"]                      # list[str], the instruction

Two ways to get images, same pixels:
- mode="memory": decode every frame once into RAM (uint8), then slice. Fast; needs
  frames x cameras x 3 x H x W bytes (0.55 GB for 10k frames of two 96x96 cameras).
- mode="video": lerobot's LeRobotDataset decodes the mp4 frames of each sample (seek + decode
  per camera per sample). For datasets larger than RAM.
- mode="auto" (default): memory when the decoded frames fit in `memory_limit_gb`, else video.

Several datasets at once (`roots` a list, e.g. one per task): the samples are their concatenation
(they must share cameras, image sizes, state/action dims and fps), the statistics those of their
union (vla/data/stats.py), and `weights` sets each dataset's expected share of every batch.
"""

import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import ConcatDataset, DataLoader, Dataset, WeightedRandomSampler, default_collate

from vla.constants import ACTION, ACTION_IS_PAD, OBS_STATE, TASK
from vla.data import meta
from vla.data.checks import check_dataset
from vla.data.memory import InMemoryDataset, load_frames, load_frames_concat
from vla.data.meta import DatasetError, DatasetFeatures, Roots, as_roots, dataset_features
from vla.data.stats import load_stats

__all__ = [
    "DatasetError",
    "DatasetFeatures",
    "Roots",
    "dataset_features",
    "load_stats",
    "make_dataloader",
    "make_dataset",
]

log = logging.getLogger(__name__)
Mode = Literal["auto", "memory", "video"]


class LeRobotView(Dataset):
    """lerobot's LeRobotDataset (video decoding per sample), reduced to the batch contract's keys."""

    def __init__(self, root: Path, chunk_size: int, episodes: list[int] | None, repo_id: str):
        from lerobot.datasets.lerobot_dataset import LeRobotDataset

        fps = meta.read_info(root)["fps"]
        self.dataset = LeRobotDataset(
            repo_id,
            root=root,
            episodes=episodes,
            delta_timestamps={ACTION: [t / fps for t in range(chunk_size)]},  # action chunk t .. t+T-1
        )
        self.keys = [*self.dataset.meta.camera_keys, OBS_STATE, ACTION, ACTION_IS_PAD, TASK]

    def __len__(self) -> int:
        return len(self.dataset)

    def episode_starts(self) -> torch.Tensor:
        """(N,) bool: which samples are the first frame of their episode."""
        return torch.as_tensor(self.dataset.hf_dataset["frame_index"]) == 0

    def __getitem__(self, index: int) -> dict[str, Any]:
        item = self.dataset[index]
        return {key: item[key] for key in self.keys}


class ConcatView(ConcatDataset):
    """Several LeRobotViews as one dataset (video mode of several roots)."""

    def episode_starts(self) -> torch.Tensor:
        return torch.cat([d.episode_starts() for d in self.datasets])


def collate(samples: list[dict[str, Any]] | dict[str, Any]) -> dict[str, Any]:
    """default_collate, except for a batch InMemoryDataset.__getitems__ already built."""
    return samples if isinstance(samples, dict) else default_collate(samples)


def decoded_bytes(features: DatasetFeatures, num_frames: int) -> int:
    return num_frames * sum(c * h * w for c, h, w in features.image_shapes.values())


def make_dataset(
    root: Roots,
    chunk_size: int,
    mode: Mode = "auto",
    episodes: list[int] | None = None,
    memory_limit_gb: float = 4.0,
    repo_id: str = "local/dataset",
) -> Dataset:
    """The torch Dataset behind make_dataloader (checks the folders first; see the module doc).

    Its `sizes` attribute holds the number of samples each folder contributes, in order.
    """
    roots = as_roots(root)
    if chunk_size < 1:
        raise ValueError(f"chunk_size={chunk_size} must be >= 1 (the number of future actions per sample)")
    if mode not in ("auto", "memory", "video"):
        raise ValueError(f"mode={mode!r} is not one of 'auto', 'memory', 'video'")
    if episodes is not None and len(roots) > 1:
        raise ValueError(f"episodes={episodes} selects episodes of one dataset; {len(roots)} were given")
    features = dataset_features(roots)  # several roots: a DatasetError names the first that differs
    for path in roots:
        check_dataset(path, episodes)
    if mode == "auto":
        need = decoded_bytes(features, features.num_frames)
        as_png = any(
            ft["dtype"] == "image" for path in roots for ft in meta.read_info(path)["features"].values()
        )
        mode = "memory" if need <= memory_limit_gb * 2**30 and not as_png else "video"
        log.info("dataset %s: %.2f GB decoded -> mode=%s", _names(roots), need / 2**30, mode)
    if mode == "memory":
        frames = load_frames(roots[0], episodes) if len(roots) == 1 else load_frames_concat(roots)
        dataset: Dataset = InMemoryDataset(frames, chunk_size)
        sizes = [len(dataset)] if len(roots) == 1 else [int(meta.read_info(r)["total_frames"]) for r in roots]
    else:
        views = [LeRobotView(path, chunk_size, episodes, repo_id) for path in roots]
        dataset = views[0] if len(views) == 1 else ConcatView(views)
        sizes = [len(v) for v in views]
    dataset.sizes = sizes
    return dataset


def _names(roots: list[Path]) -> str:
    return str(roots[0]) if len(roots) == 1 else f"{len(roots)} datasets ({', '.join(map(str, roots))})"


def _sample_weights(dataset: Any, fraction: float, shares: Sequence[float]) -> torch.Tensor:
    """(N,) probability of each sample: dataset i (of dataset.sizes) gets shares[i] of the draws; within
    it, its episode first frames get `fraction` of them (when it has other frames), the rest uniformly."""
    starts = dataset.episode_starts()  # (N,) bool
    out = torch.empty(len(starts), dtype=torch.float64)
    begin = 0
    for size, share in zip(dataset.sizes, shares, strict=True):
        part = starts[begin : begin + size]
        n_starts = int(part.sum())
        if fraction and 0 < n_starts < size:
            # float32 then widened, as before several datasets existed: one dataset draws as it did
            p = torch.where(part, fraction / n_starts, (1 - fraction) / (size - n_starts)).double()
        else:
            p = torch.full((size,), 1.0 / size, dtype=torch.float64)
        out[begin : begin + size] = share * p  # sums to share
        begin += size
    return out


def _sampler(
    dataset: Any, fraction: float, weights: Sequence[float] | None, generator: torch.Generator
) -> WeightedRandomSampler | None:
    """A seeded sampler drawing len(dataset) samples with replacement by dataset weight and episode-start
    fraction; None where a plain shuffle draws the same distribution. Its order follows `generator`
    alone: reseeding it per epoch resumes exactly."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"start_fraction={fraction} must be in [0, 1): the policy must see later frames too")
    sizes = dataset.sizes
    bad = weights is not None and (
        len(weights) != len(sizes) or not all(math.isfinite(w) and w > 0 for w in weights)
    )
    if bad:
        raise ValueError(
            f"weights={list(weights)} must be {len(sizes)} numbers > 0, one per dataset in order"
        )
    if weights is None or len(sizes) == 1:
        weights = sizes  # every frame equally likely
        starts = int(dataset.episode_starts().sum()) if fraction else len(dataset)
        if starts == len(dataset):  # no start fraction, or every frame starts an episode: uniform
            return None
    probs = _sample_weights(dataset, fraction, [w / sum(weights) for w in weights])
    return WeightedRandomSampler(probs, len(probs), replacement=True, generator=generator)


def _seed_worker(worker_id: int) -> None:
    seed = torch.initial_seed() % 2**32  # distinct per worker, derived from the loader's generator
    np.random.seed(seed)


def make_dataloader(
    root: Roots,
    chunk_size: int,
    batch_size: int,
    num_workers: int = 0,
    shuffle: bool = True,
    seed: int = 0,
    *,
    mode: Mode = "auto",
    episodes: list[int] | None = None,
    drop_last: bool = False,
    memory_limit_gb: float = 4.0,
    persistent_workers: bool | None = None,
    start_fraction: float = 0.0,
    weights: Sequence[float] | None = None,
) -> DataLoader:
    """A DataLoader of training batches (keys and shapes in the module doc) from a dataset folder.

    Args:
        root: a LeRobotDataset v3.0 folder (meta/info.json inside), or a list of them read as one
            (module doc).
        chunk_size: T, the number of future actions per sample (delta_timestamps 0, 1/fps, ...).
        batch_size, num_workers, shuffle, drop_last: as torch's DataLoader.
        seed: seeds the shuffling (same seed, same batch order).
        mode: "memory", "video" or "auto" (see the module doc).
        episodes: only these episode indices (e.g. a train/validation split).
        memory_limit_gb: the largest decoded size "auto" keeps in memory.
        persistent_workers: keep workers between epochs (default: True when num_workers > 0).
        start_fraction: with shuffle, the expected share of episode first frames in a batch (0 = as
            they come, about 1 in the mean episode length); sampled with replacement, an epoch stays
            len(dataset) samples. The first frame decides most where an episode goes. With several
            datasets, it applies within each.
        weights: with shuffle and several roots, each dataset's expected share of the samples (any
            positive numbers, normalised; sampled with replacement); None = every frame equally.
    Raises DatasetError (a ValueError) naming the file or key when the folder is incomplete or corrupt.
    """
    dataset = make_dataset(root, chunk_size, mode, episodes, memory_limit_gb)
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size} must be >= 1")
    workers = persistent_workers if persistent_workers is not None else num_workers > 0
    generator = torch.Generator().manual_seed(seed)
    sampler = _sampler(dataset, start_fraction, weights, generator) if shuffle else None
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle and sampler is None,
        sampler=sampler,
        num_workers=num_workers,
        collate_fn=collate,
        drop_last=drop_last,
        generator=generator,  # reseeding it reseeds the sampler too (exact resume)
        worker_init_fn=_seed_worker,
        persistent_workers=workers and num_workers > 0,
    )
