"""Running a policy in a gym env to produce one Episode (what `vla record` writes), and replaying one.

Builds envs by id (`import envs` registers them) and policies by name (policies.registry); the
Episode is vla.data's, the unit the dataset writer stores.
"""

from typing import Any

import gymnasium as gym
import numpy as np

import envs
from policies.base import observation_from_env
from policies.registry import make_policy
from vla.data.writer import Episode, make_features

MAX_STEPS = 10_000  # safety net for envs without a TimeLimit


def make_env(env_id: str, env_kwargs: dict[str, Any] | None = None) -> Any:
    try:
        return gym.make(env_id, **(env_kwargs or {}))
    except gym.error.Error as exc:
        raise ValueError(f"cannot make env {env_id!r}: {exc}; known tabletop ids: {envs.TASK_IDS}") from exc


def make_rollout_policy(env: Any, name: str = "expert", kwargs: dict[str, Any] | None = None) -> Any:
    """A registered policy; the expert is bound to the env it reads its privileged state from, and
    `limits` (a bridge's joint_names and safety: vla/apps/expert_limits.py) keeps it within them."""
    kwargs = dict(kwargs or {})
    if name != "expert":
        return make_policy(name, **kwargs)
    limits = kwargs.pop("limits", None)
    expert = make_policy(name, env=env, **kwargs)
    if not limits:
        return expert
    from vla.apps.expert_limits import LimitedPolicy
    from vla.bridge.safety import SafetyConfig

    return LimitedPolicy(expert, SafetyConfig.from_bridge(limits), 1.0 / float(env.metadata["render_fps"]))


def env_features(env: Any) -> tuple[dict, int]:
    """lerobot features and fps of an env with LeRobot's gym observation layout."""
    space = env.observation_space
    if "pixels" not in space.spaces or "agent_pos" not in space.spaces:
        raise ValueError(
            f"env observation space {space} has no 'pixels' and 'agent_pos'; not a LeRobot-style env"
        )
    shapes = {cam: tuple(box.shape) for cam, box in space["pixels"].spaces.items()}
    fps = env.metadata.get("render_fps")
    if not fps:
        raise ValueError(
            f"env {env.spec.id if env.spec else env} has no metadata['render_fps'] (control rate)"
        )
    features = make_features(shapes, space["agent_pos"].shape[0], env.action_space.shape[0])
    return features, int(fps)


def rollout(
    env: Any, policy: Any, seed: int, max_steps: int | None = None, after_success_steps: int = 0
) -> Episode:
    """One episode from env.reset(seed): frames (observation_t, action_t) until terminated/truncated.

    after_success_steps: go on this many steps past the first success (the env must step on after
    terminating, as the tabletop envs do), stopping early if truncated: the demo then shows what follows
    success (a PickCube lift goes on to the expert's carry height) instead of ending on its threshold.
    """
    obs, info = env.reset(seed=seed)
    policy.reset()
    task = env.unwrapped.task_description
    images: dict[str, list[np.ndarray]] = {cam: [] for cam in obs["pixels"]}
    states, actions = [], []
    success_step: int | None = None
    for t in range(max_steps or MAX_STEPS):
        action = np.asarray(policy.select_action(observation_from_env(obs, task)), dtype=np.float32)
        for cam, img in obs["pixels"].items():
            images[cam].append(np.array(img, dtype=np.uint8))  # copy: renderers may reuse buffers
        states.append(np.asarray(obs["agent_pos"], dtype=np.float32))
        actions.append(action)
        obs, _, terminated, truncated, info = env.step(action)
        if success_step is None and info.get("is_success", False):
            success_step = t
        went_on = success_step is not None and t >= success_step + after_success_steps  # success or not now
        if truncated or went_on or (terminated and success_step is None):
            break
    info = {"seed": int(seed), "success": success_step is not None}
    if after_success_steps:  # the sidecar says where success came and how far the episode went on
        info.update(after_success_steps=after_success_steps, success_step=success_step)
    return Episode(
        images={cam: np.stack(frames) for cam, frames in images.items()},  # (T, H, W, 3)
        state=np.stack(states),  # (T, D_s)
        action=np.stack(actions),  # (T, D_a)
        task=task,
        info=info,
    )


def replay(env: Any, seed: int, actions: np.ndarray) -> np.ndarray:
    """States (T, D_s) observed when `actions` (T, D_a) are replayed from env.reset(seed)."""
    obs, _ = env.reset(seed=seed)
    states = []
    for action in actions:
        states.append(np.asarray(obs["agent_pos"], dtype=np.float32))
        obs, *_ = env.step(action)
    return np.stack(states)
