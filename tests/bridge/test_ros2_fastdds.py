"""The bridge against ROS 2's own client: rclpy on Fast DDS (ROS 2's default middleware), real DDS
between processes, every message type the bridge uses, both ways.

The rclpy node (tests/bridge/ros2_peer.py, run from .venv-ros by tests/bridge/ros2_harness.py) is the
client of `vla sim-robot`, or the robot that `vla deploy` drives, e-stop and stale states included.
Each test has its own ROS domain. Discovery gets generous timeouts (a loaded 2-core machine), content
is asserted exactly: the same floats, the sha256 of every image byte, the instruction text.
"""

import hashlib
import time

import numpy as np
import pytest
from omegaconf import OmegaConf

from tests.bridge.harness import JOINTS, ROOT, fresh_domain
from tests.bridge.ros2_harness import Ros2Peer, start_deploy
from vla.bridge import dds
from vla.bridge.safety import SafetyConfig, check_stream

B = OmegaConf.load(ROOT / "conf/bridge/so101.yaml")
SAFETY = SafetyConfig(joint_names=tuple(B.joint_names), **OmegaConf.to_container(B.safety))
DT = 1 / 30  # the deploy default rate
DETECT = max(3 * DT, 0.1)  # obs_timeout_s / loop watchdog
BRAKE = float(np.max(SAFETY.v_max / SAFETY.a_max))  # longest stop from v_max at a_max
SLACK = 0.3  # DDS delivery + two processes' scheduling on a shared 2-core machine
HOME = np.array([0.0, -0.4, 1.2, 0.8, 0.0, 0.02])  # ros2_peer.py's robot starts here
INSTRUCTION = "pick up the red cube"  # ros2_peer.py's robot publishes it on /vla/instruction
DISCOVERY_S = 30.0  # generous: discovery is ~1-2 s, process start-up on a loaded machine is not


def status_of(peer: Ros2Peer) -> dict:
    return peer.last("status").get("data", {})


def commands(peer: Ros2Peer, since: float = -np.inf) -> tuple[np.ndarray, np.ndarray]:
    """(times (N,), commanded positions (N, 6)) the rclpy robot received, either command interface."""
    rows = [(e["t"], e["data"]) for e in peer.of("command", since)]
    rows += [(e["t"], e["points"][0]["positions"]) for e in peer.of("trajectory", since)]
    rows.sort(key=lambda r: r[0])
    if not rows:
        return np.zeros(0), np.zeros((0, 6))
    return np.array([t for t, _ in rows]), np.array([q for _, q in rows], dtype=np.float64)


@pytest.mark.parametrize(
    "discovery_range",
    [
        # Fast DDS's defaults (multicast discovery, UDP + shared memory)
        pytest.param("", id="fastdds-defaults"),
        # ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST on the rclpy node
        pytest.param("LOCALHOST", id="localhost-range", marks=pytest.mark.slow),
    ],
)
def test_sim_robot_serves_an_rclpy_client_on_loopback(rig, discovery_range: str) -> None:
    """Default `bridge.loopback_only=true`, the sim up first (the order that used to find nothing)."""
    rig.sim("camera_rate_hz=10")  # both cameras, 96x96 rgb8
    obs = rig.obs
    obs.wait_for(lambda: obs.sim and len(obs.joints) > 20, 60, "the sim robot on DDS")
    time.sleep(1.5)  # the sim's first announcements are over: the rclpy node must be found later
    best_effort = dds.QosSpec(reliability="best_effort", depth=1)
    ours = obs.node.reader("/front/image_raw", dds.Image, best_effort)  # the same images, read by us
    env = {"ROS_AUTOMATIC_DISCOVERY_RANGE": discovery_range} if discovery_range else {}
    client = Ros2Peer("client", rig.domain, rig.tmp / "rclpy.log", **env)
    try:
        client.wait_for(lambda: len(client.of("joint_state")) > 20, DISCOVERY_S, "joint states in rclpy")
        # /joint_states (reliable): the same message reaches rclpy and us, float for float
        states = client.of("joint_state")
        assert all(s["names"] == JOINTS and len(s["position"]) == 6 for s in states)
        assert all(abs(s["stamp"] - time.time()) < 5 for s in states)  # real header stamps
        ours_q = [q for _, q in list(obs.joints)]
        assert any(any(np.array_equal(s["position"], q) for q in ours_q) for s in states[-10:])

        # sensor_msgs/Image, best effort both ends (rclpy's sensor-data QoS): every byte, by sha256
        client.wait_for(lambda: {e["cam"] for e in client.of("image")} == {"front", "wrist"}, 15, "images")
        for e in client.of("image"):
            layout = (e["encoding"], e["height"], e["width"], e["step"], e["size"])
            assert layout == ("rgb8", 96, 96, 288, 96 * 96 * 3)
            assert e["frame_id"] == e["cam"]
        ours_sha: dict[float, str] = {}
        common: set[float] = set()
        t0 = time.monotonic()
        while len(common) < 3 and time.monotonic() - t0 < 10:
            for m in ours.take():
                ours_sha[dds.seconds_from_stamp(m.header.stamp)] = _sha(bytes(m.data))
            common = set(ours_sha) & {e["stamp"] for e in client.of("image") if e["cam"] == "front"}
            time.sleep(0.05)
        assert len(common) >= 3, "no front image seen by both readers"
        for e in client.of("image"):
            if e["cam"] == "front" and e["stamp"] in common:
                assert e["sha"] == ours_sha[e["stamp"]]

        # std_msgs/String: the instruction, and the sim's JSON status
        assert client.last("instruction")["data"] == obs.sim[-1][1]["task"]
        assert client.last("sim_status")["data"]["task"] == obs.sim[-1][1]["task"]

        # std_msgs/Float64MultiArray, then trajectory_msgs/JointTrajectory, from rclpy: the sim obeys
        q0 = np.array(obs.sim[-1][1]["joint_pos"])
        for kind, offset in (("command", 0.15), ("trajectory", -0.15)):
            target = (q0 + np.array([offset, 0, 0, 0, 0, 0])).tolist()
            before = obs.sim[-1][1]["counters"]["commands"]
            client.send(**{kind: target})
            obs.wait_for(lambda t=target: obs.sim[-1][1]["target"] == t, 10, f"the sim to take the {kind}")
            obs.wait_for(lambda t=target: abs(obs.joints[-1][1][0] - t[0]) < 0.02, 10, f"the {kind} pose")
            assert obs.sim[-1][1]["counters"]["commands"] > before
            assert obs.sim[-1][1]["counters"]["commands_ignored"] == 0
    finally:
        print(client.stop())


def test_deploy_drives_an_rclpy_robot_over_the_network_with_estop(tmp_path) -> None:
    """`bridge.loopback_only=false` (as on a robot PC), position commands, two cameras, e-stop and re-arm
    sent by the rclpy node."""
    domain = fresh_domain()
    robot = Ros2Peer("robot", domain, tmp_path / "rclpy.log")
    dep = start_deploy(
        domain, tmp_path, "probe", "bridge.loopback_only=false", "cameras=[front,wrist]", amp=0.3, freq=0.5
    )
    try:
        robot.wait_for(lambda: status_of(robot).get("armed"), 90, f"armed in /vla/status\n{dep.output()}")
        robot.wait_for(lambda: len(robot.of("command")) > 45, 10, "commands in rclpy")
        # what the rclpy robot sent reached the policy: joint states, both images, the instruction (sent
        # every 0.5 s, VOLATILE: it may arrive a little after arming)
        robot.wait_for(lambda: status_of(robot).get("task") == INSTRUCTION, 5, "the instruction")
        robot.wait_for(lambda: f"PROBE task {INSTRUCTION}" in _probe_lines(dep), 5, "the policy's task")
        status = status_of(robot)
        assert status["cameras"] == ["front", "wrist"], status
        assert status["fresh_state"] and status["fault"] is None, status
        probes = dict(line.split(" ", 2)[1:] for line in _probe_lines(dep))  # the last line per key
        for e in robot.of("image_sent"):
            assert probes[e["cam"]] == f"{e['sha']} (96, 96, 3) uint8", probes
        assert probes["task"] == INSTRUCTION
        # std_msgs/Float64MultiArray in rclpy: safe, from the measured (rclpy's) pose, moving
        _, cmd = commands(robot)
        assert cmd.shape[1] == 6 and np.all(np.isfinite(cmd))
        assert np.abs(cmd[0] - HOME).max() <= SAFETY.v_max.max() * DT + 1e-9  # started at rclpy's pose
        assert check_stream(cmd, SAFETY, DT) == []
        assert np.ptp(cmd[:, 0]) > 0.05

        # e-stop from rclpy (std_msgs/Bool true): brake, then the command stream stands still
        robot.send(estop=True)
        robot.wait_for(lambda: robot.of("estop_sent"), 10, "the e-stop written")
        t_stop = robot.of("estop_sent")[0]["t"]  # the peer's monotonic clock is ours (CLOCK_MONOTONIC)
        robot.wait_for(lambda: status_of(robot).get("estopped"), 5, "estopped in /vla/status")
        time.sleep(BRAKE + SLACK + 0.5)
        assert not status_of(robot)["armed"]
        _, after = commands(robot, t_stop + BRAKE + SLACK)
        assert len(after) == 0 or np.abs(after - after[0]).max() == 0, after  # held (or silent)
        _, all_cmd = commands(robot)
        assert check_stream(all_cmd, SAFETY, DT) == []  # the stop itself within the limits

        # re-arm from rclpy (std_msgs/Bool false): moving again
        robot.send(estop=False)
        robot.wait_for(lambda: len(robot.of("estop_sent")) == 2, 10, "the re-arm written")
        t_rearm = robot.of("estop_sent")[1]["t"]
        robot.wait_for(lambda: status_of(robot).get("armed"), 5, "armed again")
        robot.wait_for(lambda: len(commands(robot, t_rearm)[0]) > 30, 10, "commands after re-arm")
        assert np.ptp(commands(robot, t_rearm)[1][:, 0]) > 0.01
    finally:
        print(f"---- deploy ----\n{dep.stop()}\n---- rclpy robot ----\n{robot.stop()}")


def test_deploy_trajectory_and_stale_states_from_an_rclpy_robot(tmp_path) -> None:
    """Default loopback-only, the rclpy robot up first; JointTrajectory commands; the robot's stamps
    go 0.5 s stale: the bridge holds and fresh states alone never re-arm it."""
    domain = fresh_domain()
    robot = Ros2Peer("robot", domain, tmp_path / "rclpy.log")
    robot.wait_for(lambda: robot.of("ready"), 30, "the rclpy node")
    time.sleep(1.0)  # its first announcements are over: the bridge must find it later
    dep = start_deploy(domain, tmp_path, "sine", "command_interface=trajectory", amp=0.3, freq=0.5)
    try:
        robot.wait_for(lambda: status_of(robot).get("armed"), 90, f"armed in /vla/status\n{dep.output()}")
        robot.wait_for(lambda: len(robot.of("trajectory")) > 30, 10, "trajectories in rclpy")
        for e in robot.of("trajectory"):  # one point, reached one control period ahead, header stamp 0
            assert e["names"] == JOINTS and len(e["points"]) == 1 and e["stamp"] == 0
            assert e["points"][0]["tfs"] == [0, int(DT * 1e9)] and len(e["points"][0]["positions"]) == 6
        _, cmd = commands(robot)
        assert np.abs(cmd[0] - HOME).max() <= SAFETY.v_max.max() * DT + 1e-9
        assert check_stream(cmd, SAFETY, DT) == [] and np.ptp(cmd[:, 0]) > 0.05

        robot.send(stamp_offset_s=-0.5)  # every /joint_states now 0.5 s old
        robot.wait_for(lambda: robot.of("ack"), 5, "the stale stamps")
        t_stale = robot.of("ack")[0]["t"]
        robot.wait_for(lambda: not status_of(robot).get("fresh_state", True), 5, "fresh_state false")
        robot.wait_for(lambda: not status_of(robot).get("armed"), 5, "disarmed on stale state")
        time.sleep(BRAKE + SLACK + 0.5)
        status = status_of(robot)
        assert status["fault"] == "observation" and status["counters"].get("obs_stale", 0) > 10, status
        _, after = commands(robot, t_stale + DETECT + BRAKE + SLACK)
        assert len(after) == 0 or np.abs(after - after[0]).max() == 0, after  # the arm holds

        robot.send(stamp_offset_s=0.0)  # fresh again: still not armed (re-arm is explicit)
        robot.wait_for(lambda: status_of(robot).get("fresh_state"), 5, "fresh_state true")
        t_fresh = time.monotonic()
        time.sleep(1.0)
        assert not status_of(robot)["armed"]
        _, later = commands(robot, t_fresh)
        assert len(later) == 0 or np.abs(later - later[0]).max() == 0
    finally:
        print(f"---- deploy ----\n{dep.stop()}\n---- rclpy robot ----\n{robot.stop()}")


@pytest.mark.slow
def test_without_the_fastdds_setting_nothing_matches(tmp_path) -> None:
    """The cause, kept reproducible: a participant configured as before this fix (loopback only, no
    IgnoreTypeInformation for Fast DDS) never matches the rclpy node: no message (docs/deploy.md)."""
    from cyclonedds.domain import Domain, DomainParticipant
    from cyclonedds.pub import DataWriter
    from cyclonedds.topic import Topic

    domain = fresh_domain()
    client = Ros2Peer("client", domain, tmp_path / "rclpy.log")
    old = dds.cyclonedds_config(True).replace(dds._COMPAT_XML, "")
    _keep = Domain(domain, old)
    participant = DomainParticipant(domain)
    topic = Topic(participant, "rt/joint_states", dds.JointState)
    writer = DataWriter(participant, topic, dds.QosSpec().to_qos())
    try:
        client.wait_for(lambda: client.of("ready"), 30, "the rclpy node")
        t0 = time.monotonic()
        while time.monotonic() - t0 < 10:
            writer.write(dds.joint_state(time.time(), JOINTS, HOME))
            time.sleep(0.05)
        # one-sided: Fast DDS matches on the type name, Cyclone waits for a type it cannot resolve and
        # so never sends (the stderr shows "ddsi_xt_type_init_impl with invalid type object")
        assert dds.publication_matched(writer) == 0
        assert client.of("joint_state") == []
    finally:
        print(client.stop())
        del _keep


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _probe_lines(proc) -> list[str]:
    return [line for line in proc.log.read_text().splitlines() if line.startswith("PROBE ")]
