"""Property: whatever chunks a policy emits, no command outside the limits is ever published on the wire.

One `vla sim-robot` process serves the robot; for each hypothesis example a fresh deploy runner (in this
process, real DDS) arms from the measured pose and plays the drawn chunks (NaN, Inf, huge values, wrong
widths, empty) for ~0.5 s. Both what the runner wrote and what an independent DDS reader received must
stay within the joint limits and pass the offline velocity / acceleration check.
"""

import time

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policies.base import Observation, Policy
from tests.bridge import harness
from vla.apps.deploy import build_runner
from vla.bridge.safety import check_stream
from vla.config import CONF_DIR


class ReplayPolicy(Policy):
    """Returns the given chunks in turn (test-only)."""

    def __init__(self, chunks: list[np.ndarray]) -> None:
        super().__init__()
        self.chunks, self.i = chunks, 0

    def predict_action_chunk(self, obs: Observation) -> np.ndarray:
        self.i += 1
        return self.chunks[(self.i - 1) % len(self.chunks)]


@pytest.fixture(scope="module")
def robot(tmp_path_factory):
    domain = harness.fresh_domain()
    tmp = tmp_path_factory.mktemp("prop")
    sim = harness.start_sim(domain, tmp)
    obs = harness.Observer(domain)
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        # rt_priority=0: the runner runs in pytest's own thread here, which must not become real-time
        cfg = compose(
            "deploy", overrides=[f"bridge.domain_id={domain}", "rt_priority=0", "first_chunk_timeout_s=1"]
        )
    obs.wait_for(lambda: len(obs.joints) > 10, 60, "the sim robot's joint states")
    yield cfg, obs
    print(sim.stop())
    obs.close()


def _as_chunk(rows: list[list[float]]) -> np.ndarray:
    return np.array(rows, dtype=np.float64).reshape(len(rows), len(rows[0]) if rows else 6)  # (T, D)


value = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.floats(-5, 5),
    st.sampled_from([0.0, 1e9, -1e9, np.nan, np.inf]),
)
chunk = st.one_of(
    st.integers(1, 12).flatmap(
        lambda t: st.lists(st.lists(value, min_size=6, max_size=6), min_size=t, max_size=t)
    ),
    st.integers(0, 3).map(lambda t: [[0.0] * 5] * t),  # wrong width, or empty
).map(_as_chunk)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(chunks=st.lists(chunk, min_size=1, max_size=6))
def test_property_no_published_command_outside_limits(robot, chunks: list[np.ndarray]) -> None:
    cfg, obs = robot
    runner = build_runner(cfg, policy=ReplayPolicy(chunks))
    runner.record_commands = True
    t0 = time.monotonic()
    runner.run(duration_s=0.6)
    time.sleep(0.05)  # let the last samples arrive
    written = np.array([q for _, q in runner.commands]).reshape(-1, 6)
    _, received = harness.series(obs.commands, t0)
    limits = runner.safety.cfg
    for stream in (written, received):
        assert np.all(np.isfinite(stream))
        assert np.all(stream >= limits.lo) and np.all(stream <= limits.hi)
        assert check_stream(stream, limits, runner.dt) == []
    assert runner.safety.counters["armed"] == 1 and len(written) > 0
