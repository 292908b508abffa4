"""The runner's timing rule (vla/bridge/timing.py) and the rate `vla deploy` picks (the checkpoint's fps)."""

import logging
import math

import numpy as np
import pytest
import yaml
from hydra import compose, initialize_config_dir

from policies.base import Policy
from vla.apps.deploy import DEFAULT_RATE_HZ, control_rate
from vla.bridge.chunks import ChunkQueue, should_request
from vla.bridge.runner import RunnerConfig
from vla.bridge.timing import Prefetch, derived_timeouts, policy_timeout, prefetch_threshold
from vla.checkpoint import DEFAULT_FPS, trained_fps
from vla.config import CONF_DIR
from vla.training.validate import ConfigError


def test_timeouts_follow_the_rate_and_stay_the_fault_tables_bound_at_30_hz() -> None:
    # tests/bridge/test_faults.py holds the bridge to max(3 periods, 100 ms): at 30 Hz that is 0.1 s
    assert derived_timeouts(30) == pytest.approx(
        {"loop_timeout_s": 0.1, "obs_timeout_s": 0.1, "policy_timeout_s": 0.1, "obs_max_age_s": 0.1}
    )
    ten = derived_timeouts(10)  # the issue: a fixed 0.1 s tripped at 10 Hz, where inputs come every 0.1 s
    assert ten["policy_timeout_s"] == ten["obs_timeout_s"] == ten["loop_timeout_s"] == pytest.approx(0.3)
    assert ten["obs_max_age_s"] == pytest.approx(0.2)
    assert set(derived_timeouts(50).values()) == {0.1}  # never under 100 ms
    for hz in (1, 5, 10, 15, 30, 50, 100):
        t = derived_timeouts(hz)
        assert t["policy_timeout_s"] == pytest.approx(max(3 / hz, 0.1))


def test_runner_config_derives_null_keys_and_keeps_overrides() -> None:
    cfg = RunnerConfig(rate_hz=10, policy_timeout_s=0.5)
    assert cfg.policy_timeout_s == 0.5 and cfg.obs_timeout_s == pytest.approx(0.3)
    assert cfg.loop_timeout_s == pytest.approx(0.3) and cfg.prefetch_threshold is None
    with pytest.raises(ValueError, match=r"obs_timeout_s=0 must be > 0"):
        RunnerConfig(obs_timeout_s=0)
    with pytest.raises(ValueError, match=r"n_action_steps=0"):
        RunnerConfig(n_action_steps=0)


def test_a_derived_policy_timeout_follows_the_measured_latency_up_to_2_s() -> None:
    assert policy_timeout(0.3, 0.01) == 0.3  # a fast policy: the rate's 3 periods
    assert policy_timeout(0.3, 0.44) == pytest.approx(0.88)  # Diffusion DDIM 10 on one core: 2 x 0.44 s
    assert policy_timeout(0.1, 5.0) == 2.0  # a watchdog that waits longer stops being one
    prefetch = Prefetch(dt=0.1)
    assert prefetch.timeout_latency_s is None  # nothing measured: the derived timeout stays as it is
    prefetch.record(3.0)  # the warm-up call: the timeout follows it until a second call is measured
    assert prefetch.timeout_latency_s == 3.0 and prefetch.latency_s == 0.1  # prefetch ignores it
    prefetch.record(0.4)
    assert prefetch.timeout_latency_s == prefetch.latency_s == 0.4
    assert RunnerConfig(rate_hz=10).policy_timeout_derived
    assert not RunnerConfig(rate_hz=10, policy_timeout_s=0.3).policy_timeout_derived  # kept as set


@pytest.mark.parametrize(
    "chunk, n, latency_s, dt, expected",
    [
        (5, 5, 0.02, 0.1, 1),  # the demo policy at 10 Hz: the whole chunk runs, one tick of latency
        (10, 10, 0.05, 1 / 30, 2),  # 50 ms is 1.5 periods at 30 Hz
        (20, 8, 0.05, 1 / 30, 11 + 2),  # requested so that 8 actions run before the next chunk lands
        (10, 1, 0.01, 1 / 30, 9),  # closed loop (n=1): a request every tick (T - 1)
        (4, 4, 0.5, 0.1, 3),  # latency beyond the chunk: capped at T - 1
        (1, 1, 0.01, 0.1, 0),
    ],
)
def test_prefetch_threshold(chunk: int, n: int, latency_s: float, dt: float, expected: int) -> None:
    assert prefetch_threshold(chunk, n, latency_s, dt) == expected


def _run_queue(chunk: int, n: int, latency_s: float, dt: float, ticks: int = 300) -> tuple[int, list[int]]:
    """The control loop's use of the queue: a request made in tick k lands before tick k + 1 +
    floor(latency / dt). Returns (starved ticks, ticks at which chunks were requested)."""
    q, pending, starved, requests = ChunkQueue(blend_steps=0), None, 0, []
    threshold = prefetch_threshold(chunk, n, latency_s, dt)
    for tick in range(ticks):
        if pending is not None and pending[1] == tick:
            q.push(np.arange(chunk, dtype=float)[:, None], pending[0], tick)  # (T, 1)
            pending = None
        # the wait for the first chunk (after arming) is never prefetched: counted from the first one on
        starved += q.pop(tick) is None and q.stats["chunks"] > 0
        if should_request(q.remaining(tick + 1), threshold, pending is not None):
            pending = (tick, tick + 1 + math.floor(latency_s / dt))
            requests.append(tick)
    return starved, requests


@pytest.mark.parametrize("latency_s", [0.005, 0.03, 0.09, 0.15, 0.25])
@pytest.mark.parametrize("chunk, n", [(10, 10), (10, 5), (20, 10), (8, 1)])
def test_derived_threshold_never_starves_and_replans_about_every_n_ticks(chunk, n, latency_s) -> None:
    dt = 0.1
    latency_ticks = math.floor(latency_s / dt)
    if chunk < 2 * (latency_ticks + 1):
        pytest.skip("a chunk this short cannot cover the latency (chunks.py: T >= 2 (L + 1))")
    starved, requests = _run_queue(chunk, n, latency_s, dt)
    assert starved == 0
    gaps = np.diff(requests[2:])
    # a chunk runs about n actions: at most n (or as long as one inference takes, one request at a time),
    # and a latency margin less at worst; never a chunk every tick unless n is 1 (the issue: 186 in 6 s)
    assert gaps.max() <= max(n, 1 + latency_ticks) and gaps.min() >= max(1, n - latency_ticks - 2)


def test_prefetch_measures_latency_and_ignores_the_warm_up_call() -> None:
    p = Prefetch(dt=0.1)
    assert p.latency_s == pytest.approx(0.1)  # unmeasured: one period
    p.record(5.0)  # the first call (model warm-up) is left out
    assert p.latency_s == pytest.approx(0.1)
    for _ in range(10):
        p.record(0.02)
    assert p.latency_s == pytest.approx(0.02) and p.threshold(5, 5) == 1
    for _ in range(10):
        p.record(0.25)  # a slower phase: the 90th percentile follows it
    assert p.threshold(10, 10) == 3
    assert Prefetch(dt=0.1, fixed=6).threshold(5, 5) == 6
    with pytest.raises(ValueError, match="prefetch_threshold=-1"):
        Prefetch(dt=0.1, fixed=-1)


# ------------------------------------------------------------------------- the rate `vla deploy` runs at
class _Fps(Policy):
    def __init__(self, fps: int | None) -> None:
        super().__init__()
        self.fps = fps

    def predict_action_chunk(self, obs):  # pragma: no cover - never stepped here
        raise AssertionError


def _deploy(*overrides: str):
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose("deploy", overrides=list(overrides))


def _checkpoint(root, policy_meta: dict, run_config: dict | None):
    """A checkpoint dir's two config files (no weights: only the rate is read)."""
    pretrained = root / "step_000010" / "pretrained"
    pretrained.mkdir(parents=True)
    (pretrained / "config.yaml").write_text(yaml.safe_dump({"_target_": "x", **policy_meta}))
    if run_config is not None:
        (root / "step_000010" / "config.yaml").write_text(yaml.safe_dump(run_config))
    return pretrained


def test_deploy_runs_at_the_policys_training_rate_and_another_only_resampled() -> None:
    assert control_rate(_deploy(), _Fps(10)) == 10.0
    assert control_rate(_deploy(), _Fps(None)) == DEFAULT_RATE_HZ == 30.0  # sim_expert, test policies
    with pytest.raises(ConfigError, match=r"trained at 10 Hz.*3x as fast.*resample=true"):
        control_rate(_deploy("rate_hz=30"), _Fps(10))  # a 10 Hz policy at 30 Hz would move 3x as fast
    assert control_rate(_deploy("rate_hz=30", "resample=true"), _Fps(10)) == 30.0
    assert control_rate(_deploy("rate_hz=50"), _Fps(None)) == 50.0  # no training rate: nothing to keep


def test_checkpoint_fps_from_the_policy_the_run_or_the_default(tmp_path, caplog) -> None:
    own = _checkpoint(tmp_path / "a", {"policy": {"fps": 30}}, {"env": {"kwargs": {"control_hz": 10}}})
    assert trained_fps(own) == 30  # the policy's own record wins
    run = _checkpoint(tmp_path / "b", {"policy": {}}, {"env": {"kwargs": {"control_hz": 30}}})
    assert trained_fps(run) == 30  # written before policies saved it: the run's env rate
    old = _checkpoint(tmp_path / "c", {"policy": {}}, None)
    assert trained_fps(old) is None
    cfg = _deploy("policy.name=vla", f"policy.kwargs.path={old}")
    with caplog.at_level(logging.WARNING):
        assert control_rate(cfg, _Fps(None)) == DEFAULT_FPS == 10
    assert "records no fps: assuming 10 Hz" in caplog.text
    assert control_rate(_deploy("policy.name=vla", f"policy.kwargs.path={run}"), _Fps(None)) == 30
