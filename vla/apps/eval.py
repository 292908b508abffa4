"""`vla eval`: run a checkpoint or a registered policy in simulation; write a report anyone can read.

    vla eval policy_path=outputs/train/<run>            # a run dir, checkpoint dir or pretrained/ dir
    vla eval policy_name=expert env=pick_cube eval.n_episodes=10
    vla eval policy_path=<run> eval.envs=[pick_cube,push_cube]   # several tasks, one report
    vla eval policy_path=<run> env=multitask                      # the six tasks, the same episodes each
    vla eval policy_path=<run> env=metaworld_mt50 eval=metaworld_mt50   # Meta-World's protocol (docs/envs.md)

Writes report.json, report.md, success.png (bars with 95% Wilson intervals per task and split)
and videos/*.mp4 (the first episodes of each task and split, instruction overlaid) into the output
dir. Episode i of every task and split uses seed `eval.seed_base + i`, so a policy gets the same
table twice. Several tasks (eval.envs, or the multi-task env, whose tasks are then evaluated one by
one, not drawn at random) get an average row per split: the mean over the tasks, which all have
eval.n_episodes episodes, so it is also the pooled rate its Wilson interval is computed from.
"""

import contextlib
import json
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

import envs  # registers the ids; knows their step limits
from policies.base import Policy
from policies.registry import POLICIES, load_checkpoint, make_policy
from vla import runtime
from vla.apps import eval_report as rep
from vla.apps.eval_episodes import Actor, EpisodeResult, make_vector_env, run_episodes
from vla.config import CONF_DIR
from vla.training.validate import ConfigError, validate_eval

DEFAULT_MAX_STEPS = 200  # used only when neither eval.max_steps nor the env (its kwargs) sets a limit


def load_policy(policy_path: str | None, policy_name: str | None) -> tuple[Policy | None, str]:
    """(policy, label); policy None means the env's own scripted expert, run inside the env workers."""
    if (policy_path is None) == (policy_name is None):
        raise ConfigError("give exactly one of policy_path=<checkpoint dir> or policy_name=<registered name>")
    if policy_name is not None:
        if policy_name not in POLICIES:
            raise ConfigError(
                f"policy_name={policy_name!r} is not registered; choose from {sorted(POLICIES)}"
            )
        # The expert plans from privileged simulator state, which lives in the env worker processes.
        return (None if policy_name == "expert" else make_policy(policy_name)), policy_name
    from vla.checkpoint import pretrained_dir  # imports torch: only when a checkpoint is evaluated

    directory = pretrained_dir(policy_path)
    return load_checkpoint(directory), str(directory)  # the class its config.yaml `_target_` names


@dataclass(frozen=True)
class EvalTask:
    """One task of an evaluation: its episodes run in `env_id` built with `kwargs` (and each split)."""

    name: str  # the report's task column, e.g. "PickCube"
    env_id: str
    kwargs: dict[str, Any]
    max_steps: int


def task_name(env_id: str) -> str:
    """vla/PickCube-v0 -> PickCube."""
    return env_id.split("/")[-1].rsplit("-v", 1)[0]


def eval_tasks(env_cfg: Mapping[str, Any], eval_cfg: Mapping[str, Any]) -> list[EvalTask]:
    """The tasks an evaluation runs: the env's, or those of the conf/env names in eval.envs; a multi-task
    env gives each of its tasks (module doc)."""
    names = eval_cfg.get("envs")
    configs = [env_cfg] if not names else [env_config(name, env_cfg) for name in names]
    tasks = [task for config in configs for task in _tasks_of(config, eval_cfg.get("max_steps"))]
    seen = [t.name for t in tasks]
    twice = sorted({n for n in seen if seen.count(n) > 1})
    if twice:
        raise ConfigError(f"eval.envs={list(names or [])} evaluates {twice} twice (fix: list each task once)")
    return tasks


def env_config(name: str, env_cfg: Mapping[str, Any]) -> dict[str, Any]:
    """conf/env/<name>.yaml as a dict; the kwargs it shares with env_cfg take env_cfg's values (the image
    size, cameras and control rate the policy was trained with, or set on the command line)."""
    path = Path(CONF_DIR) / "env" / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in path.parent.glob("*.yaml"))
        raise ConfigError(f"eval.envs: no env config {name!r} (fix: choose from {known})")
    config = OmegaConf.to_container(OmegaConf.load(path), resolve=True)
    own = env_cfg.get("kwargs") or {}
    return {"id": config["id"], "kwargs": {k: own.get(k, v) for k, v in (config.get("kwargs") or {}).items()}}


def _tasks_of(env_cfg: Mapping[str, Any], max_steps: int | None) -> list[EvalTask]:
    env_id, kwargs = env_cfg["id"], dict(env_cfg.get("kwargs") or {})
    kwargs.pop("split", None)  # each split is its own env
    if envs.metaworld.is_metaworld(env_id):  # MT1/10/50: each task on its own (task=), Meta-World's names
        names = envs.metaworld.eval_task_names(env_id, kwargs)
        kwargs = {k: v for k, v in kwargs.items() if k not in ("task", "tasks")}
        limit = max_steps or envs.max_episode_steps(env_id, kwargs) or DEFAULT_MAX_STEPS
        return [EvalTask(n, env_id, {**kwargs, "task": n}, limit) for n in names]
    if env_id != envs.MULTITASK_ID:
        # the env's own limit follows its kwargs (tabletop: time_limit_s x control_hz), not the registration
        limit = max_steps or envs.max_episode_steps(env_id, kwargs) or DEFAULT_MAX_STEPS
        return [EvalTask(task_name(env_id), env_id, kwargs, limit)]
    ids = {task_name(i): i for i in envs.TASK_IDS}
    names = list(kwargs.pop("tasks", None) or ids)
    unknown = [n for n in names if n not in ids]
    if unknown:
        raise ConfigError(f"env.kwargs.tasks: unknown task(s) {unknown} (fix: choose from {sorted(ids)})")
    # Not the env's random draw per reset: every task gets the same seeds (its `tasks` kwarg fixes the
    # task), each cut at its own step limit rather than the multi-task env's longest one.
    return [
        EvalTask(n, env_id, {**kwargs, "tasks": [n]}, max_steps or envs.max_episode_steps(ids[n], kwargs))
        for n in names
    ]


def evaluate(
    policy: Policy | None,
    label: str,
    env_cfg: Mapping[str, Any],
    eval_cfg: Mapping[str, Any],
    out_dir: str | Path,
) -> dict[str, Any]:
    """Runs every task's and split's seeded episodes, writes the report files, returns the report dict."""
    tasks = eval_tasks(env_cfg, eval_cfg)
    if eval_cfg.get("qa_dataset") and not hasattr(policy, "answer_batch"):  # before any episode runs
        raise ConfigError(
            f"eval.qa_dataset={eval_cfg['qa_dataset']}: {label} writes no text; only a VLA answers"
        )
    seeds = [int(eval_cfg["seed_base"]) + i for i in range(int(eval_cfg["n_episodes"]))]
    episodes: list[EpisodeResult] = []
    latencies: list[float] = []
    fps: dict[str, int] = {}
    t0 = time.perf_counter()
    with _action_steps(policy, eval_cfg.get("n_action_steps")):
        for task in tasks:
            for split in eval_cfg["splits"]:
                done, chunk_times, fps[task.name] = _run_split(policy, task, split, seeds, eval_cfg)
                episodes += done
                latencies += chunk_times
    report = {
        "policy": label, "env_id": ", ".join(dict.fromkeys(t.env_id for t in tasks)),
        "env_kwargs": dict(env_cfg.get("kwargs") or {}), "max_steps": max(t.max_steps for t in tasks),
        "tasks": [vars(t) for t in tasks],
        "seeds": {"base": int(eval_cfg["seed_base"]), "n_episodes": len(seeds)},
        "rows": rep.summarize(episodes), "latency": rep.latency_stats(latencies),
        "wall_s": time.perf_counter() - t0,
        "episodes": [{k: v for k, v in vars(e).items() if k != "frames"} for e in episodes],
    }  # fmt: skip
    if eval_cfg.get("qa_dataset"):  # scene-question accuracy (vla/apps/eval_qa.py; imports torch: only then)
        from vla.apps.eval_qa import qa_accuracy

        report["qa"] = qa_accuracy(policy, eval_cfg)
    report["files"] = _write_files(report, episodes, Path(out_dir), fps, int(eval_cfg["video_size"]))
    return report


def _run_split(
    policy: Policy | None, task: EvalTask, split: str, seeds: list[int], eval_cfg: Mapping[str, Any]
) -> tuple[list[EpisodeResult], list[float], int]:
    """One task's episodes on one split: (episodes, seconds per policy call, the env's frame rate)."""
    n_envs = min(int(eval_cfg["n_envs"]), len(seeds))
    env_kwargs = {
        **task.kwargs, "split": split, "render_mode": "rgb_array",
        "render_camera": eval_cfg.get("camera", "front"),
    }  # fmt: skip
    vec = make_vector_env(task.env_id, env_kwargs, n_envs, eval_cfg["max_steps"])
    actor = Actor(policy, n_envs)
    try:
        done = run_episodes(vec, actor, task.name, split, seeds, eval_cfg["n_videos"], task.max_steps)
        fps = int(vec.metadata.get("render_fps") or 10)
    finally:
        vec.close()
    return done, actor.chunk_times, fps


@contextlib.contextmanager
def _action_steps(policy: Policy | None, n_action_steps: int | None) -> Iterator[None]:
    """Executes n_action_steps of each chunk inside the block instead of the policy's own number (None
    keeps it); restored after, so an evaluation during training leaves the trained policy as it was."""
    if policy is None or n_action_steps is None:
        yield
        return
    chunk = getattr(getattr(policy, "cfg", None), "chunk_size", n_action_steps)
    if not 1 <= n_action_steps <= chunk:
        raise ConfigError(f"eval.n_action_steps={n_action_steps} must be in [1, chunk_size={chunk}]")
    own, policy.n_action_steps = policy.n_action_steps, n_action_steps
    try:
        yield
    finally:
        policy.n_action_steps = own


def _write_files(
    report: dict[str, Any], episodes: list[EpisodeResult], out: Path, fps: dict[str, int], size: int
) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    videos = [
        str(rep.write_video(e, out / "videos" / f"{e.task}_{e.split}_seed{e.seed}.mp4", fps[e.task], size))
        for e in episodes
        if e.frames
    ]
    files = {
        "report_json": str(out / "report.json"), "report_md": str(out / "report.md"),
        "plot": str(rep.bar_plot(report["rows"], out / "success.png")), "videos": videos,
    }  # fmt: skip
    (out / "report.json").write_text(json.dumps({**report, "files": files}, indent=1))
    (out / "report.md").write_text(rep.markdown(report))
    return files


def success_metrics(report: Mapping[str, Any]) -> dict[str, float]:
    """What training logs after each evaluation: {"success/<split>": rate} of the task, or with several
    tasks their average, plus {"task_success/<task>/<split>": rate} per task (a prefix of its own keeps
    plots/success.png to one line per split), and {"qa_accuracy/<split>": accuracy} with eval.qa_dataset."""
    rows = report["rows"]
    tasks = {r["task"] for r in rows} - {rep.AVERAGE}
    pick = rep.AVERAGE if len(tasks) > 1 else next(iter(tasks))
    metrics = {f"success/{r['split']}": r["success_rate"] for r in rows if r["task"] == pick}
    if len(tasks) > 1:
        metrics |= {
            f"task_success/{r['task']}/{r['split']}": r["success_rate"] for r in rows if r["task"] in tasks
        }
    for r in (report.get("qa") or {}).get("rows", []):  # eval.qa_dataset: accuracy over all types per split
        if r["type"] == rep.QA_ALL:
            metrics[f"qa_accuracy/{r['split']}"] = r["accuracy"]
    return metrics


@hydra.main(config_path=CONF_DIR, config_name="eval", version_base="1.3")
def _main(cfg: DictConfig) -> None:
    runtime.configure(cfg.runtime)
    validate_eval(cfg)
    policy, label = load_policy(cfg.policy_path, cfg.policy_name)
    out_dir = cfg.output_dir or hydra.core.hydra_config.HydraConfig.get().runtime.output_dir
    if cfg.eval.get("via", "sim") != "sim":  # through the deploy bridge, or both side by side
        from vla.apps.eval_bridge import run as run_bridge  # imports this module: not at the top

        run_bridge(cfg, policy, label, out_dir, evaluate, eval_tasks)
        return
    env_cfg = OmegaConf.to_container(cfg.env, resolve=True)
    report = evaluate(policy, label, env_cfg, OmegaConf.to_container(cfg.eval, resolve=True), out_dir)
    print(rep.markdown(report))
    print(f"report: {report['files']['report_md']}\nplot:   {report['files']['plot']}")
    for video in report["files"]["videos"]:
        print(f"video:  {video}")


def main() -> None:
    _main()
