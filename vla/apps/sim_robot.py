"""`vla sim-robot`: a tabletop env served as a ROS 2 robot over DDS, like ros2_control would serve an arm.

Every `1 / sim_rate_hz` s it reads the latest position command (forward_position_controller/commands,
std_msgs/Float64MultiArray; or joint_trajectory_controller/joint_trajectory with `command_interface:
trajectory`, whose first point is used), steps MuJoCo's physics, and publishes /joint_states (header
stamp = wall clock at measurement). Camera images go out at `camera_rate_hz` (0: none).
Like ros2_control's `cmd_timeout`, when commands stop for `command_timeout_s` it holds the measured pose
(null: 3 periods of the env's `control_hz`, at least 0.1 s: serve the env at the rate commands come at,
the rate the policy was trained at, or every late command would make it hold).

Sim-only topics, never published by a real robot: /vla/sim/privileged_state (JSON, for the scripted
expert), /vla/sim/status (JSON: success, the episode, counters), /vla/sim/fault (JSON in, fault
injection for the tests: {"freeze_states": bool, "mute_states": bool, "stamp_offset_s": float,
"drop_all": bool}) and /vla/sim/reset (JSON in: {"seed": int, "split": str, "id": any; split and id
optional}: a new episode, as env.reset(seed), the arm holding its new pose until commanded; a repeated
id is ignored, so a sender may resend until the status shows it; `vla eval eval.via=bridge` uses it).

Episodes: success is checked once per control period (1 / env control_hz, as env.step checks it) and
latched: the status says `episode_success` and `success_time_s` (simulated seconds after the reset)
until the next reset.
"""

import json
import logging
import time
from typing import Any

import hydra
import mujoco
import numpy as np
from omegaconf import DictConfig, OmegaConf

from vla.bridge import dds
from vla.bridge.rt import set_realtime
from vla.bridge.timing import MIN_TIMEOUT_S, TIMEOUT_PERIODS
from vla.config import CONF_DIR

log = logging.getLogger(__name__)


class SimRobot:
    def __init__(self, cfg: DictConfig) -> None:
        import gymnasium as gym

        import envs  # noqa: F401  (registers the tabletop ids)

        self.cfg = cfg
        b = cfg.bridge
        self.names = list(b.joint_names)
        env = gym.make(cfg.env.id, **OmegaConf.to_container(cfg.env.kwargs, resolve=True))
        self.env = env.unwrapped
        self.model, self.data = self.env.model, self.env.data
        self.substeps = max(1, round(1.0 / (cfg.sim_rate_hz * self.model.opt.timestep)))
        self.dt = self.substeps * self.model.opt.timestep
        control_hz = float(getattr(self.env, "control_hz", 10))
        self.success_every = max(1, round(1.0 / (control_hz * self.dt)))  # ticks per control period
        timeout = cfg.command_timeout_s
        self.command_timeout_s = (
            max(TIMEOUT_PERIODS / control_hz, MIN_TIMEOUT_S) if timeout is None else timeout
        )
        self._dof = np.array([self.model.joint(name).dofadr[0] for name in self.names])  # raises on unknown
        self.target = self.env.joint_pos().astype(np.float64)  # hold the initial pose until commanded
        self.last_cmd_time = None
        self.holding = True
        self.fault: dict[str, Any] = {
            "freeze_states": False,
            "mute_states": False,
            "stamp_offset_s": 0.0,
            "drop_all": False,
        }
        self.counters = {"commands": 0, "commands_ignored": 0, "timeouts": 0, "steps": 0}
        self._frozen_stamp: float | None = None
        self.episode: dict[str, Any] = {}
        self.reset_episode(int(cfg.seed), None, index=0)
        self._setup_dds(b)

    def reset_episode(
        self, seed: int, split: str | None, index: int | None = None, reset_id: object = None
    ) -> None:
        """env.reset(seed) (in `split` when given); the arm holds its new pose until commanded."""
        if split is not None:
            from envs.tabletop import instructions

            instructions.check_split(split)
            self.env.split = split
        self.env.reset(seed=seed)
        self.target, self.last_cmd_time, self.holding = self.env.joint_pos().astype(np.float64), None, True
        index = self.episode.get("index", -1) + 1 if index is None else index
        self.episode = {
            "index": index,
            "seed": seed,
            "split": self.env.split,
            "ticks": 0,
            "success_tick": None,
            "reset_id": reset_id,
        }
        self._success_now = False

    def _setup_dds(self, b: DictConfig) -> None:
        self.node = dds.Node(b.domain_id, b.loopback_only)
        q_state, q_cmd = dds.QosSpec(**b.qos.state), dds.QosSpec(**b.qos.command)
        t = b.topics
        self.pub_js = self.node.writer(t.joint_states, dds.JointState, q_state)
        self.sub_cmd = self.node.reader(t.command, dds.Float64MultiArray, q_cmd)
        self.sub_traj = self.node.reader(t.trajectory, dds.JointTrajectory, q_cmd)
        self.sub_fault = self.node.reader(t.sim_fault, dds.String, q_cmd)
        self.sub_reset = self.node.reader(t.sim_reset, dds.String, q_cmd)
        self.pub_status = self.node.writer(t.sim_status, dds.String, q_state)
        self.pub_priv = self.node.writer(t.privileged_state, dds.String, q_state)
        self.pub_instr = self.node.writer(t.instruction, dds.String, q_state)
        cams = list(self.cfg.env.kwargs.cameras) if self.cfg.camera_rate_hz > 0 else []
        q_img = dds.QosSpec(**b.qos.image)
        self.pub_img = {cam: self.node.writer(t.images[cam], dds.Image, q_img) for cam in cams}

    # ---------------------------------------------------------------- commands in
    def _read_commands(self, now: float) -> None:
        for msg in self.sub_fault.take():
            self.fault.update(json.loads(msg.data))
            log.warning("sim fault injection: %s", self.fault)
        cmds = [np.asarray(m.data, dtype=np.float64) for m in self.sub_cmd.take()]
        for traj in self.sub_traj.take():
            if list(traj.joint_names) == self.names and traj.points:
                cmds.append(np.asarray(traj.points[0].positions, dtype=np.float64))
            else:
                self.counters["commands_ignored"] += 1
        if self.fault["drop_all"]:
            return  # link down: commands are lost, not queued (no backlog replayed)
        for cmd in cmds:
            # like forward_command_controller: a wrong-size (or non-finite) command is ignored
            if cmd.shape != (len(self.names),) or not np.all(np.isfinite(cmd)):
                self.counters["commands_ignored"] += 1
                continue
            self.target, self.last_cmd_time, self.holding = cmd, now, False
            self.counters["commands"] += 1
        timeout = self.command_timeout_s
        if (
            not self.holding
            and timeout > 0
            and self.last_cmd_time is not None
            and now - self.last_cmd_time > timeout
        ):
            self.target = self.env.joint_pos().astype(
                np.float64
            )  # hold where the arm is, as cmd_timeout does
            self.holding = True
            self.counters["timeouts"] += 1
            log.warning("no command for %.3f s: holding the measured pose (commands slower than the env's "
                        "control_hz? serve it at the deploy rate)", timeout)  # fmt: skip

    def _read_resets(self) -> None:
        """After the commands: a reset wins over any command of the same tick (sent before it)."""
        for msg in self.sub_reset.take():
            try:
                request = json.loads(msg.data)
                if request.get("id") is not None and request["id"] == self.episode["reset_id"]:
                    continue  # a resent request already served: never reset the episode it started
                self.reset_episode(int(request["seed"]), request.get("split"), reset_id=request.get("id"))
            except (ValueError, KeyError, TypeError) as err:
                log.error('sim reset %r ignored: %s (send {"seed": <int>, "split": <split>})', msg.data, err)
                continue
            log.info("episode %d: seed %d, %s: %r", self.episode["index"], self.episode["seed"],
                     self.episode["split"], self.env.task_description)  # fmt: skip

    def _check_success(self) -> None:
        """Once per control period, as env.step checks it; latched until the next reset."""
        ep = self.episode
        ep["ticks"] += 1
        if ep["ticks"] % self.success_every == 0:
            self._success_now = bool(self.env._is_success())
            if self._success_now and ep["success_tick"] is None:
                ep["success_tick"] = ep["ticks"]

    # ---------------------------------------------------------------- physics + state out
    def _step_physics(self) -> None:
        target = np.clip(self.target, self.env.action_space.low, self.env.action_space.high)
        self.data.ctrl[:] = np.append(
            target, target[5]
        )  # the mirror finger follows the gripper (as env.step)
        for _ in range(self.substeps):
            mujoco.mj_step(self.model, self.data)
        self.counters["steps"] += 1

    def _publish_state(self, wall: float) -> None:
        if self.fault["drop_all"] or self.fault["mute_states"]:
            return
        stamp = wall + float(self.fault["stamp_offset_s"])
        if self.fault["freeze_states"]:
            self._frozen_stamp = self._frozen_stamp if self._frozen_stamp is not None else stamp
            stamp = self._frozen_stamp  # a frozen driver repeats its last message
        else:
            self._frozen_stamp = None
        q = self.env.joint_pos().astype(np.float64)
        qd = self.data.qvel[self._dof]  # (6,) measured joint velocities
        self.pub_js.write(dds.joint_state(stamp, self.names, q, qd))

    def _publish_images(self, wall: float) -> None:
        if not self.pub_img or self.fault["drop_all"]:
            return
        frames = self.env.cameras.render(self.data)  # {cam: (H, W, 3) uint8}
        for cam, writer in self.pub_img.items():
            img = np.ascontiguousarray(frames[cam])
            h, w = img.shape[:2]
            writer.write(dds.Image(dds.header_now(wall, cam), h, w, "rgb8", 0, 3 * w, img.tobytes()))

    def _publish_slow(self, wall: float) -> None:
        ep = self.episode
        status = {
            "is_success": self._success_now,
            "episode": ep["index"],
            "reset_id": ep["reset_id"],
            "seed": ep["seed"],
            "split": ep["split"],
            "episode_time_s": ep["ticks"] * self.dt,  # simulated seconds since the reset
            "episode_success": ep["success_tick"] is not None,
            "success_time_s": None if ep["success_tick"] is None else ep["success_tick"] * self.dt,
            "task": self.env.task_description,
            "counters": self.counters,
            "joint_pos": self.env.joint_pos().tolist(),
            "target": self.target.tolist(),
            "time": wall,
        }
        self.pub_status.write(dds.String(json.dumps(status)))
        if self.cfg.publish_instruction:
            self.pub_instr.write(dds.String(self.env.task_description))

    def run(self, duration_s: float = 0.0) -> None:
        """Real-time loop on absolute deadlines of the monotonic clock."""
        t0 = time.monotonic()
        cam_every = max(1, round(self.cfg.sim_rate_hz / self.cfg.camera_rate_hz)) if self.pub_img else 0
        slow_every = max(1, round(self.cfg.sim_rate_hz / 10))  # status + instruction at 10 Hz
        k = 0
        set_realtime(int(self.cfg.rt_priority))
        log.info(
            "sim robot up: %s on domain %d at %.0f Hz", self.cfg.env.id, self.node.domain_id, 1 / self.dt
        )
        while duration_s <= 0 or time.monotonic() - t0 < duration_s:
            now = time.monotonic()
            self._read_commands(now)
            self._read_resets()
            self._step_physics()
            self._check_success()
            wall = time.time()
            self._publish_state(wall)
            if self.cfg.publish_privileged_state and not self.fault["drop_all"]:
                self.pub_priv.write(dds.String(json.dumps(self.env.privileged_state())))
            if cam_every and k % cam_every == 0:
                self._publish_images(wall)
            if k % slow_every == 0:
                self._publish_slow(wall)
            k += 1
            delay = t0 + k * self.dt - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            elif delay < -self.dt:  # fell behind by more than a tick: resynchronise instead of bursting
                k = int((time.monotonic() - t0) / self.dt)


def run(cfg: DictConfig) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    SimRobot(cfg).run(float(cfg.duration_s))


@hydra.main(config_path=CONF_DIR, config_name="sim_robot", version_base="1.3")
def main(cfg: DictConfig) -> None:
    run(cfg)
