"""`vla deploy`: run a policy on a ROS 2 robot (or `vla sim-robot`) through the safety layer.

    vla deploy policy.name=vla policy.kwargs.path=outputs/train/<run> cameras=[front,wrist]
    vla deploy policy.name=sim_expert use_privileged_state=true      # sim only, with vla sim-robot

The control rate is the one the policy was trained at (its checkpoint's fps); 30 Hz for policies that
carry none (scripted ones). Another `rate_hz` is refused unless `resample=true`, which interpolates each
chunk onto the control clock (vla/bridge/resample.py). Timeouts and prefetching follow the rate (timing.py).

Re-arm after an e-stop or a fault: `ros2 topic pub --once /vla/estop std_msgs/msg/Bool "{data: false}"`.
"""

import logging
import signal
import sys
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

from policies.base import Policy
from policies.registry import CHECKPOINT_POLICIES, make_policy
from vla import runtime
from vla.apps.sim_expert import SimExpertPolicy
from vla.bridge.io import BridgeIO
from vla.bridge.resample import ResampledPolicy
from vla.bridge.runner import Runner, RunnerConfig
from vla.bridge.safety import SafetyConfig, SafetyLayer
from vla.config import CONF_DIR
from vla.training.validate import ConfigError

log = logging.getLogger(__name__)

# Policies that exist only for the bridge (sim-only); everything else comes from policies.registry.
BRIDGE_POLICIES: dict[str, Any] = {"sim_expert": SimExpertPolicy}

DEFAULT_RATE_HZ = 30.0  # policies that carry no training rate (sim_expert, test policies): the SO-101's

_RUNNER_KEYS = (
    "obs_max_age_s",
    "image_max_age_s",
    "obs_timeout_s",
    "policy_timeout_s",
    "loop_timeout_s",
    "first_chunk_timeout_s",
    "prefetch_threshold",
    "n_action_steps",
    "blend_steps",
    "arm_on_start",
    "status_period_s",
    "task",
    "use_privileged_state",
    "rt_priority",
)


def build_policy(cfg: DictConfig) -> Policy:
    """cfg.policy.name from BRIDGE_POLICIES or policies.registry, with cfg.policy.kwargs minus None values
    (the config declares `path` and `device`, so `policy.kwargs.path=...` overrides need no `+`)."""
    name = cfg.policy.name
    kwargs = {
        k: v
        for k, v in (OmegaConf.to_container(cfg.policy.kwargs, resolve=True) or {}).items()
        if v is not None
    }
    if name in BRIDGE_POLICIES:
        return BRIDGE_POLICIES[name](**kwargs)
    if name in CHECKPOINT_POLICIES:  # vla, and LeRobot's act / diffusion / smolvla trained by `vla train`
        if "path" not in kwargs:
            raise ValueError(
                f"policy.name={name} needs policy.kwargs.path=<run, checkpoint or pretrained/ dir>"
            )
        from vla.checkpoint import pretrained_dir

        kwargs["path"] = str(pretrained_dir(kwargs["path"]))  # any checkpoint form, as `vla eval` takes
    return make_policy(name, **kwargs)


def policy_fps(cfg: DictConfig, policy: Policy) -> int | None:
    """The rate the policy was trained at: its own `fps`, else its checkpoint's (vla.checkpoint.trained_fps),
    else DEFAULT_FPS for a checkpoint that names none (trained before checkpoints recorded it); None for a
    policy without a checkpoint (scripted)."""
    if getattr(policy, "fps", None):
        return int(policy.fps)
    path = (cfg.policy.get("kwargs") or {}).get("path")
    if path is None:
        return None
    from vla.checkpoint import DEFAULT_FPS, pretrained_dir, trained_fps

    fps = trained_fps(pretrained_dir(path))
    if fps is None:
        log.warning("checkpoint %s records no fps: assuming %d Hz (else set rate_hz=)", path, DEFAULT_FPS)
    return fps or DEFAULT_FPS


def control_rate(cfg: DictConfig, policy: Policy) -> float:
    """cfg.rate_hz when set, else the policy's training rate, else DEFAULT_RATE_HZ. A rate_hz other than
    the training rate is refused unless cfg.resample (chunks then resampled: vla/bridge/resample.py)."""
    return _rate_for(cfg, policy_fps(cfg, policy))


def _rate_for(cfg: DictConfig, fps: int | None) -> float:
    if cfg.rate_hz is None:
        return float(fps or DEFAULT_RATE_HZ)
    if fps is not None and abs(float(cfg.rate_hz) - fps) > 1e-6 and not cfg.get("resample", False):
        raise ConfigError(
            f"rate_hz={cfg.rate_hz:g} but the policy was trained at {fps} Hz: played as is, its targets "
            f"would come {float(cfg.rate_hz) / fps:.2g}x as fast as taught. Leave rate_hz unset to run "
            f"at {fps} Hz, or add resample=true to interpolate each chunk onto the {cfg.rate_hz:g} Hz clock"
        )
    return float(cfg.rate_hz)


def build_runner(cfg: DictConfig, policy: Policy | None = None) -> Runner:
    """The runner described by a deploy config; `policy` overrides cfg.policy (tests pass any Policy)."""
    b = cfg.bridge
    policy = policy if policy is not None else build_policy(cfg)
    fps = policy_fps(cfg, policy)  # read once: it may load the checkpoint's config and warn
    rate = _rate_for(cfg, fps)
    if fps is not None and abs(rate - fps) > 1e-6:  # resample=true: chunks onto the control clock
        log.info("resample=true: %d Hz chunks are interpolated onto the %g Hz control clock", fps, rate)
        policy = ResampledPolicy(policy, fps, rate)
    rcfg = RunnerConfig(rate_hz=rate, cameras=tuple(cfg.cameras), **{k: cfg[k] for k in _RUNNER_KEYS})
    dt = 1.0 / rcfg.rate_hz
    safety = SafetyLayer(SafetyConfig.from_bridge(OmegaConf.to_container(b, resolve=True)), dt)
    io = BridgeIO(b, rcfg.cameras, cfg.command_interface, privileged=rcfg.use_privileged_state, period_s=dt)
    return Runner(rcfg, policy, safety, io)


def run(cfg: DictConfig, policy: Policy | None = None) -> Runner:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    runtime.configure(cfg.runtime)  # leaves a core to the control loop and the robot's own processes
    runner = build_runner(cfg, policy)
    signal.signal(signal.SIGTERM, lambda *_: runner.stop())
    c = runner.cfg
    prefetch = "derived" if c.prefetch_threshold is None else c.prefetch_threshold
    log.info(
        "deploy: %s at %.0f Hz on domain %d; timeouts: loop %.3f s, observation %.3f s, policy %.3f s; "
        "prefetch threshold %s", cfg.policy.name, c.rate_hz, runner.io.node.domain_id, c.loop_timeout_s,
        c.obs_timeout_s, c.policy_timeout_s, prefetch,
    )  # fmt: skip
    runner.run(float(cfg.duration_s))
    log.info("final status: %s", runner.status())
    return runner


@hydra.main(config_path=CONF_DIR, config_name="deploy", version_base="1.3")
def main(cfg: DictConfig) -> None:
    try:
        run(cfg)
    except ConfigError as err:  # its message names the key and the fix: no traceback
        sys.exit(f"vla deploy: config error: {err}")
