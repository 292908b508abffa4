"""The evaluation's episodes: a vector env, one process per env; the policy runs in the main process.

Each env slot plays episodes from a fixed list of named seeds; a finished slot is reset alone
(reset_mask) with the next seed, so an episode's outcome depends only on its seed and the policy,
never on scheduling: the same checkpoint and seeds give the same results twice.
"""

import functools
import multiprocessing
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

import envs  # noqa: F401  (registers the vla/* ids, in env worker processes too: they import this module)
from policies.base import Policy, observation_from_env
from vla.apps.processes import MP_CONTEXT, stdlib_start_method
from vla.constants import OBS_IMAGES, OBS_STATE, TASK


@dataclass
class EpisodeResult:
    """How one evaluation episode went (vla.data.writer.Episode is a recorded one: frames and actions)."""

    task: str
    split: str
    seed: int
    instruction: str = ""
    success: bool = False
    length: int = 0
    frames: list[np.ndarray] = field(default_factory=list)  # (H, W, 3) uint8, only for video episodes


def _make_env(env_id: str, kwargs: dict[str, Any], max_steps: int | None) -> gym.Env:
    extra = {"max_episode_steps": max_steps} if max_steps else {}
    return gym.make(env_id, **kwargs, **extra)


def make_vector_env(
    env_id: str, kwargs: dict[str, Any], n_envs: int, max_steps: int | None
) -> gym.vector.VectorEnv:
    """AsyncVectorEnv, one process per env, with auto-reset off (slots are reset one by one).

    Workers come from a forkserver: a clean single-threaded process that has imported the env
    modules once, so each worker starts ~3x faster than a spawned one, and never inherits the
    threads of a training process (a plain fork of one deadlocks in the child).
    """
    if MP_CONTEXT == "forkserver":
        multiprocessing.get_context("forkserver").set_forkserver_preload(["envs", "gymnasium", "mujoco"])
    fn = functools.partial(_make_env, env_id, dict(kwargs), max_steps)
    with stdlib_start_method():  # the workers start here
        return gym.vector.AsyncVectorEnv(
            [fn] * n_envs, context=MP_CONTEXT, autoreset_mode=gym.vector.AutoresetMode.DISABLED
        )


class Actor:
    """Actions for all slots: a Policy in this process (one action queue per slot), or the env's expert."""

    def __init__(self, policy: Policy | None, n_slots: int):
        self.policy = policy  # None = the env's scripted expert (privileged state lives in the workers)
        self.queues: list[list[np.ndarray]] = [[] for _ in range(n_slots)]
        self.chunk_times: list[float] = []  # seconds per policy inference call

    def reset(self, slot: int) -> None:
        self.queues[slot] = []

    def act(
        self, vec: gym.vector.VectorEnv, obs: dict[str, Any], tasks: Sequence[str], active: np.ndarray
    ) -> np.ndarray:
        """(N, D) actions; idle slots hold their current joint positions."""
        actions = np.array(obs["agent_pos"], dtype=np.float32, copy=True)  # (N, D)
        if self.policy is None:
            t0 = time.perf_counter()
            expert = vec.call("expert_action")
            self.chunk_times.append((time.perf_counter() - t0) / max(1, int(active.sum())))
            return np.where(active[:, None], np.stack(expert).astype(np.float32), actions)
        need = [i for i in np.flatnonzero(active) if not self.queues[i]]
        if need:
            observations = [
                observation_from_env(
                    {"pixels": {c: v[i] for c, v in obs["pixels"].items()}, "agent_pos": obs["agent_pos"][i]},
                    tasks[i],
                )
                for i in need
            ]
            t0 = time.perf_counter()
            chunks = self._predict(observations)  # (len(need), T, D)
            self.chunk_times.append(time.perf_counter() - t0)
            n = max(1, int(getattr(self.policy, "n_action_steps", 1)))
            for i, chunk in zip(need, chunks, strict=True):
                self.queues[i] = list(np.asarray(chunk, dtype=np.float32)[:n])
        for i in np.flatnonzero(active):
            actions[i] = self.queues[i].pop(0)
        return actions

    def _predict(self, observations: list[dict[str, Any]]) -> list[np.ndarray]:
        """One batched forward if the policy has predict_batch (VLAPolicy), else one call per observation."""
        predict_batch = getattr(self.policy, "predict_batch", None)
        if predict_batch is None or len(observations) == 1:
            return [self.policy.predict_action_chunk(o) for o in observations]
        return list(predict_batch(stack_observations(observations)))


def stack_observations(observations: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Policy observations -> one raw batch in the DataLoader's format (images (B, 3, H, W) in [0, 1])."""
    import torch  # here only: env worker processes import this module and never need torch (heavy)

    batch: dict[str, Any] = {TASK: [o[TASK] for o in observations]}
    for key in observations[0]:
        if key.startswith(OBS_IMAGES):
            imgs = np.stack([o[key] for o in observations])  # (B, H, W, 3) uint8
            batch[key] = (
                torch.from_numpy(imgs).permute(0, 3, 1, 2).contiguous().float().div_(255.0)
            )  # (B, 3, H, W)
    batch[OBS_STATE] = torch.from_numpy(np.stack([o[OBS_STATE] for o in observations]))  # (B, D_s)
    return batch


def run_episodes(
    vec: gym.vector.VectorEnv,
    actor: Actor,
    task: str,
    split: str,
    seeds: Sequence[int],
    n_videos: int,
    max_steps: int,
) -> list[EpisodeResult]:
    """Plays one episode per seed of `task` (the report's name for it); records frames (env.render) of
    the first `n_videos` episodes."""
    n = vec.num_envs
    todo = list(enumerate(seeds))
    slot_ep: list[EpisodeResult | None] = [None] * n
    slot_idx = [-1] * n
    done: dict[int, EpisodeResult] = {}
    obs = _start(vec, actor, todo, slot_ep, slot_idx, np.ones(n, bool), split, task)
    while any(ep is not None for ep in slot_ep):
        active = np.array([ep is not None for ep in slot_ep])
        _record_frames(vec, slot_ep, slot_idx, n_videos, only_new=True)  # the first frame of new episodes
        actions = actor.act(vec, obs, [ep.instruction if ep else "" for ep in slot_ep], active)
        obs, _, terminated, truncated, infos = vec.step(actions)
        _record_frames(vec, slot_ep, slot_idx, n_videos, only_new=False)
        finished = np.zeros(n, bool)
        for i, ep in enumerate(slot_ep):
            if ep is None:
                continue
            ep.length += 1
            ep.success = ep.success or bool(np.asarray(infos.get("is_success", np.zeros(n)))[i])
            if terminated[i] or truncated[i] or ep.length >= max_steps:
                done[slot_idx[i]], slot_ep[i], finished[i] = ep, None, True
        if finished.any() and todo:
            obs = _start(vec, actor, todo, slot_ep, slot_idx, finished, split, task, obs)
    return [done[i] for i in range(len(seeds))]


def _record_frames(
    vec: gym.vector.VectorEnv,
    slot_ep: list[EpisodeResult | None],
    slot_idx: list[int],
    n_videos: int,
    only_new: bool,
) -> None:
    """Renders the envs whose episode is filmed (the first n_videos of the split)."""
    film = [
        ep is not None and slot_idx[i] < n_videos and not (only_new and ep.frames)
        for i, ep in enumerate(slot_ep)
    ]
    if not any(film):
        return
    frames = vec.call("render")
    for i, ep in enumerate(slot_ep):
        if film[i] and frames[i] is not None:
            ep.frames.append(np.asarray(frames[i]))  # (S, S, 3) uint8


def _start(
    vec: gym.vector.VectorEnv,
    actor: Actor,
    todo: list[tuple[int, int]],
    slot_ep: list[EpisodeResult | None],
    slot_idx: list[int],
    free: np.ndarray,
    split: str,
    task: str,
    obs: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Resets the free slots with the next seeds (the others keep running)."""
    mask = np.zeros(vec.num_envs, bool)
    seeds: list[int | None] = [None] * vec.num_envs
    for i in np.flatnonzero(free):
        if todo:
            slot_idx[i], seeds[i] = todo.pop(0)
            mask[i] = True
    if not mask.any():
        return obs if obs is not None else {}
    new_obs, _ = vec.reset(seed=seeds, options={"reset_mask": mask})
    instructions = vec.get_attr("task_description")
    for i in np.flatnonzero(mask):
        slot_ep[i] = EpisodeResult(
            task=task, split=split, seed=int(seeds[i]), instruction=str(instructions[i])
        )
        actor.reset(i)
    return new_obs
