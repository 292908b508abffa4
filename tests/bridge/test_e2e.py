"""End to end, exactly as on hardware: `vla sim-robot` serves a tabletop env over ROS 2 topics, `vla deploy`
runs the scripted expert (sim-only: it plans from /vla/sim/privileged_state) through the safety layer,
and the task is completed in the simulator. Separate processes, real DDS on loopback, camera images on.
"""

import sys

import pytest
from omegaconf import OmegaConf

from tests.bridge.harness import ROOT, Proc, series
from vla.bridge.safety import SafetyConfig, check_stream

B = OmegaConf.load(ROOT / "conf/bridge/so101.yaml")
SAFETY = SafetyConfig(joint_names=tuple(B.joint_names), **OmegaConf.to_container(B.safety))


@pytest.mark.parametrize(
    "env_id, interface, rate",
    [
        ("vla/PickCube-v0", "position", 30),
        pytest.param("vla/StackCube-v0", "trajectory", 50, marks=pytest.mark.slow),
        pytest.param("vla/PushCube-v0", "position", 50, marks=pytest.mark.slow),
    ],
)
def test_scripted_expert_completes_task_through_the_bridge(
    rig, env_id: str, interface: str, rate: int
) -> None:
    rig.sim(
        f"env.id={env_id}",
        "env.kwargs.cameras=[front]",
        "env.kwargs.image_size=64",
        "camera_rate_hz=10",  # overrides the harness default (no images)
        "publish_privileged_state=true",
        "seed=3",
    )
    deploy = Proc(
        [
            "-m",
            "vla.cli",
            "deploy",
            "policy.name=sim_expert",
            "use_privileged_state=true",
            "cameras=[front]",
            f"command_interface={interface}",
            f"rate_hz={rate}",
            "status_period_s=0.1",
            f"hydra.run.dir={rig.tmp}/d",
        ],
        rig.domain,
        rig.tmp / "vla_deploy.log",
    )
    obs = rig.obs
    try:
        obs.wait_for(lambda: any(s.get("is_success") for _, s in obs.sim), 40, f"{env_id} success in the sim")
        status = obs.last_status()
        assert status["armed"] and status["fault"] is None, status
        assert status["cameras"] == ["front"]  # images crossed the wire and reached the policy
        _, cmd = series(obs.commands)
        assert len(cmd) > 10 and check_stream(cmd, SAFETY, 1.0 / rate) == []
        assert "vla deploy" not in sys.argv  # the apps ran as their own processes
    finally:
        print(deploy.stop())
