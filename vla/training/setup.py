"""Building what `vla train` needs from its config: run dir, accelerator, dataset, policy, loader, evaluator.

Every check that can fail runs here, before the first optimiser step (RELIABILITY.md fault 15).
"""

import fcntl
import logging
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from accelerate import Accelerator
from omegaconf import DictConfig, OmegaConf

from vla import checkpoint as ckpt
from vla.data.writer import lock_path
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
    from hydra.core.hydra_config import HydraConfig

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
    from hydra.core.hydra_config import HydraConfig

    path = [str(HydraConfig.get().runtime.output_dir)]
    if accelerator is not None and accelerator.num_processes > 1:
        from accelerate.utils import broadcast_object_list

        broadcast_object_list(path, from_process=0)
    return Path(path[0])


def make_accelerator(train_cfg: Mapping[str, Any]) -> Accelerator:
    import torch
    from accelerate.utils import DataLoaderConfiguration

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
    if accelerator.num_processes != world:
        raise ConfigError(
            f"launched as {world} processes but accelerate formed a group of {accelerator.num_processes} "
            f"({accelerator.distributed_type}); launch with `accelerate launch --multi_gpu --num_processes "
            f"{world} -m vla.train ...`"
        )
    return accelerator


def prepare_dataset(cfg: DictConfig) -> Path:
    """The dataset root; records expert demos into it first when dataset.record_if_missing is set.

    Several runs may need the same missing dataset at once (a joblib sweep, `accelerate launch`):
    one records it under a lock into a temporary folder renamed into place; the others wait for it
    and then read it. A recording that was killed leaves only its temporary folder, never a half root.
    """
    root = Path(cfg.dataset.root)
    if _has_dataset(root):
        return root
    if not cfg.dataset.record_if_missing:
        raise ConfigError(
            f"dataset.root={str(root)!r} holds no dataset; record one with "
            f"`vla record env={_choice('env')} root={root}` or pass dataset.record_if_missing=true"
        )
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.parent / f".{root.name}.prepare.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # blocks while another run records this dataset
        if not _has_dataset(root):  # nobody recorded it while we waited
            for stale in root.parent.glob(f".tmp-{root.name}-*"):
                shutil.rmtree(stale, ignore_errors=True)
            tmp = root.parent / f".tmp-{root.name}-{os.getpid()}"
            log.info(
                "recording %d expert episodes of %s into %s (staged in %s)",
                cfg.dataset.num_episodes, cfg.env.id, root, tmp.name,
            )  # fmt: skip
            record_demos(cfg.env, tmp, cfg.dataset)
            os.replace(tmp, root)
            lock_path(tmp).unlink(missing_ok=True)  # the writer's lock file for tmp
    return root


def _has_dataset(root: Path) -> bool:
    return (root / "meta" / "info.json").exists()


def record_demos(env_cfg: Mapping[str, Any], root: Path, data: Mapping[str, Any]) -> None:
    """Successful scripted-expert episodes; failed attempts are dropped and the next seed is tried.

    One commit at the end: `root` is a staging folder that a killed run throws away (prepare_dataset),
    so committing along the way buys nothing here, and each commit costs ~0.4 s (lerobot reopens the
    dataset and reloads every episode's metadata; 300 demos took 36 s with a commit per 10, 26 s
    with one).
    """
    from vla.data.record import record_dataset
    from vla.training.rollout import stdlib_start_method

    kwargs = dict(OmegaConf.to_container(env_cfg.kwargs, resolve=True)) if env_cfg.get("kwargs") else {}
    split = kwargs.pop("split", "train")
    with stdlib_start_method():  # recording workers may start from a joblib sweep job
        record_dataset(
            env_cfg.id, root, num_episodes=data["num_episodes"], split=split, seeds=data["seed_base"],
            env_kwargs=kwargs, num_workers=data["record_workers"], commit_every=data["num_episodes"],
            commit_every_s=None, video={"vcodec": data["video_codec"]},
        )  # fmt: skip


def check_dataset_fits(cfg: DictConfig, features: Any) -> None:
    """The dataset must match the env the policy will act in: cameras, image size, state and action dims."""
    import gymnasium as gym

    import envs  # noqa: F401

    kwargs = OmegaConf.to_container(cfg.env.kwargs, resolve=True) if cfg.env.get("kwargs") else {}
    env = gym.make(cfg.env.id, **kwargs)
    try:
        pixels = env.observation_space["pixels"]
        state_dim = env.observation_space["agent_pos"].shape[0]
        action_dim = env.action_space.shape[0]
    finally:
        env.close()
    where = f"dataset {cfg.dataset.root}"
    fix = "re-record the dataset with this env config, or choose the env it was recorded with"
    for cam in features.cameras:
        if cam not in pixels.spaces:
            raise ConfigError(
                f"{where} has camera {cam!r}; env {cfg.env.id} has {list(pixels.spaces)} ({fix})"
            )
        h, w = pixels[cam].shape[:2]
        if tuple(features.image_shapes[cam][1:]) != (h, w):
            raise ConfigError(
                f"{where} has {cam} images {features.image_shapes[cam][1:]}, "
                f"env.kwargs.image_size gives {(h, w)} ({fix})"
            )
    if features.action_dim != action_dim or features.state_dim != state_dim:
        raise ConfigError(
            f"{where} has action dim {features.action_dim} / state dim {features.state_dim}; "
            f"env {cfg.env.id} has {action_dim} / {state_dim} ({fix})"
        )


def build_policy(cfg: DictConfig, root: Path, resume_from: Path | None) -> Any:
    """A fresh VLAPolicy for the dataset, or the resumed checkpoint's (weights, tokenizer, stats)."""
    from policies.vla.policy import VLAPolicy, collect_action_chunks
    from vla.data.dataset import dataset_features, load_stats, make_dataloader

    if resume_from is not None:
        return VLAPolicy.from_pretrained(resume_from / ckpt.PRETRAINED)
    features = dataset_features(root)
    chunks = None
    if cfg.tokenizer.type == "fast":  # FAST's BPE is fitted on the dataset's action chunks
        loader = make_dataloader(root, cfg.policy.chunk_size, 256, shuffle=False)
        chunks = collect_action_chunks(loader)
    policy_cfg = OmegaConf.to_container(cfg.policy, resolve=True)
    policy_cfg.pop("name", None)
    return VLAPolicy.from_config(
        policy_cfg, load_stats(root), features.cameras, features.state_dim, features.action_dim, chunks
    )


def loader_factory(cfg: DictConfig, root: Path) -> Any:
    """epoch -> the DataLoader whose order is a function of (seed, epoch) only (exact resume)."""
    from vla.data.dataset import make_dataloader

    loader = make_dataloader(
        root, cfg.policy.chunk_size, cfg.train.batch_size, cfg.train.num_workers, shuffle=True,
        seed=cfg.seed, drop_last=True, persistent_workers=False,
        start_fraction=cfg.train.episode_start_fraction,
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


def make_evaluator(cfg: DictConfig, out_root: Path) -> Any:
    """(policy, step) -> {"success/<split>": rate}: the sim evaluation run during training."""
    from vla.eval import evaluate, success_metrics

    env_cfg = OmegaConf.to_container(cfg.env, resolve=True)
    eval_cfg = OmegaConf.to_container(cfg.eval, resolve=True)

    def run(policy: Any, step: int) -> dict[str, float]:
        report = evaluate(
            policy, f"step {step}", env_cfg, eval_cfg, out_root / "eval" / ckpt.step_dir_name(step)
        )
        return success_metrics(report)

    return run


def _choice(group: str) -> str:
    try:
        from hydra.core.hydra_config import HydraConfig

        return str(HydraConfig.get().runtime.choices[group])
    except (ValueError, KeyError):
        return "<name>"
