"""`vla eval`: run a checkpoint or a registered policy in simulation; write a report anyone can read.

    vla eval policy_path=outputs/train/<run>            # a run dir, checkpoint dir or pretrained/ dir
    vla eval policy_name=expert env=pick_cube eval.n_episodes=10

Writes report.json, report.md, success.png (bars with 95% Wilson intervals per task and split)
and videos/*.mp4 (the first episodes of each split, instruction overlaid) into the output dir.
Episode i of every split uses seed `eval.seed_base + i`, so a policy gets the same table twice.
"""

import contextlib
import json
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

import envs  # registers the ids; knows their step limits
from policies.base import Policy
from policies.registry import POLICIES, make_policy
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
    return make_policy("vla", path=str(directory)), str(directory)


def evaluate(
    policy: Policy | None,
    label: str,
    env_cfg: Mapping[str, Any],
    eval_cfg: Mapping[str, Any],
    out_dir: str | Path,
) -> dict[str, Any]:
    """Runs every split's seeded episodes, writes the report files, returns the report dict."""
    env_id, kwargs = env_cfg["id"], dict(env_cfg.get("kwargs") or {})
    out_dir = Path(out_dir)
    seeds = [int(eval_cfg["seed_base"]) + i for i in range(int(eval_cfg["n_episodes"]))]
    # the env's own limit follows its kwargs (tabletop: time_limit_s x control_hz), not the registration
    max_steps = eval_cfg["max_steps"] or envs.max_episode_steps(env_id, kwargs) or DEFAULT_MAX_STEPS
    n_envs = min(int(eval_cfg["n_envs"]), len(seeds))
    single_task = "" if "MultiTask" in env_id else env_id.split("/")[-1].rsplit("-v", 1)[0]
    episodes: list[EpisodeResult] = []
    latencies: list[float] = []
    t0 = time.perf_counter()
    with _action_steps(policy, eval_cfg.get("n_action_steps")):
        for split in eval_cfg["splits"]:
            env_kwargs = {**kwargs, "split": split, "render_mode": "rgb_array"}
            vec = make_vector_env(env_id, env_kwargs, n_envs, eval_cfg["max_steps"])
            actor = Actor(policy, n_envs)
            try:
                episodes += run_episodes(
                    vec, actor, single_task, split, seeds, eval_cfg["n_videos"], max_steps
                )
                fps = int(vec.metadata.get("render_fps") or 10)
            finally:
                vec.close()
            latencies += actor.chunk_times
    report = {
        "policy": label, "env_id": env_id, "env_kwargs": kwargs, "max_steps": max_steps,
        "seeds": {"base": int(eval_cfg["seed_base"]), "n_episodes": len(seeds)},
        "rows": rep.summarize(episodes), "latency": rep.latency_stats(latencies),
        "wall_s": time.perf_counter() - t0,
        "episodes": [{k: v for k, v in vars(e).items() if k != "frames"} for e in episodes],
    }  # fmt: skip
    report["files"] = _write_files(report, episodes, out_dir, fps, int(eval_cfg["video_size"]))
    return report


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
    report: dict[str, Any], episodes: list[EpisodeResult], out: Path, fps: int, size: int
) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    videos = [
        str(rep.write_video(e, out / "videos" / f"{e.task}_{e.split}_seed{e.seed}.mp4", fps, size))
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
    """{"success/<split>": rate} over all tasks: what training logs after each evaluation."""
    rows = report["rows"]
    tasks = {r["task"] for r in rows}
    pick = "all" if len(tasks) > 1 else next(iter(tasks))
    return {f"success/{r['split']}": r["success_rate"] for r in rows if r["task"] == pick}


@hydra.main(config_path=CONF_DIR, config_name="eval", version_base="1.3")
def _main(cfg: DictConfig) -> None:
    runtime.configure(cfg.runtime)
    validate_eval(cfg)
    policy, label = load_policy(cfg.policy_path, cfg.policy_name)
    out_dir = cfg.output_dir or hydra.core.hydra_config.HydraConfig.get().runtime.output_dir
    env_cfg = OmegaConf.to_container(cfg.env, resolve=True)
    report = evaluate(policy, label, env_cfg, OmegaConf.to_container(cfg.eval, resolve=True), out_dir)
    print(rep.markdown(report))
    print(f"report: {report['files']['report_md']}\nplot:   {report['files']['plot']}")
    for video in report["files"]["videos"]:
        print(f"video:  {video}")


def main() -> None:
    _main()
