"""LeRobotAdapter: one of LeRobot's own policy classes behind policies.base.Policy, trained by `vla train`.

ACT, Diffusion Policy and SmolVLA (policies/{act,diffusion,smolvla}/) run lerobot's modeling code, loss,
processors and defaults as installed (lerobot 0.6.1, pinned in pyproject.toml): nothing of it is copied
here. The adapter only maps the project's batch (vla/data/dataset.py: images (B, 3, H, W) in [0, 1], raw
state (B, D_s), raw actions (B, T, D_a), action_is_pad, task strings) onto lerobot's keys, which are the
same names, and stores checkpoints in the project's format.

Normalisation goes through lerobot's own processor pipeline (make_<name>_pre_post_processors), built from
the dataset's statistics, not through vla/data/normalize.py: each policy keeps its own modes (ACT mean/std,
Diffusion min/max, SmolVLA mean/std with images as they are) and SmolVLA its newline + tokenizer steps,
exactly as lerobot trains them. Camera statistics are ImageNet's, as lerobot's training script uses by
default (DatasetConfig.use_imagenet_stats=True).

Checkpoint (save_pretrained): config.yaml (_target_, format_version, the flat policy config),
model.safetensors (the lerobot policy's state dict), stats.safetensors (what the processors normalise
with), plus what a subclass adds (SmolVLA: vlm/, its backbone's config and tokenizer). Loading reads YAML
and safetensors only, and a `_target_` other than the class's own is refused.
"""

import os
import shutil
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import torch
import yaml
from lerobot.configs.types import FeatureType, PolicyFeature
from lerobot.processor import DeviceProcessorStep
from lerobot.utils.constants import IMAGENET_STATS
from safetensors.torch import load_file, load_model, save_file, save_model
from torch import nn

from policies.base import Observation, Policy
from vla.constants import ACTION, ACTION_IS_PAD, OBS_STATE, TASK, image_key

FORMAT_VERSION = 1
FEATURE_KEYS = ("cameras", "image_shapes", "state_dim", "action_dim", "fps")  # filled from the dataset
VECTOR_STATS = ("mean", "std", "min", "max", "q01", "q99")  # handed to lerobot's normaliser


@dataclass
class LeRobotAdapterConfig:
    """The flat conf/policy/<name>.yaml node: fields of lerobot's config class as given (any field left
    out keeps lerobot's default), plus the dataset's features. `chunk_size` is what the data loader
    chunks by; a policy whose lerobot name differs (Diffusion: `horizon`) maps it in `chunk_field`."""

    lerobot_config_cls: ClassVar[type]
    chunk_field: ClassVar[str] = "chunk_size"
    adapter_keys: ClassVar[tuple[str, ...]] = ()  # keys the adapter reads that lerobot's config lacks

    options: dict[str, Any] = field(default_factory=dict)
    cameras: list[str] = field(default_factory=list)
    image_shapes: dict[str, list[int]] = field(default_factory=dict)  # camera -> (C, H, W)
    state_dim: int = 0
    action_dim: int = 0
    fps: int | None = None  # control rate of the training data (None: a checkpoint from before it was kept)

    @classmethod
    def from_dict(cls, node: Mapping[str, Any]) -> Self:
        opts = {k: v for k, v in node.items() if k != "name"}
        feats = {k: opts.pop(k) for k in FEATURE_KEYS if k in opts}
        cfg = cls(options=opts, **feats)
        cfg.validate()
        return cfg

    def to_dict(self) -> dict[str, Any]:
        feats = {
            "cameras": list(self.cameras),
            "image_shapes": {k: list(v) for k, v in self.image_shapes.items()},
        }
        dims = {"state_dim": self.state_dim, "action_dim": self.action_dim, "fps": self.fps}
        return {**self.options, **feats, **dims}

    def validate(self) -> None:
        name = self.lerobot_config_cls.__name__
        known = {f.name for f in fields(self.lerobot_config_cls)} | {"chunk_size", *self.adapter_keys}
        unknown = sorted(set(self.options) - known)
        if unknown:
            raise ValueError(
                f"policy.{unknown[0]} is not a field of lerobot's {name} "
                f"({self.lerobot_config_cls.__module__}); remove it or use one of {sorted(known)}"
            )
        if self.chunk_field != "chunk_size" and self.chunk_field in self.options:
            raise ValueError(
                f"set policy.chunk_size, not policy.{self.chunk_field}: it is lerobot's {self.chunk_field}"
            )
        if self.state_dim < 0 or self.action_dim < 0:
            raise ValueError("policy.state_dim and policy.action_dim must be >= 0")
        try:  # lerobot's own checks of its fields (n_action_steps <= chunk_size, U-Net horizon, ...)
            self.lerobot_config()
        except (TypeError, ValueError, NotImplementedError) as err:
            raise ValueError(f"policy (lerobot's {name}): {err}") from err

    def lerobot_default(self, name: str) -> Any:
        for f in fields(self.lerobot_config_cls):
            if f.name == name:
                return f.default if f.default is not MISSING else f.default_factory()  # type: ignore[misc]
        raise KeyError(name)

    def get(self, name: str) -> Any:
        """A lerobot field's value: as given, else lerobot's default."""
        return self.options[name] if name in self.options else self.lerobot_default(name)

    @property
    def chunk_size(self) -> int:
        return int(self.options.get("chunk_size", self.lerobot_default(self.chunk_field)))

    @property
    def n_action_steps(self) -> int:
        return int(self.get("n_action_steps"))

    def lerobot_kwargs(self) -> dict[str, Any]:
        """Options as lerobot's config class takes them: chunk_size under its lerobot name, YAML lists
        as tuples where lerobot's default is a tuple (down_dims, resize_imgs_with_padding, ...)."""
        kwargs = {k: v for k, v in self.options.items() if k not in self.adapter_keys}
        if "chunk_size" in kwargs:
            kwargs[self.chunk_field] = kwargs.pop("chunk_size")
        for key, value in kwargs.items():
            if isinstance(value, list) and isinstance(self.lerobot_default(key), tuple):
                kwargs[key] = tuple(value)
        return kwargs

    def lerobot_config(self, **overrides: Any) -> Any:
        """lerobot's config for this dataset's features, on the CPU (the adapter follows the model)."""
        inputs = {
            image_key(cam): PolicyFeature(FeatureType.VISUAL, tuple(self.image_shapes[cam]))
            for cam in self.cameras
        }
        inputs[OBS_STATE] = PolicyFeature(FeatureType.STATE, (self.state_dim,))
        outputs = {ACTION: PolicyFeature(FeatureType.ACTION, (self.action_dim,))}
        kwargs = {**self.lerobot_kwargs(), **overrides}
        return self.lerobot_config_cls(
            input_features=inputs, output_features=outputs, device="cpu", push_to_hub=False, **kwargs
        )


class LeRobotAdapter(nn.Module, Policy):
    """Subclasses name lerobot's policy class, their config class and their checkpoint `_target_`, and
    override `_make` (how the lerobot policy and its processors are built) where they need more."""

    config_cls: ClassVar[type[LeRobotAdapterConfig]]
    target: ClassVar[str]

    def __init__(self, cfg: LeRobotAdapterConfig, model: nn.Module, processors: tuple[Any, Any], stats: Any):
        nn.Module.__init__(self)
        Policy.__init__(self)
        self.cfg = cfg
        self.model = model  # the lerobot policy (a PreTrainedPolicy)
        self._pre, self._post = processors
        self.stats = stats  # {key: {stat: tensor}}: what the processors normalise with
        self.n_action_steps = cfg.n_action_steps
        self.fps = cfg.fps

    # -- construction -----------------------------------------------------------------------------
    @classmethod
    def from_config(
        cls, cfg: Mapping[str, Any], stats: Mapping[str, Mapping[str, Any]], features: Any
    ) -> Self:
        """A fresh policy. cfg: conf/policy/<name>.yaml node (name optional); stats: load_stats(root);
        features: dataset_features(root) (cameras, image shapes, state and action dims)."""
        plain = dict(cfg)
        plain.update(
            cameras=list(features.cameras),
            image_shapes={c: list(features.image_shapes[c]) for c in features.cameras},
            state_dim=int(features.state_dim),
            action_dim=int(features.action_dim),
            fps=int(features.fps),
        )
        acfg = cls.config_cls.from_dict(plain)
        if not acfg.cameras:
            raise ValueError(f"{cls.__name__} needs at least one camera (dataset_features(root) lists them)")
        policy_stats = select_stats(stats, acfg.cameras, acfg.state_dim, acfg.action_dim)
        model, processors = cls._make(acfg, policy_stats, checkpoint=None)
        return cls(acfg, model, processors, policy_stats)

    @classmethod
    def _make(cls, cfg: LeRobotAdapterConfig, stats: Any, checkpoint: Path | None) -> tuple[nn.Module, Any]:
        """(lerobot policy, (preprocessor, postprocessor)); checkpoint is the folder being loaded, if any."""
        raise NotImplementedError

    @classmethod
    def from_pretrained(cls, path: str | Path, device: str | torch.device = "cpu") -> Self:
        """Loads a save_pretrained folder: YAML + safetensors only (never pickle, never remote code)."""
        path = Path(path)
        if not (path / "config.yaml").exists():
            raise FileNotFoundError(
                f"{path} is not a policy checkpoint (no config.yaml); train one with `vla train`"
            )
        meta = yaml.safe_load((path / "config.yaml").read_text())
        if meta.get("_target_") != cls.target:
            raise ValueError(f"{path}/config.yaml: _target_ {meta.get('_target_')!r} is not {cls.target!r}")
        acfg = cls.config_cls.from_dict(meta["policy"])
        stats = unflatten_stats(load_file(str(path / "stats.safetensors")))
        model, processors = cls._make(acfg, stats, checkpoint=path)
        missing, unexpected = load_model(model, str(path / "model.safetensors"), strict=False)
        if missing or unexpected:
            raise ValueError(
                f"{path}/model.safetensors does not match the config: missing {missing[:5]}, "
                f"unexpected {unexpected[:5]}"
            )
        return cls(acfg, model, processors, stats).to(device).eval()

    def save_pretrained(self, path: str | Path) -> None:
        """Writes a temporary folder, then renames it into place (a crash never leaves half a checkpoint)."""
        path = Path(path)
        tmp = path.parent / f".{path.name}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        meta = {"_target_": self.target, "format_version": FORMAT_VERSION, "policy": self.cfg.to_dict()}
        (tmp / "config.yaml").write_text(yaml.safe_dump(meta, sort_keys=False))
        save_model(self.model, str(tmp / "model.safetensors"))
        save_file(flatten_stats(self.stats), str(tmp / "stats.safetensors"))
        self._save_extra(tmp)
        old = path.parent / f".{path.name}.old-{os.getpid()}"
        if path.exists():
            path.rename(old)
        tmp.rename(path)
        shutil.rmtree(old, ignore_errors=True)

    def _save_extra(self, directory: Path) -> None:
        """Files a subclass needs next to the weights to rebuild the model (none by default)."""

    # -- training ---------------------------------------------------------------------------------
    def compute_loss(self, batch: Mapping[str, Any]) -> tuple[torch.Tensor, dict[str, float]]:
        """Raw batch (make_dataloader's keys) -> lerobot's loss and its scalar loss terms."""
        shape = tuple(batch[ACTION].shape)
        if shape[1:] != (self.cfg.chunk_size, self.cfg.action_dim):
            raise ValueError(
                f"batch['action'] has shape {shape}, the policy expects (B, {self.cfg.chunk_size}, "
                f"{self.cfg.action_dim}); build the dataloader with chunk_size={self.cfg.chunk_size}"
            )
        loss, info = self.model.forward(self._training_batch(self._preprocess(batch)))
        return loss, {k: float(v) for k, v in (info or {}).items() if isinstance(v, int | float)}

    def _training_batch(self, batch: dict[str, Any]) -> dict[str, Any]:
        return batch

    # -- inference --------------------------------------------------------------------------------
    @torch.no_grad()
    def predict_batch(self, batch: Mapping[str, Any]) -> np.ndarray:
        """Raw batch (no actions needed) -> (B, T, D) float32 actions in robot units."""
        obs = {k: v for k, v in batch.items() if k not in (ACTION, ACTION_IS_PAD)}
        return self._postprocess(self._predict_chunk(self._preprocess(obs)))

    def _predict_chunk(self, batch: dict[str, Any]) -> torch.Tensor:
        return self.model.predict_action_chunk(batch)  # (B, T, D) normalised

    def predict_action_chunk(self, obs: Observation) -> np.ndarray:
        """One observation -> (T, D) float32 actions; stateless (eval and deploy queue the chunk)."""
        return self.predict_batch(observation_to_batch(obs, self.cfg.cameras))[0]

    @torch.no_grad()
    def select_action(self, obs: Observation) -> np.ndarray:
        """lerobot's own select_action (its action queue; ACT's temporal ensembling when configured)."""
        action = self.model.select_action(self._preprocess(observation_to_batch(obs, self.cfg.cameras)))
        return self._postprocess(action)[0]

    def reset(self) -> None:
        Policy.reset(self)
        self.model.reset()

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def _preprocess(self, batch: Mapping[str, Any]) -> dict[str, Any]:
        """lerobot's preprocessor (normalise; SmolVLA also tokenises), onto the model's device."""
        self._follow_device()
        return self._pre(dict(batch))

    def _postprocess(self, actions: torch.Tensor) -> np.ndarray:
        return np.asarray(self._post(actions).float().numpy(), dtype=np.float32)

    def _follow_device(self) -> None:
        # lerobot's pipeline moves inputs to config.device, fixed when it is built; accelerate may have
        # moved the model since (train.cpu=false on a GPU), so point the device step at the model's
        device = self.device
        steps = self._pre.steps
        for i, step in enumerate(steps):
            if isinstance(step, DeviceProcessorStep) and step.tensor_device != device:
                steps[i] = DeviceProcessorStep(device=str(device))


def select_stats(
    stats: Mapping[str, Mapping[str, Any]], cameras: Iterable[str], state_dim: int, action_dim: int
) -> dict[str, dict[str, torch.Tensor]]:
    """The dataset's state/action statistics and ImageNet's for the cameras, as lerobot's training script."""
    out: dict[str, dict[str, torch.Tensor]] = {}
    for key, dim in ((OBS_STATE, state_dim), (ACTION, action_dim)):
        if key not in stats:
            raise ValueError(
                f"stats lack {key!r}; use vla.data.dataset.load_stats(root) of a recorded dataset"
            )
        got = {
            n: torch.as_tensor(np.asarray(stats[key][n], np.float32)) for n in VECTOR_STATS if n in stats[key]
        }
        if got["mean"].shape[-1] != dim:
            raise ValueError(
                f"stats[{key!r}] has dim {got['mean'].shape[-1]} but the dataset's features say {dim}"
            )
        out[key] = got
    for cam in cameras:
        out[image_key(cam)] = {n: torch.tensor(v, dtype=torch.float32) for n, v in IMAGENET_STATS.items()}
    return out


def flatten_stats(stats: Mapping[str, Mapping[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    return {
        f"{key}/{name}": v.detach().cpu().contiguous() for key, s in stats.items() for name, v in s.items()
    }


def unflatten_stats(tensors: Mapping[str, torch.Tensor]) -> dict[str, dict[str, torch.Tensor]]:
    out: dict[str, dict[str, torch.Tensor]] = {}
    for flat, value in tensors.items():
        key, name = flat.rsplit("/", 1)
        out.setdefault(key, {})[name] = value
    return out


def observation_to_batch(obs: Observation, cameras: Iterable[str]) -> dict[str, Any]:
    """One policy observation ((H, W, 3) uint8 images) -> a raw batch of one ((1, 3, H, W) in [0, 1])."""
    batch: dict[str, Any] = {TASK: [str(obs.get(TASK, ""))]}
    for cam in cameras:
        img = torch.as_tensor(np.ascontiguousarray(obs[image_key(cam)]))
        if img.ndim != 3 or img.shape[-1] != 3:
            raise ValueError(f"obs[{image_key(cam)!r}] must be (H, W, 3) uint8, got {tuple(img.shape)}")
        batch[image_key(cam)] = img.permute(2, 0, 1)[None].float().div_(255.0)  # (1, 3, H, W)
    batch[OBS_STATE] = torch.as_tensor(np.asarray(obs[OBS_STATE], np.float32))[None]  # (1, D_s)
    return batch


def with_empty_queues(model: nn.Module) -> Any:
    """Context: lerobot's queues emptied inside, restored after (see DiffusionAdapter._predict_chunk)."""
    return _EmptyQueues(model)


class _EmptyQueues:
    def __init__(self, model: nn.Module):
        self.model = model

    def __enter__(self) -> None:
        self.saved = self.model._queues
        self.model._queues = {k: deque(maxlen=q.maxlen) for k, q in self.saved.items()}

    def __exit__(self, *exc: object) -> None:
        self.model._queues = self.saved
