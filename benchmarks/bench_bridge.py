"""Bridge timing: observation -> command latency and control-loop jitter at 30 and 50 Hz (fault row 12).

A `vla sim-robot` process publishes /joint_states at 100 Hz; a deploy runner (this process, real DDS on
loopback) runs a hold policy, so the model is excluded and what is measured is the bridge itself:
- latency (bridge): a new joint state taken from DDS -> the safety-filtered command written (goal p99 5 ms);
- latency (wire): the robot wrote the state -> we wrote the command (adds DDS transfer and the wait for
  the next control tick, up to one period: the loop runs on its own clock, it is not triggered by states);
- jitter: |actual period - nominal period|; overruns: ticks that started a full period late.
Each rate runs idle and under sustained CPU load (one busy process per core), with the control thread
at SCHED_FIFO priority 10 (the default) and at normal priority, side by side in the same run. Where
SCHED_FIFO is not permitted (not root, no rtprio limit) the real-time rows say so and are not measured:
the runner would fall back to normal priority and the row would repeat the normal one under a false name.

    python -m benchmarks.bench_bridge [--seconds 10] [--no-write]
"""

import argparse
import os
import subprocess
import sys
import threading
import time

import numpy as np
from hydra import compose, initialize_config_dir

from benchmarks.common import command_line, markdown_table, write_section
from policies.base import Observation, Policy
from vla.apps.deploy import build_runner
from vla.bridge.rt import set_realtime
from vla.bridge.runner import Runner
from vla.config import CONF_DIR
from vla.constants import OBS_STATE

_FAULTS = ("fault_loop", "fault_observation", "fault_policy")
RT_PRIORITY = 10  # conf/deploy.yaml's default
GOAL_P99_MS = 5
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
        got = _thread_priority(thread)
        if got != rt_priority:  # the row must name the priority the control loop really ran at
            runner.stop()
            thread.join(10)
            raise RuntimeError(f"control thread runs at priority {got}, asked for {rt_priority}")
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


def realtime_permitted(priority: int) -> bool:
    """Whether this process may give a thread SCHED_FIFO `priority` (tried in a throwaway thread)."""
    result: list[bool] = []
    probe = threading.Thread(target=lambda: result.append(set_realtime(priority)))
    probe.start()
    probe.join()
    return result[0]


def _thread_priority(thread: threading.Thread) -> int:
    """The SCHED_FIFO priority `thread` runs at; 0 for normal scheduling."""
    tid = thread.native_id or 0
    return os.sched_getparam(tid).sched_priority if os.sched_getscheduler(tid) == os.SCHED_FIFO else 0


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


HEADER = [
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


def _row(rate: int, load: bool, rt: int, r: dict | None) -> list[object]:
    thread = f"FIFO {rt}" if rt else "normal"
    if r is None:
        machine = "+ CPU load" if load else "no added load"
        return [f"{rate} Hz", machine, f"{thread}: not permitted here (needs root or an rtprio limit)"] + [
            "-"
        ] * (len(HEADER) - 3)
    return [
        f"{rate} Hz",
        f"{'+ CPU load' if load else 'no added load'} (load avg {r['loadavg']:.1f})",
        thread,
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


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rates", type=int, nargs="+", default=[30, 50], help="control rates, Hz")
    parser.add_argument("--no-write", action="store_true", help="print only; write no results file")
    args = parser.parse_args(argv)
    permitted = realtime_permitted(RT_PRIORITY)
    rows, results = [], []
    # for each machine condition and rate: the real-time row, then the normal-priority one
    cases = [(rate, load, rt) for load in (False, True) for rate in args.rates for rt in (RT_PRIORITY, 0)]
    for i, (rate, load, rt) in enumerate(cases):
        r = measure(rate, args.seconds, load, rt, domain=200 + i) if permitted or not rt else None
        rows.append(_row(rate, load, rt, r))
        print(rows[-1], flush=True)
        results.append(
            {
                "rate_hz": rate,
                "load": load,
                "rt": bool(rt),
                "p50_ms": None if r is None else r["lat_p50"],
                "p99_ms": None if r is None else r["lat_p99"],
                "max_ms": None if r is None else r["lat_max"],
                "overruns": None if r is None else r["overruns"],
                "watchdog_trips": None if r is None else r["faults"],
            }
        )
    figures = {
        "rt_priority": RT_PRIORITY,
        "rt_permitted": permitted,
        "goal_p99_ms": GOAL_P99_MS,
        "seconds": args.seconds,
        "rows": results,
    }
    body = (
        f"Observation -> command latency excluding the model (goal: bridge p99 <= {GOAL_P99_MS} ms) and "
        f"control-period jitter, {args.seconds:.0f} s per row after warm-up; sim robot at 100 Hz in another "
        "process, DDS on loopback. 'bridge' = state taken from DDS -> command written; 'wire' = robot "
        "wrote the state -> command written (includes waiting for the next tick, up to one period). CPU "
        "load = one busy-looping process per core; after a watchdog trip the benchmark re-arms (counted). "
        f"Each rate and machine condition runs with the control thread at SCHED_FIFO {RT_PRIORITY} "
        "(`rt_priority`, the default) and at normal priority, one after the other in this run; the "
        "control thread's scheduling is read back from the kernel for every row.\n\n"
        + markdown_table(HEADER, rows)
    )
    title = "ROS 2 bridge: latency and jitter"
    write_section("bridge", title, command_line("bench_bridge", argv), body, figures, dry_run=args.no_write)
    return figures


if __name__ == "__main__":
    main()
