"""`vla record`: run a policy (default: the task's scripted expert) in sim, write a LeRobotDataset.
(`vla record source=ros2`, recording a ROS 2 robot: vla/apps/record_ros2.py.)

    vla record env=pick_cube num_episodes=50                    # -> outputs/datasets/vla/PickCube-v0
    vla record env=pick_cube tasks=[vla/PickCube-v0,vla/PushCube-v0] num_episodes=100 num_workers=2
    vla record env=pick_cube root=/data/pick split=heldout_phrasing only_success=false

Attempt k runs env id tasks[k % len(tasks)] from seed `seed + k // len(tasks)`; results are
written in attempt order whatever the number of workers, so a command always yields the same
dataset. Each episode's env id, seed, split and success go to meta/vla_episodes.jsonl, so any
episode can be replayed (vla.apps.rollout.replay). Re-running on an existing root appends,
continuing after the highest recorded seed. Ctrl-C keeps every complete episode; a SIGKILL keeps
every committed one (see vla/data/writer.py).
"""

import concurrent.futures as cf
import ctypes
import itertools
import logging
import multiprocessing
import signal
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vla import runtime
from vla.apps.expert_limits import bridge_limits
from vla.apps.rollout import env_features, make_env, make_rollout_policy, rollout
from vla.data import meta
from vla.data.writer import DEFAULT_REPO_ID, Episode, EpisodeWriter

log = logging.getLogger(__name__)

_WORKER_ENVS: dict[str, tuple[Any, Any]] = {}  # per process: (env id, kwargs, policy) -> (env, policy)


@dataclass
class RecordResult:
    root: Path
    recorded: int  # episodes written by this call
    attempts: int  # episodes run (including failures that were not kept)
    successes: int  # successful attempts among them
    total_episodes: int  # episodes in the dataset now


@dataclass(frozen=True)
class _Job:
    attempt: int
    env_id: str
    seed: int
    env_kwargs: dict
    policy: str
    policy_kwargs: dict
    after_success_steps: int = 0


def _run_job(job: _Job) -> Episode:
    """Runs one attempt (in a worker process or inline); envs and policies are cached per process."""
    key = repr((job.env_id, sorted(job.env_kwargs.items()), job.policy, sorted(job.policy_kwargs.items())))
    if key not in _WORKER_ENVS:  # keyed by everything that shapes the env: same id, other size = other env
        env = make_env(job.env_id, job.env_kwargs)
        _WORKER_ENVS[key] = (env, make_rollout_policy(env, job.policy, job.policy_kwargs))
    env, policy = _WORKER_ENVS[key]
    episode = rollout(env, policy, job.seed, after_success_steps=job.after_success_steps)
    episode.info = {
        "env_id": job.env_id,
        **episode.info,
        "split": job.env_kwargs.get("split"),
        "policy": job.policy,
    }
    episode.info["env_kwargs"] = job.env_kwargs  # what replaying the episode needs
    if job.policy_kwargs.get("limits"):  # the expert under a bridge's limits: how often they slowed it
        episode.info["rate_limited_steps"] = policy.interventions.get("rate_limited", 0)
    return episode


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the main process handles Ctrl-C and commits


class _InlineExecutor(cf.Executor):
    """Runs jobs in this process (num_workers <= 1), with the executor interface."""

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> cf.Future:
        future: cf.Future = cf.Future()
        future.set_result(fn(*args, **kwargs))
        return future


def _next_seeds(root: Path, env_ids: Sequence[str]) -> dict[str, int]:
    """Per env id: one past the highest seed already recorded in `root` (0 for a new dataset)."""
    rows = meta.read_sidecar(root) if root.exists() else []
    return {e: 1 + max((r["seed"] for r in rows if r.get("env_id") == e), default=-1) for e in env_ids}


def _targets(env_ids: Sequence[str], num_episodes: int) -> dict[str, int]:
    n = len(env_ids)
    return {e: num_episodes // n + (i < num_episodes % n) for i, e in enumerate(env_ids)}


def _probe(env_ids: Sequence[str], env_kwargs: dict) -> tuple[dict, int]:
    """Features and fps shared by all env ids (one env each, closed again)."""
    found = []
    for env_id in env_ids:
        env = make_env(env_id, env_kwargs)
        found.append(env_features(env))
        env.close()
    if any(f != found[0] for f in found[1:]):
        raise ValueError(
            f"tasks {list(env_ids)} have different cameras/dims/fps; record them into separate roots"
        )
    return found[0]


def _schedule(
    env_ids: Sequence[str], first: dict[str, int], seeds: Sequence[int] | None
) -> Iterator[tuple[str, int]]:
    k = 0
    while seeds is None or k < len(seeds) * len(env_ids):
        env_id, j = env_ids[k % len(env_ids)], k // len(env_ids)
        yield env_id, (first[env_id] + j if seeds is None else int(seeds[j]))
        k += 1


def record_dataset(
    env_id: str | Sequence[str],
    root: str | Path,
    num_episodes: int,
    split: str | None = None,
    seeds: int | Sequence[int] | None = None,
    *,
    env_kwargs: dict | None = None,
    policy: str = "expert",
    policy_kwargs: dict | None = None,
    only_success: bool = True,
    after_success_s: float = 0.0,
    num_workers: int = 1,
    commit_every: int = 100,
    commit_every_s: float | None = 30.0,
    max_attempts: int | None = None,
    video: dict | None = None,
    repo_id: str = DEFAULT_REPO_ID,
    progress: bool = True,
) -> RecordResult:
    """Records `num_episodes` episodes (spread over the env ids) into the LeRobotDataset at `root`.

    seeds: an int = the first seed (attempt k uses seed + k // len(env ids)); a list = exactly these
    seeds per env id; None = continue after the highest seed already in `root` (0 for a new one).
    split overrides env_kwargs["split"]. max_attempts (default 5 x num_episodes) bounds the runs
    when only_success drops failures. after_success_s: seconds each episode goes on past its first
    success (steps at the env's fps; 0 = end on success, as evaluation does). A commit (atomic: what
    a SIGKILL keeps) happens every `commit_every` episodes or, sooner, once `commit_every_s` seconds
    have passed. Returns counts; raises KeyboardInterrupt after committing.
    """
    env_ids = [env_id] if isinstance(env_id, str) else list(env_id)
    if num_episodes < 1 or not env_ids:
        raise ValueError(f"num_episodes={num_episodes} must be >= 1 and env_id {env_id!r} non-empty")
    kwargs = {**(env_kwargs or {}), **({"split": split} if split is not None else {})}
    root = Path(root).expanduser().resolve()
    if not 0.0 <= after_success_s <= 10.0:
        raise ValueError(f"after_success_s={after_success_s} is out of range; use 0 to 10 seconds")
    features, fps = _probe(env_ids, kwargs)
    after = round(after_success_s * fps)
    with EpisodeWriter(
        root, fps, features, repo_id, commit_every, video, commit_every_s=commit_every_s
    ) as writer:
        first = _next_seeds(root, env_ids) if seeds is None else dict.fromkeys(env_ids, seeds)
        seed_list = None if seeds is None or isinstance(seeds, int) else list(seeds)
        schedule = _schedule(env_ids, first if seed_list is None else {}, seed_list)
        jobs = (
            _Job(k, e, s, kwargs, policy, policy_kwargs or {}, after) for k, (e, s) in enumerate(schedule)
        )
        jobs = itertools.islice(jobs, max_attempts or 5 * num_episodes)
        targets = _targets(env_ids, num_episodes)
        counts = _record_loop(writer, jobs, targets, only_success, num_workers, progress)
    result = RecordResult(root, *counts, total_episodes=writer.num_episodes)
    if result.recorded < num_episodes:
        log.warning(
            "recorded %d of %d episodes in %d attempts", result.recorded, num_episodes, result.attempts
        )
    return result


def _make_pool(num_workers: int) -> cf.Executor:
    if num_workers <= 1:
        return _InlineExecutor()
    spawn = multiprocessing.get_context("spawn")  # fresh processes: no inherited GL/MuJoCo state
    return cf.ProcessPoolExecutor(num_workers, spawn, initializer=_ignore_sigint)


def _record_loop(
    writer: EpisodeWriter,
    jobs: Iterator[_Job],
    targets: dict[str, int],
    only_success: bool,
    num_workers: int,
    progress: bool,
) -> tuple[int, int, int]:
    """Keeps up to 2 x workers attempts in flight; consumes results in attempt order."""
    import lerobot.datasets.lerobot_dataset  # noqa: F401  (~10 s import: before the bar starts timing)
    from tqdm import tqdm

    kept = dict.fromkeys(targets, 0)
    pending: dict[int, tuple[_Job, cf.Future]] = {}
    attempts = successes = 0
    bar = tqdm(total=sum(targets.values()), unit="ep", disable=not progress, dynamic_ncols=True)
    pool = _make_pool(num_workers)
    try:
        while sum(kept.values()) < sum(targets.values()):
            while len(pending) < max(1, 2 * num_workers) and (job := next(jobs, None)) is not None:
                if kept[job.env_id] < targets[job.env_id]:  # no new runs for a task already complete
                    pending[job.attempt] = (job, pool.submit(_run_job, job))
            if not pending:
                break  # attempts (max_attempts or the seed list) exhausted
            job, future = pending.pop(min(pending))
            episode = future.result()
            attempts, successes = attempts + 1, successes + bool(episode.info["success"])
            bar.set_postfix_str(f"success {successes}/{attempts} ({100 * successes / attempts:.0f}%)", False)
            if kept[job.env_id] < targets[job.env_id] and (episode.info["success"] or not only_success):
                writer.add_episode(episode)
                kept[job.env_id] += 1
                bar.update(1)
            bar.refresh()
    finally:
        bar.close()
        pool.shutdown(wait=False, cancel_futures=True)
    return sum(kept.values()), attempts, successes


def is_interrupt(exc: BaseException) -> bool:
    """Ctrl-C, also when it landed inside a ctypes call (MuJoCo's EGL renderer): ctypes re-raises it as
    ArgumentError("argument N: KeyboardInterrupt: "), which would otherwise exit 1, not 130."""
    return isinstance(exc, KeyboardInterrupt) or (
        isinstance(exc, ctypes.ArgumentError) and "KeyboardInterrupt" in str(exc)
    )


def _sigterm_to_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # `kill PID` commits like Ctrl-C


def main() -> None:
    """Hydra entry point of `vla record` (conf/record.yaml)."""
    # Hydra (~0.3 s) imported here only: recording worker processes import this module, never need it
    import hydra
    from omegaconf import DictConfig, OmegaConf

    from vla.config import CONF_DIR

    @hydra.main(config_path=CONF_DIR, config_name="record", version_base="1.3")
    def _app(cfg: DictConfig) -> None:
        signal.signal(signal.SIGTERM, _sigterm_to_interrupt)
        runtime.configure(cfg.runtime)  # recording workers inherit it (a policy=vla rollout runs torch)
        c = OmegaConf.to_container(cfg, resolve=True)
        root = Path(c["root"]).expanduser().resolve()
        if "ros2" in cfg:  # source=ros2 (conf/source/ros2.yaml): a robot over DDS, no policy, no env
            from vla.apps.record_ros2 import record_from_ros2

            # commit_every=1: each saved episode is committed at once (a SIGKILL loses only the one recording)
            writer_args = {
                "fps": cfg.ros2.fps,
                "repo_id": c["repo_id"],
                "video": c["video"],
                "commit_every": 1,
            }
            record_from_ros2(cfg, root, {**writer_args, "robot_type": cfg.ros2.robot_type})
            return
        policy_kwargs = c["policy_kwargs"] or {}
        if c.get("expert_limits"):
            if c["policy_name"] != "expert":
                sys.exit(f"vla record: expert_limits={c['expert_limits']} applies to policy_name=expert only")
            policy_kwargs = {**policy_kwargs, "limits": bridge_limits(c["expert_limits"])}
        try:
            result = record_dataset(
                c["tasks"] or c["env"]["id"],
                root,
                c["num_episodes"],
                c["split"],
                c["seed"],
                env_kwargs=c["env"].get("kwargs") or {},
                policy=c["policy_name"],
                policy_kwargs=policy_kwargs,
                only_success=c["only_success"],
                after_success_s=c["after_success_s"],
                num_workers=c["num_workers"],
                commit_every=c["commit_every"],
                commit_every_s=c["commit_every_s"],
                max_attempts=c["max_attempts"],
                video=c["video"],
                repo_id=c["repo_id"],
            )
        except (KeyboardInterrupt, ctypes.ArgumentError) as exc:
            if not is_interrupt(exc):
                raise
            done = meta.read_info(root)["total_episodes"] if (root / "meta" / "info.json").exists() else 0
            print(f"interrupted: {done} complete episode(s) kept in {root}", file=sys.stderr)
            sys.exit(130)
        print(
            f"recorded {result.recorded} episode(s) "
            f"({result.successes}/{result.attempts} attempts succeeded); "
            f"{result.total_episodes} in the dataset"
        )
        print(result.root)

    _app()
