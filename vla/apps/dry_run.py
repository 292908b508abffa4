"""`vla train ... --dry-run` (or `train.dry_run=true`): how big the fine-tune is, before anything runs.

    vla train backbone=paligemma2_3b --dry-run
    vla train backbone=smolvlm2_256m train.batch_size=16 train.dry_run=true

`vla` (vla/cli.py) sends a `vla train` command line holding either flag here, without the flag,
instead of to the training app (also: `python -m vla.apps.dry_run <overrides>`). It composes the
config `vla train` would (same overrides, same validation), then prints for the chosen backbone and
settings: total and trainable parameters, tokens per sample, and the GPU memory plan of
vla/model/memory.py (bf16 weights, gradients, AdamW state, EMA, activations at train.batch_size) with
the largest batch that fits a 24 GB and an 80 GB GPU. Nothing is downloaded, recorded, loaded or
written: the model is built on the meta device from the checkpoint's config.json when it is on disk,
else from vla/model/architectures.py. The cameras and dimensions come from the dataset when it exists,
else from the env (env.kwargs: cameras, image_size).
"""

import sys
from pathlib import Path

from omegaconf import DictConfig, OmegaConf


def compose_train(overrides: list[str]) -> DictConfig:
    """The config `vla train <overrides>` composes (conf/config.yaml), outside a Hydra app."""
    from hydra import compose, initialize_config_dir

    from vla.config import CONF_DIR

    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose("config", overrides=overrides)


def shapes(cfg: DictConfig) -> tuple[list[tuple[int, int]], int, int, str]:
    """Camera frame sizes (H, W), state dim, action dim, and where they came from: the dataset when it
    is on disk, else the env's observation and action spaces (nothing is recorded)."""
    from vla.data.meta import dataset_features

    roots = list(cfg.dataset.roots) if cfg.dataset.get("roots") else [cfg.dataset.root]
    if all(root is not None and (Path(root) / "meta" / "info.json").is_file() for root in roots):
        f = dataset_features(roots)
        frames = [tuple(f.image_shapes[c][1:]) for c in f.cameras]
        return frames, f.state_dim, f.action_dim, f"dataset {', '.join(map(str, roots))}"
    if cfg.env.get("id") is None:
        raise ValueError(
            f"dataset.root={cfg.dataset.root} holds no dataset and env=none has no spaces to size the "
            "policy from: point dataset.root at the dataset to train on"
        )
    import gymnasium as gym

    import envs  # noqa: F401  registers the ids

    kwargs = OmegaConf.to_container(cfg.env.kwargs, resolve=True) if cfg.env.get("kwargs") else {}
    env = gym.make(cfg.env.id, **kwargs)
    try:
        pixels = env.observation_space["pixels"]
        frames = [tuple(pixels[c].shape[:2]) for c in pixels.spaces]
        state_dim = env.observation_space["agent_pos"].shape[0]
        action_dim = env.action_space.shape[0]
    finally:
        env.close()
    return frames, state_dim, action_dim, f"env {cfg.env.id} (no dataset at {cfg.dataset.root} yet)"


def dry_run(cfg: DictConfig) -> str:
    """The report `vla train --dry-run` prints for a composed `vla train` config."""
    from policies.vla.config import VLAConfig
    from vla.model.memory import plan_vla
    from vla.training import cotrain

    if cfg.policy.name != "vla":
        raise ValueError(f"policy={cfg.policy.name}: the dry run sizes the VLA (policy=vla) only")
    policy = OmegaConf.to_container(cfg.policy, resolve=True)
    policy.pop("name", None)
    frames, state_dim, action_dim, source = shapes(cfg)
    model_cfg = VLAConfig.from_dict(policy)
    plan = plan_vla(model_cfg, frames, state_dim, action_dim, ema=bool(cfg.train.ema.enabled))
    cams = ", ".join(f"{h}x{w}" for h, w in frames)
    batch = int(cfg.train.batch_size)
    qa = cotrain.qa_per_step(cfg.train)
    lines = [
        plan.report(batch + qa),
        f"  inputs       {len(frames)} cameras ({cams}), state {state_dim}, action {action_dim}: "
        f"from {source}; the instruction counted as 12 tokens",
        f"  precision    weights and activations at backbone.dtype={cfg.backbone.dtype}"
        + (
            f" (train.mixed_precision={cfg.train.mixed_precision} not modelled)"
            if cfg.train.mixed_precision != "no"
            else ""
        ),
    ]
    if qa:  # a QA prompt (question + answer) is about as long as an action sample's: counted as one
        lines.append(
            f"  co-training  batch {batch + qa} = {batch} action + {qa} scene-QA samples per step "
            f"(train.cotrain.qa_fraction={cotrain.fraction(cfg.train)}), each QA sample counted as an "
            "action sample's size"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """`vla train <overrides> --dry-run`: prints the plan; a bad value exits with its message."""
    from hydra.errors import HydraException

    from vla.model.hub import MissingWeightsError
    from vla.training.validate import ConfigError, validate_train

    overrides = list(sys.argv[1:] if argv is None else argv)
    try:
        cfg = compose_train(overrides)
        validate_train(cfg)
        print(dry_run(cfg))
    except (ConfigError, HydraException, MissingWeightsError, ValueError) as err:
        sys.exit(f"vla train --dry-run: {err}")


if __name__ == "__main__":
    main()
