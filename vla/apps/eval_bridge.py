"""`vla eval eval.via=bridge` (or `both`): the policy deployed through the bridge, on the evaluation's seeds.

    vla eval policy_path=<run> eval.via=bridge        # through DDS, the safety layer and the chunk queue
    vla eval policy_path=<run> eval.via=both          # in-process and through the bridge, side by side
    vla eval policy_name=expert eval.via=bridge       # the scripted expert (as sim_expert: sim-only state)

Each task is served by `vla sim-robot` in its own process on a private ROS domain; this process runs the
policy in the runner `vla deploy` builds (vla.apps.deploy.build_runner: safety layer on, rt_priority 0
unless eval.bridge.deploy sets it) at the env's control rate, which must be the rate the policy was
trained at when its checkpoint records one. Every named seed of every split is one episode
(vla/bridge/episodes.py: reset over /vla/sim/reset, success read from /vla/sim/status).

Writes `vla eval`'s report files (report.json, report.md, success.png with Wilson intervals, videos/)
plus, per episode, the runner's intervention counters (trips, rate_limited, starved, chunks, ...) and
the sim's command timeouts. `both` writes the in-process report to sim/, the bridge's to bridge/ and
comparison.md: both success rates per task and split on the same seeds. Videos show the sim's camera
topic at the policy's image size; episode lengths are control periods from the re-arm to the success.
"""

import json
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, OmegaConf

from envs.tabletop.clock import DEFAULT_CONTROL_HZ
from policies.base import Policy
from vla.apps import eval_report as rep
from vla.apps.deploy import build_runner, policy_fps
from vla.apps.eval_episodes import EpisodeResult
from vla.apps.sim_expert import SimExpertPolicy
from vla.bridge.episodes import BridgeEpisode, SimProcess, Wire, play_episode
from vla.config import CONF_DIR
from vla.training.validate import ConfigError

VIA = ("sim", "bridge", "both")
# counters summed per task and split in the report (the per-episode lists keep every counter)
ROW_COUNTERS = ("starved", "rate_limited", "chunks", "overruns", "stale_actions_dropped", "policy_errors")


def run(
    cfg: DictConfig,
    policy: Policy | None,
    label: str,
    out_dir: str | Path,
    evaluate: Callable,
    eval_tasks: Callable,
) -> dict[str, Any]:
    """`vla eval` with eval.via=bridge|both: evaluates, writes the files, prints the tables. `evaluate` and
    `eval_tasks` are vla.apps.eval's (passed in: that module imports this one)."""
    via = cfg.eval.get("via", "sim")
    if via not in VIA:
        raise ConfigError(f"eval.via={via!r}: use sim (in-process), bridge or both")
    env_cfg = OmegaConf.to_container(cfg.env, resolve=True)
    eval_cfg = OmegaConf.to_container(cfg.eval, resolve=True)
    out = Path(out_dir)
    tasks = eval_tasks(env_cfg, eval_cfg)
    where = out / "bridge" if via == "both" else out
    bridge = evaluate_bridge(policy, label, tasks, env_cfg, eval_cfg, where, cfg.get("policy_path"))
    if via == "both":
        sim = evaluate(policy, label, env_cfg, eval_cfg, out / "sim")
        print(rep.markdown(sim))
        (out / "comparison.md").write_text(comparison(sim, bridge))
        print(comparison(sim, bridge) + f"comparison: {out / 'comparison.md'}")
    print(bridge_markdown(bridge))
    print(f"report: {bridge['files']['report_md']}\nplot:   {bridge['files']['plot']}")
    return bridge


def evaluate_bridge(
    policy: Policy | None,
    label: str,
    tasks: Sequence[Any],
    env_cfg: Mapping[str, Any],
    eval_cfg: Mapping[str, Any],
    out_dir: str | Path,
    policy_path: str | None = None,
) -> dict[str, Any]:
    """Every task's and split's seeded episodes through the bridge; writes the report files, returns it.
    tasks: vla.apps.eval.eval_tasks(env_cfg, eval_cfg) (EvalTask: name, env_id, kwargs, max_steps)."""
    out = Path(out_dir)
    seeds = [int(eval_cfg["seed_base"]) + i for i in range(int(eval_cfg["n_episodes"]))]
    bridge_cfg = eval_cfg.get("bridge") or {}
    expert = policy is None  # the env's expert: through the bridge, sim_expert on privileged state
    dcfg = deploy_config(list(bridge_cfg.get("deploy") or []), policy, policy_path, expert, eval_cfg)
    rate = control_rate(tasks, dcfg, policy)
    dcfg.rate_hz = rate
    runner = build_runner(dcfg, SimExpertPolicy() if expert else policy)
    thread = threading.Thread(target=runner.run, name="vla-runner", daemon=True)
    load0, t0 = os.getloadavg(), time.perf_counter()
    thread.start()
    try:
        results, done = _play_tasks(tasks, seeds, eval_cfg, dcfg, expert, rate, out)
    finally:
        runner.stop()
        thread.join(5)
    report = _report(label, tasks, env_cfg, eval_cfg, seeds, results, done, runner)
    report["bridge"].update(wall_s=time.perf_counter() - t0, load_avg_1min=[load0[0], os.getloadavg()[0]])
    report["files"] = write_files(report, results, out, rate, int(eval_cfg["video_size"]))
    return report


def _play_tasks(
    tasks: Sequence[Any],
    seeds: list[int],
    eval_cfg: Mapping,
    dcfg: DictConfig,
    expert: bool,
    rate: float,
    out: Path,
) -> tuple[list[EpisodeResult], list[BridgeEpisode]]:
    """Every task's episodes: a `vla sim-robot` process per task, every split and seed reset over the wire."""
    wire = Wire(dcfg.bridge, camera=eval_cfg.get("camera", "front"))
    extra = list((eval_cfg.get("bridge") or {}).get("sim_robot") or [])
    results: list[EpisodeResult] = []
    done: list[BridgeEpisode] = []
    for task in tasks:
        overrides = sim_overrides(task, dcfg, seeds[0], eval_cfg, expert, rate, out)
        sim = SimProcess([*overrides, *extra], out / f"sim_robot_{task.name}.log")
        try:
            wire.connect(sim)
            for split in eval_cfg["splits"]:
                for i, seed in enumerate(seeds):
                    film = i < int(eval_cfg["n_videos"])
                    ep = play_episode(wire, seed, split, f"{task.name}/{split}/{seed}", rate,
                                      task.max_steps / rate, film)  # fmt: skip
                    done.append(ep)
                    results.append(_result(task.name, ep))
        finally:
            sim.stop()
    return results, done


def deploy_config(
    overrides: Sequence[str], policy: Policy | None, policy_path: str | None, expert: bool, eval_cfg: Mapping
) -> DictConfig:
    """conf/deploy.yaml for the evaluation's runner: the user's eval.bridge.deploy overrides win."""
    own = ["rt_priority=0", "arm_on_start=false", "status_period_s=0.1"]
    if expert:
        own += ["policy.name=sim_expert", "use_privileged_state=true"]
    cfg = _compose("deploy", [*own, *overrides])
    cfg.policy.kwargs.path = policy_path  # where policy_fps finds a checkpoint's rate
    if not cfg.cameras:
        cfg.cameras = list(getattr(getattr(policy, "cfg", None), "cameras", None) or [])
    if cfg.n_action_steps is None and eval_cfg.get("n_action_steps") is not None:
        cfg.n_action_steps = int(eval_cfg["n_action_steps"])
    if cfg.bridge.domain_id is None:  # a private domain: a robot or sim on ROS_DOMAIN_ID is left alone
        taken = os.environ.get("ROS_DOMAIN_ID", "0")
        cfg.bridge.domain_id = next(d for d in range(100 + os.getpid() % 100, 233) if str(d) != taken)
    return cfg


def control_rate(tasks: Sequence[Any], dcfg: DictConfig, policy: Policy | None) -> float:
    """The env's control_hz (the rate `vla eval` steps it at), checked against the policy's training rate."""
    rates = {int(t.kwargs.get("control_hz", DEFAULT_CONTROL_HZ)) for t in tasks}
    if len(rates) > 1:
        raise ConfigError(f"eval.envs run at different control_hz {sorted(rates)}: evaluate them one by one")
    hz = rates.pop()
    fps = policy_fps(dcfg, policy) if policy is not None else None
    if fps is not None and fps != hz:
        raise ConfigError(
            f"the policy was trained at {fps} Hz but env.kwargs.control_hz={hz}: evaluate it at its rate "
            f"(env.kwargs.control_hz={fps})"
        )
    return float(dcfg.rate_hz or hz)


def sim_overrides(
    task: Any, dcfg: DictConfig, seed: int, eval_cfg: Mapping, expert: bool, rate: float, out: Path
) -> list[str]:
    """`vla sim-robot` serving the task as `vla eval` builds its env, cameras at the control rate."""
    cameras = list(dict.fromkeys([*dcfg.cameras, eval_cfg.get("camera", "front")]))
    kwargs = {**task.kwargs, "cameras": cameras, "control_hz": int(rate), "split": eval_cfg["splits"][0]}
    return [
        f"env.id={task.env_id}",
        *(f"++env.kwargs.{k}={_hydra_value(v)}" for k, v in kwargs.items()),
        f"seed={seed}", f"camera_rate_hz={rate:g}", f"publish_privileged_state={_hydra_value(expert)}",
        "rt_priority=0", f"bridge.domain_id={dcfg.bridge.domain_id}", f"hydra.run.dir={out / 'sim_robot'}",
    ]  # fmt: skip


def _hydra_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_hydra_value(v) for v in value) + "]"
    return str(value)


def _compose(name: str, overrides: list[str]) -> DictConfig:
    """A config of conf/, inside `vla eval`'s Hydra app or outside it (tests, the library)."""
    if GlobalHydra.instance().is_initialized():
        return compose(name, overrides=overrides)
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose(name, overrides=overrides)


def _result(task: str, ep: BridgeEpisode) -> EpisodeResult:
    return EpisodeResult(task, ep.split, ep.seed, ep.instruction, ep.success, ep.length, ep.frames)


def _report(
    label: str,
    tasks: list[Any],
    env_cfg: Mapping,
    eval_cfg: Mapping,
    seeds: list[int],
    results: list[EpisodeResult],
    done: list[BridgeEpisode],
    runner: Any,
) -> dict[str, Any]:
    rows = rep.summarize(results)
    for row in rows:
        eps = [e for r, e in zip(results, done, strict=True) if row["task"] in (rep.AVERAGE, r.task)
               and r.split == row["split"]]  # fmt: skip
        row["trips"] = sum(e.trips for e in eps)
        row["episodes_with_trips"] = sum(e.trips > 0 for e in eps)
        row["sim_command_timeouts"] = sum(e.sim_counters.get("timeouts", 0) for e in eps)
        row.update({k: sum(e.counters.get(k, 0) for e in eps) for k in ROW_COUNTERS})
    c = runner.cfg
    episodes = [
        {**{k: v for k, v in vars(r).items() if k != "frames"}, "time_s": e.time_s, "trips": e.trips,
         "fault": e.fault, "counters": e.counters, "sim_counters": e.sim_counters}
        for r, e in zip(results, done, strict=True)
    ]  # fmt: skip
    return {
        "policy": label, "via": "bridge", "env_id": ", ".join(dict.fromkeys(t.env_id for t in tasks)),
        "env_kwargs": dict(env_cfg.get("kwargs") or {}), "max_steps": max(t.max_steps for t in tasks),
        "tasks": [vars(t) for t in tasks], "seeds": {"base": seeds[0], "n_episodes": len(seeds)},
        "rows": rows, "latency": rep.latency_stats(list(runner.inference_s)), "episodes": episodes,
        "bridge": {
            "rate_hz": c.rate_hz, "loop_timeout_s": c.loop_timeout_s, "obs_timeout_s": c.obs_timeout_s,
            "policy_timeout_s": runner.watchdog.timeouts["policy"], "obs_max_age_s": c.obs_max_age_s,
            "policy_timeout_derived": c.policy_timeout_derived,
            "prefetch_threshold": c.prefetch_threshold, "prefetch_threshold_now": runner.prefetch_threshold(),
            "rt_priority": c.rt_priority, "cameras": list(c.cameras), "domain_id": runner.io.node.domain_id,
            "status": runner.status(),
        },
    }  # fmt: skip


def write_files(
    report: dict[str, Any], results: list[EpisodeResult], out: Path, fps: float, size: int
) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    videos = [
        str(rep.write_video(e, out / "videos" / f"{e.task}_{e.split}_seed{e.seed}.mp4", round(fps), size))
        for e in results
        if e.frames
    ]
    files = {
        "report_json": str(out / "report.json"), "report_md": str(out / "report.md"),
        "plot": str(rep.bar_plot(report["rows"], out / "success.png", "success through the bridge")),
        "videos": videos,
    }  # fmt: skip
    (out / "report.json").write_text(json.dumps({**report, "files": files}, indent=1, default=str))
    (out / "report.md").write_text(bridge_markdown(report))
    return files


def bridge_markdown(report: Mapping[str, Any]) -> str:
    """`vla eval`'s table, then the bridge's settings, interventions per task and split, and every trip."""
    b = report["bridge"]
    fixed = b["prefetch_threshold"]
    prefetch = f"derived (now {b['prefetch_threshold_now']})" if fixed is None else str(fixed)
    derived = " (derived, now)" if b.get("policy_timeout_derived") else ""
    policy_timeout = f"{b['policy_timeout_s']:.3f}{derived}"
    lines = [
        rep.markdown(report).replace("# Evaluation:", "# Evaluation through the bridge:", 1),
        f"Runner: {b['rate_hz']:g} Hz, timeouts loop / observation / policy {b['loop_timeout_s']:.3f} / "
        f"{b['obs_timeout_s']:.3f} / {policy_timeout} s, prefetch threshold {prefetch}, "
        f"rt_priority {b['rt_priority']}, cameras {b['cameras']}. Load average (1 min) at start / end: "
        f"{b['load_avg_1min'][0]:.2f} / {b['load_avg_1min'][1]:.2f}; wall time {b['wall_s']:.0f} s.",
        "",
        "| task | split | trips (episodes) | starved | rate_limited | chunks | overruns | sim cmd timeouts |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in report["rows"]:
        lines.append(
            f"| {r['task']} | {r['split']} | {r['trips']} ({r['episodes_with_trips']}) | {r['starved']} "
            f"| {r['rate_limited']} | {r['chunks']} | {r['overruns']} | {r['sim_command_timeouts']} |"
        )
    tripped = [e for e in report["episodes"] if e["trips"]]
    lines += ["", f"Episodes with a safety trip: {len(tripped)}."]
    lines += [
        f"- {e['task']} {e['split']} seed {e['seed']}: fault {e['fault']}, {e['counters']}" for e in tripped
    ]
    return "\n".join(lines) + "\n"


def comparison(sim: Mapping[str, Any], bridge: Mapping[str, Any]) -> str:
    """Both success rates per task and split, on the same seeds, and whether the bridge's rate lies in
    the in-process 95% Wilson interval."""
    lines = [
        f"# In-process vs bridge: {bridge['policy']} on {bridge['env_id']}",
        "",
        "| task | split | in-process | 95% CI | bridge | 95% CI | bridge in the in-process CI | trips |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for b in bridge["rows"]:
        s = next(r for r in sim["rows"] if (r["task"], r["split"]) == (b["task"], b["split"]))
        inside = s["ci95_low"] - 1e-9 <= b["success_rate"] <= s["ci95_high"] + 1e-9
        lines.append(
            f"| {b['task']} | {b['split']} | {s['success_rate']:.0%} ({s['successes']}/{s['episodes']}) "
            f"| [{s['ci95_low']:.2f}, {s['ci95_high']:.2f}] | {b['success_rate']:.0%} ({b['successes']}/"
            f"{b['episodes']}) | [{b['ci95_low']:.2f}, {b['ci95_high']:.2f}] | {'yes' if inside else 'no'} "
            f"| {b['trips']} |"
        )
    seeds = bridge["seeds"]
    lines += ["", f"Seeds: {seeds['base']} + i (i < {seeds['n_episodes']}) for both, per task and split."]
    return "\n".join(lines) + "\n"
