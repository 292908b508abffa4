"""Inverse kinematics of the arm from MuJoCo Jacobians (damped least squares on `grasp_site`).

The solver owns an arm-only MjModel (assets/so101_arm.xml), so it runs in any process that has
joint positions — the env, or the ROS bridge's expert node — without the scene.
"""

import mujoco
import numpy as np

from envs.tabletop.scene import ARM_XML, JOINT_HIGH, JOINT_LOW

_N_ARM = 5  # pan, lift, elbow, wrist flex, wrist roll: the joints IK moves (the gripper is separate)
_ROT_WEIGHT = 0.3  # metres per radian: a 1 rad orientation error weighs like 30 cm of position error
_DAMPING = 1e-3


def down_rotation(yaw: float) -> np.ndarray:
    """(3, 3) world rotation of the hand pointing straight down with its x axis at `yaw`.

    The fingers close along the hand's y axis, which is then (sin yaw, -cos yaw, 0).
    """
    c, s = np.cos(yaw), np.sin(yaw)
    x = np.array([c, s, 0.0])
    z = np.array([0.0, 0.0, -1.0])
    return np.stack([x, np.cross(z, x), z], axis=1)  # columns are the hand's axes


class ArmIK:
    """fk(q) -> (pos, rot) of the grasp site; solve(q, pos, yaw) -> joint targets (5,)."""

    def __init__(self) -> None:
        self.model = mujoco.MjModel.from_xml_path(str(ARM_XML))
        self.data = mujoco.MjData(self.model)
        self.site = self.model.site("grasp_site").id
        self._jacp = np.zeros((3, self.model.nv))
        self._jacr = np.zeros((3, self.model.nv))

    def _set(self, q: np.ndarray) -> None:
        self.data.qpos[:_N_ARM] = q[:_N_ARM]
        mujoco.mj_kinematics(self.model, self.data)
        mujoco.mj_comPos(self.model, self.data)

    def fk(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Grasp-site position (3,) and rotation (3, 3) at joint positions q (>= 5 entries)."""
        self._set(np.asarray(q, dtype=float))
        return self.data.site_xpos[self.site].copy(), self.data.site_xmat[self.site].reshape(3, 3).copy()

    def solve(self, q0: np.ndarray, pos: np.ndarray, yaw: float, iters: int = 40) -> np.ndarray:
        """Arm joints (5,) putting the grasp site at `pos` pointing down at `yaw`, starting from q0."""
        q = np.asarray(q0, dtype=float)[:_N_ARM].copy()
        target_rot = down_rotation(yaw)
        lo, hi = JOINT_LOW[:_N_ARM].astype(float), JOINT_HIGH[:_N_ARM].astype(float)
        for _ in range(iters):
            self._set(q)
            rot = self.data.site_xmat[self.site].reshape(3, 3)
            err_p = pos - self.data.site_xpos[self.site]
            # small-angle rotation error in the world frame: 0.5 * sum_i (r_i x r_target_i)
            err_r = 0.5 * np.cross(rot.T, target_rot.T).sum(axis=0)
            err = np.concatenate([err_p, _ROT_WEIGHT * err_r])  # (6,)
            if np.linalg.norm(err) < 1e-5:
                break
            mujoco.mj_jacSite(self.model, self.data, self._jacp, self._jacr, self.site)
            jac = np.concatenate([self._jacp[:, :_N_ARM], _ROT_WEIGHT * self._jacr[:, :_N_ARM]])  # (6, 5)
            dq = jac.T @ np.linalg.solve(jac @ jac.T + _DAMPING * np.eye(6), err)
            q = np.clip(q + np.clip(dq, -0.3, 0.3), lo, hi)
        return q
