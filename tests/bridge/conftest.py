"""The `rig` fixture: sim robot + deploy runner as separate processes on a private ROS domain."""

from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.bridge import harness


@pytest.fixture
def rig(tmp_path: Path):
    domain = harness.fresh_domain()
    obs = harness.Observer(domain)
    procs: list[harness.Proc] = []

    def sim(*overrides: str) -> harness.Proc:
        procs.append(harness.start_sim(domain, tmp_path, *overrides))
        return procs[-1]

    def deploy(policy: str, *overrides: str, **kwargs: object) -> harness.Proc:
        procs.append(harness.start_deploy(domain, tmp_path, policy, *overrides, **kwargs))
        return procs[-1]

    def armed_and_moving(timeout: float = 40.0) -> float:
        obs.wait_for(lambda: obs.last_status().get("armed"), timeout, "the runner to arm")
        return obs.wait_for(obs.moving, 10.0, "the sim joints to move")

    yield SimpleNamespace(
        domain=domain, obs=obs, sim=sim, deploy=deploy, tmp=tmp_path, armed_and_moving=armed_and_moving
    )
    for p in procs:
        out = p.stop()
        print(f"---- {p.log.name} ----\n{out}")  # shown by pytest when the test failed
    obs.close()
