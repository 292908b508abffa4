"""The runner's ROS 2 endpoints, from the `bridge` config group (topics, QoS, domain, command interface)."""

import json
import logging

import numpy as np
from omegaconf import DictConfig

from vla.bridge import dds
from vla.data.ros_messages import UnsupportedImageError, image_to_rgb

log = logging.getLogger(__name__)


class BridgeIO:
    """Readers for observations and operator input, writers for commands and status."""

    def __init__(
        self,
        b: DictConfig,
        cameras: tuple[str, ...] = (),
        command_interface: str = "position",
        privileged: bool = False,
        period_s: float = 0.02,
    ) -> None:
        if command_interface not in ("position", "trajectory"):
            raise ValueError(f"command_interface={command_interface!r}; use 'position' or 'trajectory'")
        missing = [c for c in cameras if c not in b.topics.images]
        if missing:
            raise ValueError(
                f"cameras {missing} have no topic in bridge.topics.images ({dict(b.topics.images)})"
            )
        self.names = list(b.joint_names)
        self.command_interface = command_interface
        self._reach = dds.Duration(0, int(period_s * 1e9))  # trajectory points are reached one period ahead
        self.node = dds.Node(b.domain_id, b.loopback_only)
        q_state, q_cmd, q_img = (dds.QosSpec(**b.qos[k]) for k in ("state", "command", "image"))
        t = b.topics
        self._js = self.node.reader(t.joint_states, dds.JointState, q_state)
        self._img = {cam: self.node.image_reader(t.images[cam], q_img) for cam in cameras}  # fast decode
        self._instr = self.node.reader(t.instruction, dds.String, q_state)
        self._estop = self.node.reader(t.estop, dds.Bool, q_cmd)
        self._priv = self.node.reader(t.privileged_state, dds.String, q_state) if privileged else None
        if command_interface == "position":
            self._cmd = self.node.writer(t.command, dds.Float64MultiArray, q_cmd)
        else:
            self._cmd = self.node.writer(t.trajectory, dds.JointTrajectory, q_cmd)
        self._status = self.node.writer(t.status, dds.String, q_state)
        self.images_dropped = 0

    def joint_states(self) -> list[dds.JointState]:
        return self._js.take()

    def images(self) -> dict[str, tuple[float, np.ndarray]]:
        """Newest image per camera received since the last call: {cam: (stamp, (H, W, 3) uint8)}."""
        out = {}
        for cam, reader in self._img.items():
            msg = reader.latest()
            if msg is None:
                continue
            try:
                rgb = image_to_rgb(msg)
            except UnsupportedImageError as e:
                self.images_dropped += 1
                log.warning("image on %s dropped: %s", cam, e)
                continue
            out[cam] = (dds.seconds_from_stamp(msg.header.stamp), rgb)
        return out

    def instruction(self) -> str | None:
        msg = self._instr.latest()
        return None if msg is None else msg.data

    def estop(self) -> list[bool]:
        return [bool(m.data) for m in self._estop.take()]

    def privileged_state(self) -> dict | None:
        if self._priv is None:
            return None
        msg = self._priv.latest()
        return None if msg is None else json.loads(msg.data)

    def publish_command(self, q: np.ndarray) -> None:
        if self.command_interface == "position":
            self._cmd.write(dds.float64_array(q))
        else:  # one point, reached one control period ahead (JTC interpolates towards it)
            point = dds.JointTrajectoryPoint([float(x) for x in q], [], [], [], self._reach)
            self._cmd.write(dds.JointTrajectory(dds.Header(dds.Time()), self.names, [point]))

    def publish_status(self, text: str) -> None:
        self._status.write(dds.String(text))
