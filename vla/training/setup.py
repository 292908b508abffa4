"""Training plumbing from a `vla train` config: resume point and settings, run dir, accelerator, data loader.

No env and no policy: the train app (vla/apps/train.py) builds those, and checks the dataset against
the env, before the first optimiser step (docs/reliability.md, fault 15).
"""

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.utils import DataLoaderConfiguration, DistributedType, broadcast_object_list
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from vla import checkpoint as ckpt
from vla.data.dataset import Roots, make_dataloader
from vla.training.validate import ConfigError

log = logging.getLogger(__name__)


def resume_dir(cfg: DictConfig) -> Path | None:
    """The checkpoint to resume from (cfg.resume: a run dir or a checkpoint dir), or None."""
    if cfg.resume is None:
        return None
    try:
        return ckpt.resolve_checkpoint(cfg.resume)
    except FileNotFoundError as err:
        raise ConfigError(f"resume={cfg.resume!r}: {err}") from err


_NOT_INHERITED = ("resume", "run_dir")  # where this invocation reads from and writes to


def inherit_run_config(cfg: DictConfig, resume_from: Path) -> list[str]:
    """Resuming continues the saved run: every setting comes from the checkpoint's config.yaml
    unless this command line sets it (`train.steps=8000` extends a run on purpose). Updates cfg in
    place; returns the given keys whose value differs from the run's. A cfg composed outside a
    Hydra app (`train(cfg)` from Python) counts as given in full: it is only compared."""
    saved_path = resume_from / "config.yaml"
    if not saved_path.exists():  # a checkpoint written before config.yaml existed: nothing to inherit
        return []
    saved = OmegaConf.load(saved_path)
    given = _command_line_keys()
    differing = []
    for key in _leaf_keys(saved):
        if key.split(".")[0] in _NOT_INHERITED or not _settable(cfg, key):
            continue
        value = OmegaConf.select(saved, key)
        if given is None or any(key == g or key.startswith(g + ".") for g in given):
            if OmegaConf.select(cfg, key) != value:
                differing.append(key)
            continue
        OmegaConf.update(cfg, key, value, merge=False)
    return differing


def _command_line_keys() -> list[str] | None:
    """Keys (or config groups) this invocation overrode; None outside a Hydra app (all given)."""
    if not HydraConfig.initialized():
        return None
    return [o.split("=", 1)[0].lstrip("+~") for o in HydraConfig.get().overrides.task]


def _leaf_keys(node: Any, prefix: str = "") -> list[str]:
    """Dotted paths of the leaves of a config (a list is one leaf)."""
    if not OmegaConf.is_dict(node):
        return [prefix]
    return [k for name in node for k in _leaf_keys(node[name], f"{prefix}.{name}" if prefix else str(name))]


def _settable(cfg: DictConfig, key: str) -> bool:
    """The key exists in cfg and is no interpolation's child (policy.backbone mirrors backbone)."""
    *parents, leaf = key.split(".")
    node: Any = cfg
    for part in parents:
        if not OmegaConf.is_dict(node) or part not in node or OmegaConf.is_interpolation(node, part):
            return False
        node = node[part]
    return OmegaConf.is_dict(node) and leaf in node


def run_dir(cfg: DictConfig, resume_from: Path | None, accelerator: Accelerator | None = None) -> Path:
    """cfg.run_dir; else the resumed run's own dir (so it continues in place); else Hydra's output dir.

    Under `accelerate launch` every process composes its own Hydra output dir (a timestamp that may
    differ by a second); all of them use the main process's.
    """
    if cfg.run_dir:
        return Path(cfg.run_dir)
    if resume_from is not None:
        return resume_from.parent.parent  # <run>/checkpoints/step_N
    path = [str(HydraConfig.get().runtime.output_dir)]
    if accelerator is not None and accelerator.num_processes > 1:
        broadcast_object_list(path, from_process=0)
    return Path(path[0])


def make_accelerator(train_cfg: Mapping[str, Any]) -> Accelerator:
    if train_cfg["mixed_precision"] == "fp16" and (train_cfg["cpu"] or not torch.cuda.is_available()):
        raise ConfigError("train.mixed_precision=fp16 needs a GPU (fix: `train.mixed_precision=no` or bf16)")
    world = int(os.environ.get("WORLD_SIZE", "1"))  # set by `accelerate launch` / torchrun
    # without cpu=True, accelerate on a GPU-less machine ignores the launcher and every process
    # trains alone (DistributedType.NO); with it, the processes form one gloo (MULTI_CPU) group
    cpu = bool(train_cfg["cpu"]) or (world > 1 and not torch.cuda.is_available())
    accelerator = Accelerator(
        cpu=cpu,
        mixed_precision=train_cfg["mixed_precision"],
        # the loader's own seeded generator fixes the order; accelerate only shards it across processes
        dataloader_config=DataLoaderConfiguration(use_seedable_sampler=False),
    )
    if (
        os.environ.get("ACCELERATE_USE_FSDP", "").lower() == "true"
        and accelerator.distributed_type != DistributedType.FSDP
    ):
        log.warning(  # accelerate forms FSDP only on GPUs; without one the FSDP settings are dropped
            "accelerate was launched with FSDP settings (conf/accelerate/fsdp.yaml), but without a GPU it "
            "formed %s: every process trains a full replica, as under DDP",
            accelerator.distributed_type,
        )
    if accelerator.num_processes != world:
        raise ConfigError(
            f"launched as {world} processes but accelerate formed a group of {accelerator.num_processes} "
            f"({accelerator.distributed_type}); launch with `accelerate launch --multi_gpu --num_processes "
            f"{world} -m vla.apps.train ...`"
        )
    return accelerator


def loader_factory(cfg: DictConfig, roots: Roots, episodes: list[int] | None = None) -> Any:
    """epoch -> the DataLoader whose order is a function of (seed, epoch) only (exact resume); several
    roots: one dataset of their concatenation, drawn by dataset.weights; `episodes`: only these of one
    dataset (env=none holds the others out for the offline evaluation)."""
    weights = cfg.dataset.get("weights")
    loader = make_dataloader(
        roots, cfg.policy.chunk_size, cfg.train.batch_size, cfg.train.num_workers, shuffle=True,
        seed=cfg.seed, drop_last=True, persistent_workers=False, episodes=episodes,
        start_fraction=cfg.train.episode_start_fraction, weights=None if weights is None else list(weights),
        memory_limit_gb=cfg.dataset.memory_limit_gb,
    )  # fmt: skip
    if len(loader) == 0:
        raise ConfigError(
            f"train.batch_size={cfg.train.batch_size} is larger than the dataset "
            f"({len(loader.dataset)} samples)"
        )

    def for_epoch(epoch: int) -> Any:
        loader.generator.manual_seed(cfg.seed * 1_000_003 + epoch)  # order and worker seeds of this epoch
        return loader

    return for_epoch
