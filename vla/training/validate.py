"""Value checks for the Hydra configs, run before any work starts.

Hydra's struct mode already rejects unknown keys (`train.stesp=5` -> "Key 'stesp' is not in
struct"); these checks reject known keys with bad values, naming the key and a valid example.
"""

from collections.abc import Callable
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from vla.config import CONF_DIR

SPLITS = ("train", "heldout_phrasing", "heldout_combo")
MIXED_PRECISION = ("no", "fp16", "bf16")
WANDB_MODES = ("online", "offline", "disabled")
VIDEO_CODECS = ("libsvtav1", "h264", "hevc")


class ConfigError(ValueError):
    """A config value that cannot work; the message names the key and the fix."""


def _check(cfg: DictConfig, key: str, ok: Callable[[Any], bool], rule: str, example: str) -> None:
    value = OmegaConf.select(cfg, key, throw_on_missing=True)
    try:
        good = ok(value)
    except TypeError:
        good = False
    if not good:
        raise ConfigError(f"{key}={value!r}: {rule} (fix: e.g. `{key}={example}`)")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_root_list(v: Any) -> bool:
    return OmegaConf.is_list(v) and len(v) > 0 and all(isinstance(r, str) for r in v)


def _is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def validate_train(cfg: DictConfig) -> None:
    """Checks cfg.train, cfg.wandb, cfg.dataset and cfg.eval of a `vla train` config."""
    t = "train."
    _check(cfg, t + "steps", lambda v: _is_int(v) and v > 0, "must be an integer > 0", "2000")
    _check(cfg, t + "batch_size", lambda v: _is_int(v) and v > 0, "must be an integer > 0", "32")
    _check(cfg, t + "num_workers", lambda v: _is_int(v) and v >= 0, "must be an integer >= 0", "2")
    _check(cfg, t + "lr", lambda v: _is_num(v) and v > 0, "must be a number > 0", "3e-4")
    _check(cfg, t + "weight_decay", lambda v: _is_num(v) and v >= 0, "must be a number >= 0", "0.01")
    _check(cfg, t + "eps", lambda v: _is_num(v) and v > 0, "must be a number > 0", "1e-8")
    _check(
        cfg, t + "episode_start_fraction", lambda v: _is_num(v) and 0 <= v < 1,
        "must be in [0, 1) (0 = frames as they come)", "0.5",
    )  # fmt: skip
    _check(
        cfg, t + "betas", lambda v: len(v) == 2 and all(_is_num(b) and 0 <= b < 1 for b in v),
        "must be two numbers in [0, 1)", "[0.9,0.95]",
    )  # fmt: skip
    _check(
        cfg, t + "max_seconds", lambda v: v is None or (_is_num(v) and v > 0),
        "must be null (no time budget) or a number of seconds > 0", "3600",
    )  # fmt: skip
    _check(
        cfg, t + "schedule_clock",
        lambda v: v == "steps" or (v == "seconds" and cfg.train.max_seconds is not None),
        "must be steps, or seconds with train.max_seconds set (the cosine then follows the time budget)",
        "seconds train.max_seconds=1800",
    )  # fmt: skip
    steps = cfg.train.steps  # an integer > 0: checked first
    _check(
        cfg, t + "warmup_steps", lambda v: _is_int(v) and 0 <= v <= steps, f"must be in [0, {steps}]",
        str(min(100, steps // 10)),
    )  # fmt: skip
    _check(cfg, t + "min_lr_ratio", lambda v: _is_num(v) and 0 <= v <= 1, "must be in [0, 1]", "0.1")
    _check(cfg, t + "grad_clip_norm", lambda v: _is_num(v) and v >= 0, "must be >= 0 (0 = off)", "1.0")
    _check(
        cfg, t + "mixed_precision", lambda v: v in MIXED_PRECISION, f"must be one of {MIXED_PRECISION}", "no"
    )
    if OmegaConf.select(cfg, t + "cotrain") is not None:  # scene-QA co-training (vla/training/cotrain.py)
        _check(
            cfg, t + "cotrain.qa_fraction", lambda v: _is_num(v) and 0 <= v < 1,
            "must be in [0, 1): the share of each step's samples that are scene questions (0 = none)", "0.25",
        )  # fmt: skip
    _check(cfg, t + "ema.decay", lambda v: _is_num(v) and 0 < v < 1, "must be in (0, 1)", "0.999")
    _check(cfg, t + "ema.start_step", lambda v: _is_int(v) and v >= 0, "must be an integer >= 0", "0")
    for key in ("log_every", "save_every"):
        _check(cfg, t + key, lambda v: _is_int(v) and v > 0, "must be an integer > 0", "100")
    for key in ("keep_last", "eval_every"):
        _check(cfg, t + key, lambda v: _is_int(v) and v >= 0, "must be an integer >= 0 (0 = off)", "3")
    _check(cfg, "wandb.mode", lambda v: v in WANDB_MODES, f"must be one of {WANDB_MODES}", "offline")
    _check(cfg, "dataset.num_episodes", lambda v: _is_int(v) and v > 0, "must be an integer > 0", "50")
    _check(cfg, "dataset.seed_base", lambda v: _is_int(v) and v >= 0, "must be an integer >= 0", "1000")
    _check(
        cfg, "dataset.memory_limit_gb", lambda v: _is_num(v) and v >= 0, "must be a number of GB >= 0", "8"
    )
    _check(cfg, "dataset.video_codec", lambda v: v in VIDEO_CODECS, f"must be one of {VIDEO_CODECS}", "h264")
    _check(cfg, "seed", _is_int, "must be an integer", "0")
    validate_dataset_roots(cfg)
    validate_policy(cfg)
    validate_eval(cfg)


ROOTS_EXAMPLE = "[outputs/datasets/pick,outputs/datasets/push]"


def validate_dataset_roots(cfg: DictConfig) -> None:
    """One dataset (dataset.root) or several (dataset.roots, optionally dataset.weights), not both.

    dataset.root's default (`outputs/datasets/${env.id}`, an interpolation) gives way to dataset.roots;
    a root set on the command line or by a preset does not.
    """
    data = cfg.dataset
    roots, weights = data.get("roots"), data.get("weights")
    root_given = data.root is not None and not OmegaConf.is_interpolation(data, "root")
    if roots is None:
        if data.root is None:
            raise ConfigError(
                f"neither dataset.root nor dataset.roots is set (fix: e.g. `dataset.roots={ROOTS_EXAMPLE}`)"
            )
        if weights is not None:
            raise ConfigError(
                f"dataset.weights={list(weights)} needs dataset.roots (fix: `dataset.roots={ROOTS_EXAMPLE}`)"
            )
        return
    _check(cfg, "dataset.roots", _is_root_list, "must be a non-empty list of dataset folders", ROOTS_EXAMPLE)
    if root_given:
        raise ConfigError(
            f"dataset.root={data.root!r} and dataset.roots={list(roots)} are both set: give one "
            "(fix: `dataset.root=null` to train on dataset.roots)"
        )
    twice = sorted({r for r in roots if list(roots).count(r) > 1})
    if twice:
        raise ConfigError(
            f"dataset.roots lists {twice} twice (fix: list each once; dataset.weights weights them)"
        )
    if weights is not None:
        ones = "[" + ",".join("1" * len(roots)) + "]"
        _check(
            cfg, "dataset.weights", lambda v: len(v) == len(roots) and all(_is_num(w) and w > 0 for w in v),
            f"must be {len(roots)} numbers > 0, one per dataset.roots entry", ones,
        )  # fmt: skip


def validate_eval(cfg: DictConfig) -> None:
    """Checks cfg.eval (shared by `vla train` and `vla eval`)."""
    e = "eval."
    _check(cfg, e + "n_episodes", lambda v: _is_int(v) and v > 0, "must be an integer > 0", "20")
    _check(cfg, e + "n_envs", lambda v: _is_int(v) and v > 0, "must be an integer > 0", "2")
    _check(
        cfg, e + "splits", lambda v: len(v) > 0 and all(s in SPLITS for s in v),
        f"must be a non-empty list drawn from {SPLITS}", "[train,heldout_phrasing]",
    )  # fmt: skip
    _check(cfg, e + "seed_base", lambda v: _is_int(v) and v >= 0, "must be an integer >= 0", "100000")
    _check(cfg, e + "max_steps", lambda v: v is None or (_is_int(v) and v > 0), "must be null or > 0", "null")
    _check(cfg, e + "n_videos", lambda v: _is_int(v) and v >= 0, "must be an integer >= 0", "2")
    _check(
        cfg, e + "n_action_steps", lambda v: v is None or (_is_int(v) and v > 0),
        "must be null (the policy's own) or an integer > 0", "1",
    )  # fmt: skip
    _check(cfg, e + "video_size", lambda v: _is_int(v) and 32 <= v <= 2048, "must be in [32, 2048]", "256")
    if OmegaConf.select(cfg, e + "qa_max_rows") is not None:  # eval.qa_dataset (vla/apps/eval_qa.py)
        _check(cfg, e + "qa_max_rows", lambda v: _is_int(v) and v > 0, "must be an integer > 0", "200")
        _check(cfg, e + "qa_max_new_tokens", lambda v: _is_int(v) and v > 0, "must be an integer > 0", "16")
        _check(
            cfg, e + "qa_dataset", lambda v: v is None or (isinstance(v, str) and Path(v, "meta").is_dir()),
            "must be null or a dataset folder (with a scene QA file: `vla dataset qa PATH`)",
            "outputs/datasets/touch",
        )  # fmt: skip
    if OmegaConf.select(cfg, e + "offline") is not None:  # env=none's held-out episodes
        o = e + "offline."
        _check(
            cfg, o + "heldout_episodes", lambda v: (_is_num(v) and 0 <= v < 1) or (_is_int(v) and v >= 1),
            "must be a share in [0, 1) or a count >= 1 of episodes (0: no offline evaluation)", "0.1",
        )  # fmt: skip
        _check(cfg, o + "plot_episodes", lambda v: _is_int(v) and v >= 0, "must be an integer >= 0", "2")
        _check(cfg, o + "max_frames", lambda v: _is_int(v) and v > 0, "must be an integer > 0", "2000")
    known = sorted(p.stem for p in (Path(CONF_DIR) / "env").glob("*.yaml"))
    _check(
        cfg, e + "envs", lambda v: v is None or (len(v) > 0 and all(name in known for name in v)),
        f"must be null (the env group's env) or a non-empty list drawn from {known}", "[pick_cube,push_cube]",
    )  # fmt: skip


def validate_policy(cfg: DictConfig) -> None:
    """What every policy group (conf/policy/*.yaml) shares: the data loader chunks by policy.chunk_size.
    Each policy's own keys are checked by its config class when it is built (vla/apps/train.py)."""
    _check(cfg, "policy.chunk_size", lambda v: _is_int(v) and v > 0, "must be an integer > 0", "10")
    chunk = cfg.policy.chunk_size
    _check(
        cfg, "policy.n_action_steps", lambda v: _is_int(v) and 1 <= v <= chunk,
        f"must be an integer in [1, policy.chunk_size={chunk}]", str(chunk),
    )  # fmt: skip
