"""Bridge timing: observation -> command latency and control-loop jitter at 30 and 50 Hz (fault row 12).

A `vla sim-robot` process publishes /joint_states at 100 Hz; a deploy runner (this process, real DDS on
loopback) runs a hold policy, so the model is excluded and what is measured is the bridge itself:
- latency (bridge): a new joint state taken from DDS -> the safety-filtered command written (goal p99 5 ms);
- latency (wire): the robot wrote the state -> we wrote the command (adds DDS transfer and the wait for
  the next control tick, up to one period: the loop runs on its own clock, it is not triggered by states);
- jitter: |actual period - nominal period|; overruns: ticks that started a full period late.
Each rate runs idle and under sustained CPU load (one busy process per core), with the control thread
at SCHED_FIFO priority 10 (the default) and, for comparison, at normal priority.

    python -m benchmarks.bench_bridge [--seconds 10]
"""

import argparse
import os
import subprocess
import sys
import threading
import time

import numpy as np
from hydra import compose, initialize_config_dir

from benchmarks.common import markdown_table, write_section
from policies.base import Observation, Policy
from vla.bridge.deploy import build_runner
from vla.bridge.runner import Runner
from vla.config import CONF_DIR
from vla.constants import OBS_STATE

_FAULTS = ("fault_loop", "fault_observation", "fault_policy")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class HoldPolicy(Policy):
    """Chunks that hold the observed pose: no model time in the measurement."""

    def predict_action_chunk(self, obs: Observation) -> np.ndarray:
        return np.tile(np.asarray(obs[OBS_STATE], dtype=np.float64), (10, 1))  # (T, D)


def _spawn(args: list[str], domain: int) -> subprocess.Popen:
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain))
    return subprocess.Popen(
        [sys.executable, *args], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def measure(rate_hz: int, seconds: float, load: bool, rt_priority: int, domain: int) -> dict[str, float]:
    sim = _spawn(
        ["-m", "vla.cli", "sim-robot", "camera_rate_hz=0", "hydra.run.dir=outputs/bench_bridge"], domain
    )
    burners: list[subprocess.Popen] = []
    try:
        with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
            overrides = [f"bridge.domain_id={domain}", f"rate_hz={rate_hz}", f"rt_priority={rt_priority}"]
            cfg = compose("deploy", overrides=[*overrides, "first_chunk_timeout_s=30"])
        runner = build_runner(cfg, policy=HoldPolicy())
        # run() in its own thread so only that thread becomes real-time; wait for the robot, then measure
        thread = threading.Thread(target=runner.run, args=(seconds + 65.0,))
        thread.start()
        deadline = time.monotonic() + 60
        while not runner.latency_s and time.monotonic() < deadline:
            time.sleep(0.05)
        if load:  # the load starts once everything is up, and lasts the whole measurement
            burners = [_spawn(["-c", "while True: pass"], domain) for _ in range(os.cpu_count() or 1)]
        stats = _window(runner, seconds)
        runner.stop()
        thread.join(10)
    finally:
        for p in [sim, *burners]:
            p.terminate()
            p.wait(10)
    return stats


def _window(runner: Runner, seconds: float) -> dict[str, float]:
    """Statistics of `seconds` of the running runner's loop."""
    runner.latency_s.clear(), runner.wire_latency_s.clear(), runner.periods_s.clear()
    overruns0, faults0 = runner.counters["overruns"], sum(runner.safety.counters[k] for k in _FAULTS)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(0.2)
        if not runner.safety.armed:
            runner.request_arm()  # an operator re-arming after a fault, so the measurement goes on
    lat, wire = np.array(runner.latency_s) * 1e3, np.array(runner.wire_latency_s) * 1e3
    jitter = np.abs(np.array(runner.periods_s) - runner.dt) * 1e3
    if lat.size == 0:
        raise RuntimeError("no commands measured: did the sim robot start? (run `vla sim-robot` by hand)")
    return {
        "ticks": len(jitter),
        "lat_p50": np.percentile(lat, 50),
        "lat_p99": np.percentile(lat, 99),
        "lat_max": lat.max(),
        "wire_p50": np.percentile(wire, 50),
        "wire_p99": np.percentile(wire, 99),
        "jit_p50": np.percentile(jitter, 50),
        "jit_p99": np.percentile(jitter, 99),
        "jit_max": jitter.max(),
        "overruns": runner.counters["overruns"] - overruns0,
        "faults": sum(runner.safety.counters[k] for k in _FAULTS) - faults0,
        "loadavg": os.getloadavg()[0],  # the machine is shared: what else ran matters
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args(argv)
    rows = []
    cases = [(30, False, 10), (50, False, 10), (30, True, 10), (50, True, 10), (30, True, 0), (50, True, 0)]
    for i, (rate, load, rt) in enumerate(cases):
        r = measure(rate, args.seconds, load, rt, domain=200 + i)
        rows.append(
            [
                f"{rate} Hz",
                f"{'+ CPU load' if load else 'no added load'} (load avg {r['loadavg']:.1f})",
                f"FIFO {rt}" if rt else "normal",
                r["ticks"],
                f"{r['lat_p50']:.2f}",
                f"{r['lat_p99']:.2f}",
                f"{r['lat_max']:.2f}",
                f"{r['wire_p50']:.1f}",
                f"{r['wire_p99']:.1f}",
                f"{r['jit_p50']:.2f}",
                f"{r['jit_p99']:.2f}",
                f"{r['jit_max']:.2f}",
                r["overruns"],
                r["faults"],
            ]
        )
        print(rows[-1], flush=True)
    header = [
        "rate",
        "machine",
        "control thread",
        "ticks",
        "bridge p50 ms",
        "bridge p99 ms",
        "bridge max ms",
        "wire p50 ms",
        "wire p99 ms",
        "jitter p50 ms",
        "jitter p99 ms",
        "jitter max ms",
        "overruns",
        "watchdog trips",
    ]
    body = (
        "Observation -> command latency excluding the model (goal: bridge p99 <= 5 ms) and control-period "
        f"jitter, {args.seconds:.0f} s per row after warm-up; sim robot at 100 Hz in another process, "
        "DDS on loopback. 'bridge' = state taken from DDS -> command written; 'wire' = robot wrote the "
        "state -> command written (includes waiting for the next tick, up to one period). CPU load = one "
        "busy-looping process per core; after a watchdog trip the benchmark re-arms (counted).\n\n"
        + markdown_table(header, rows)
    )
    write_section("bridge", "ROS 2 bridge: latency and jitter", "python -m benchmarks.bench_bridge", body)


if __name__ == "__main__":
    main()
