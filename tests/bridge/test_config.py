"""The deploy configuration: QoS as ROS 2 expects it (checked on real DDS), domain ids, policy loading."""

import time

import pytest
from cyclonedds.core import Policy as QosPolicy
from hydra import compose, initialize_config_dir

from tests.bridge import harness
from vla.apps.deploy import build_policy
from vla.bridge import dds
from vla.config import CONF_DIR


def _compose(name: str, *overrides: str):
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose(name, overrides=list(overrides))


def test_qos_is_explicit_reliable_for_state_and_commands_best_effort_for_images() -> None:
    qos = _compose("deploy").bridge.qos
    for key in ("state", "command"):
        q = dds.QosSpec(**qos[key]).to_qos()
        assert isinstance(q[QosPolicy.Reliability], QosPolicy.Reliability.Reliable)
        assert q[QosPolicy.Durability] == QosPolicy.Durability.Volatile and q[
            QosPolicy.History
        ] == QosPolicy.History.KeepLast(10)
    assert q[QosPolicy.DataRepresentation] == QosPolicy.DataRepresentation(
        use_cdrv0_representation=True
    )  # XCDR1
    assert dds.QosSpec(**qos.image).to_qos()[QosPolicy.Reliability] == QosPolicy.Reliability.BestEffort
    with pytest.raises(ValueError, match="qos"):
        dds.QosSpec(reliability="sometimes").to_qos()


def test_a_reliable_reader_matches_a_reliable_writer_but_never_a_best_effort_one() -> None:
    """What docs/deploy.md (QoS) warns about, on real DDS: why state and commands must both be RELIABLE."""
    domain = harness.fresh_domain()
    sub, pub = dds.Node(domain), dds.Node(domain)
    reader = sub.reader("/joint_states", dds.JointState, dds.QosSpec("reliable"))
    best_effort = pub.writer("/joint_states", dds.JointState, dds.QosSpec("best_effort"))
    reliable = pub.writer("/joint_states", dds.JointState, dds.QosSpec("reliable"))
    deadline = time.monotonic() + 10
    while dds.publication_matched(reliable) < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)  # discovery of both writers has had time to finish
    assert dds.publication_matched(reliable) == 1 and reader.matched() == 1
    assert dds.publication_matched(best_effort) == 0


def test_ros_domain_id_is_honoured_by_the_deploy_config(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = _compose("deploy")
    assert cfg.bridge.domain_id is None  # null: from the environment, as ROS 2 does
    monkeypatch.setenv("ROS_DOMAIN_ID", "77")
    assert dds.domain_id_from_env(cfg.bridge.domain_id) == 77
    assert dds.domain_id_from_env(_compose("deploy", "bridge.domain_id=5").bridge.domain_id) == 5


def test_ros2_control_topic_names_by_default() -> None:
    t = _compose("deploy").bridge.topics
    assert t.joint_states == "/joint_states" and t.command == "/forward_position_controller/commands"
    assert t.trajectory == "/joint_trajectory_controller/joint_trajectory"
    assert dict(t.images) == {"front": "/front/image_raw", "wrist": "/wrist/image_raw"}
    assert (t.instruction, t.estop, t.status) == ("/vla/instruction", "/vla/estop", "/vla/status")


def test_policy_kwargs_path_override_needs_no_plus_and_vla_requires_it(tmp_path) -> None:
    cfg = _compose("deploy", "policy.name=vla", f"policy.kwargs.path={tmp_path}")  # composes: no struct error
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        build_policy(cfg)  # resolved like `vla eval policy_path=`: a clear error for an empty dir
    with pytest.raises(ValueError, match=r"policy\.kwargs\.path"):
        build_policy(_compose("deploy", "policy.name=vla"))
    assert type(build_policy(_compose("deploy"))).__name__ == "SimExpertPolicy"  # null kwargs left out
