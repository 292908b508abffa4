"""A real ROS 2 node (rclpy on Fast DDS, ROS 2's default middleware) for the interoperation tests.

    .venv-ros/bin/python tests/bridge/ros2_peer.py robot|client

It runs in .venv-ros (tests/bridge/ros2_requirements.txt, installed by `make setup`) and never imports
vla: it knows the topics and types only as a ROS 2 robot or operator would. tests/bridge/ros2_harness.py
starts it, sends it JSON commands on stdin (one per line) and reads JSON events from its stdout.

robot: plays an arm under ros2_control for `vla deploy`. A perfect position servo: /joint_states (100 Hz,
    reliable) report the last commanded position (Float64MultiArray on the forward controller's topic,
    or the first point of a JointTrajectory). Publishes rgb8 images on /front/image_raw and
    /wrist/image_raw (10 Hz, sensor-data QoS: best effort) and /vla/instruction; reads /vla/status.
    Commands: {"estop": bool} (std_msgs/Bool on /vla/estop), {"stamp_offset_s": s} (stale stamps).
client: the operator side of `vla sim-robot`: reads /joint_states, images (sensor-data QoS),
    /vla/instruction and /vla/sim/status; streams {"command": [6]} or {"trajectory": [6]} at 50 Hz.
"""

import hashlib
import json
import queue
import sys
import threading
import time

import rclpy
from rclpy.qos import QoSProfile, qos_profile_sensor_data
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Bool, Float64MultiArray, String
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

JOINTS = ["shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper"]
HOME = [0.0, -0.4, 1.2, 0.8, 0.0, 0.02]  # inside conf/bridge/so101.yaml's limits
CAMERAS = {"front": 1, "wrist": 2}
SIZE = 96  # the sim's default image size
INSTRUCTION = "pick up the red cube"
COMMAND = "/forward_position_controller/commands"
TRAJECTORY = "/joint_trajectory_controller/joint_trajectory"
RELIABLE = QoSProfile(depth=10)  # rclpy's default: RELIABLE, VOLATILE, KEEP_LAST 10


def image_bytes(camera: str) -> bytes:
    """A fixed pattern per camera, so a receiver can check every byte (its sha256)."""
    k = CAMERAS[camera]
    return bytes((i * 7 + k * 31) % 251 for i in range(SIZE * SIZE * 3))


def emit(event: str, **fields) -> None:
    print(json.dumps({"ev": event, "t": time.monotonic(), **fields}), flush=True)


def stamp_s(msg) -> float:
    return msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9


def set_stamp(msg, seconds: float) -> None:
    msg.header.stamp.sec = int(seconds // 1)
    msg.header.stamp.nanosec = min(round((seconds % 1) * 1e9), 999_999_999)


class Peer:
    def __init__(self, role: str) -> None:
        self.node = rclpy.create_node(f"vla_test_{role}")
        self.inbox: queue.Queue[dict] = queue.Queue()
        self.pending_estop: list[bool] = []
        self.matched: dict[str, int] = {}
        self.pubs: dict[str, object] = {}
        self.subs: dict[str, object] = {}
        n = self.node
        if role == "robot":
            self.q = list(HOME)
            self.stamp_offset_s = 0.0
            self.pubs["/joint_states"] = n.create_publisher(JointState, "/joint_states", RELIABLE)
            self.pubs["/vla/instruction"] = n.create_publisher(String, "/vla/instruction", RELIABLE)
            self.pubs["/vla/estop"] = n.create_publisher(Bool, "/vla/estop", RELIABLE)
            self.images = {cam: image_bytes(cam) for cam in CAMERAS}
            for cam in CAMERAS:
                topic = f"/{cam}/image_raw"
                self.pubs[topic] = n.create_publisher(Image, topic, qos_profile_sensor_data)
                emit("image_sent", cam=cam, sha=hashlib.sha256(self.images[cam]).hexdigest())
            self.subs[COMMAND] = n.create_subscription(Float64MultiArray, COMMAND, self.on_command, RELIABLE)
            self.subs[TRAJECTORY] = n.create_subscription(
                JointTrajectory, TRAJECTORY, self.on_trajectory, RELIABLE
            )
            self.subs["/vla/status"] = n.create_subscription(String, "/vla/status", self.on_status, RELIABLE)
            n.create_timer(0.01, self.publish_state)
            n.create_timer(0.1, self.publish_images)
            n.create_timer(0.5, self.publish_instruction)
        else:
            self.stream: tuple[str, list[float]] | None = None
            self.pubs[COMMAND] = n.create_publisher(Float64MultiArray, COMMAND, RELIABLE)
            self.pubs[TRAJECTORY] = n.create_publisher(JointTrajectory, TRAJECTORY, RELIABLE)
            self.subs["/joint_states"] = n.create_subscription(
                JointState, "/joint_states", self.on_joint_state, RELIABLE
            )
            for cam in CAMERAS:
                topic = f"/{cam}/image_raw"
                self.subs[topic] = n.create_subscription(
                    Image, topic, lambda m, cam=cam: self.on_image(cam, m), qos_profile_sensor_data
                )
            self.subs["/vla/instruction"] = n.create_subscription(
                String, "/vla/instruction", lambda m: emit("instruction", data=m.data), RELIABLE
            )
            self.subs["/vla/sim/status"] = n.create_subscription(
                String, "/vla/sim/status", lambda m: emit("sim_status", data=json.loads(m.data)), RELIABLE
            )
            n.create_timer(0.02, self.publish_stream)
        n.create_timer(0.1, self.report_matches)

    # ---------------------------------------------------------------- robot
    def on_command(self, msg: Float64MultiArray) -> None:
        data = list(msg.data)
        emit("command", data=data)
        if len(data) == len(JOINTS):
            self.q = data

    def on_trajectory(self, msg: JointTrajectory) -> None:
        points = [
            {"positions": list(p.positions), "tfs": [p.time_from_start.sec, p.time_from_start.nanosec]}
            for p in msg.points
        ]
        emit("trajectory", names=list(msg.joint_names), points=points, stamp=stamp_s(msg))
        if list(msg.joint_names) == JOINTS and points and len(points[0]["positions"]) == len(JOINTS):
            self.q = points[0]["positions"]

    def on_status(self, msg: String) -> None:
        emit("status", data=json.loads(msg.data))

    def publish_state(self) -> None:
        msg = JointState(name=JOINTS, position=self.q, velocity=[0.0] * len(JOINTS))
        set_stamp(msg, time.time() + self.stamp_offset_s)
        self.pubs["/joint_states"].publish(msg)

    def publish_images(self) -> None:
        for cam, data in self.images.items():
            msg = Image(height=SIZE, width=SIZE, encoding="rgb8", is_bigendian=0, step=3 * SIZE)
            msg.header.frame_id = cam
            set_stamp(msg, time.time())
            msg.data = data
            self.pubs[f"/{cam}/image_raw"].publish(msg)

    def publish_instruction(self) -> None:
        self.pubs["/vla/instruction"].publish(String(data=INSTRUCTION))

    # ---------------------------------------------------------------- client
    def on_joint_state(self, msg: JointState) -> None:
        emit("joint_state", stamp=stamp_s(msg), names=list(msg.name), position=list(msg.position))

    def on_image(self, cam: str, msg: Image) -> None:
        data = bytes(msg.data)
        emit(
            "image",
            cam=cam,
            stamp=stamp_s(msg),
            frame_id=msg.header.frame_id,
            height=msg.height,
            width=msg.width,
            encoding=msg.encoding,
            step=msg.step,
            size=len(data),
            sha=hashlib.sha256(data).hexdigest(),
        )

    def publish_stream(self) -> None:
        if self.stream is None:
            return
        kind, target = self.stream
        if kind == "command":
            self.pubs[COMMAND].publish(Float64MultiArray(data=target))
        else:
            point = JointTrajectoryPoint(positions=target)
            point.time_from_start.nanosec = 20_000_000
            self.pubs[TRAJECTORY].publish(JointTrajectory(joint_names=JOINTS, points=[point]))

    # ---------------------------------------------------------------- both
    def report_matches(self) -> None:
        """Matched remote endpoints per topic (DDS matching, not just discovery), on every change."""
        counts = {t: p.get_subscription_count() for t, p in self.pubs.items()}
        counts.update({t: s.get_publisher_count() for t, s in self.subs.items()})
        if counts != self.matched:
            self.matched = counts
            emit("matched", counts=counts)

    def handle(self, cmd: dict) -> None:
        if "estop" in cmd:
            self.pending_estop.append(bool(cmd["estop"]))
        if "stamp_offset_s" in cmd:
            self.stamp_offset_s = float(cmd["stamp_offset_s"])
        if "command" in cmd:
            self.stream = ("command", [float(x) for x in cmd["command"]])
        if "trajectory" in cmd:
            self.stream = ("trajectory", [float(x) for x in cmd["trajectory"]])
        if cmd.get("stop_stream"):
            self.stream = None
        emit("ack", cmd=cmd)

    def send_estops(self) -> None:
        """VOLATILE topics drop what is written before a reader matched: wait for the bridge's reader."""
        pub = self.pubs.get("/vla/estop")
        while self.pending_estop and pub is not None and pub.get_subscription_count() > 0:
            value = self.pending_estop.pop(0)
            pub.publish(Bool(data=value))
            emit("estop_sent", data=value)

    def run(self) -> None:
        threading.Thread(target=self.read_stdin, daemon=True).start()
        emit("ready")
        while rclpy.ok():
            rclpy.spin_once(self.node, timeout_sec=0.005)
            while not self.inbox.empty():
                cmd = self.inbox.get()
                if cmd.get("quit"):
                    return
                self.handle(cmd)
            self.send_estops()

    def read_stdin(self) -> None:
        for line in sys.stdin:
            if line.strip():
                self.inbox.put(json.loads(line))
        self.inbox.put({"quit": True})  # the test closed our stdin: end


def main(role: str) -> None:
    if role not in ("robot", "client"):
        raise SystemExit(f"role {role!r}: use robot or client")
    rclpy.init()
    try:
        Peer(role).run()
    finally:
        rclpy.try_shutdown()


if __name__ == "__main__":
    main(sys.argv[1])
