"""The physical scene: table, SO-101-layout arm, coloured cubes, bowls and flat target zones.

Physics only — no task logic. A task asks for a number of cubes, bowls and zones and gets an
MjModel; colours and positions are set per episode by the task (cubes are free bodies, bowls and
zones are mocap bodies so that moving them needs no recompilation).

Frame: the arm's base sits on the table top at the origin, facing +x; +y is the robot's left;
the table top is the plane z = 0.
"""

from pathlib import Path

import mujoco
import numpy as np

from envs.tabletop.clock import TIMESTEP  # 5 ms at every control rate (envs/tabletop/clock.py)

ASSETS = Path(__file__).resolve().parent / "assets"
ARM_XML = ASSETS / "so101_arm.xml"

# Joint order of the action and of `agent_pos` (SO-101 order, as vla.constants.SO101_JOINTS).
JOINTS = ("shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper")
# Absolute joint-target limits (radians; gripper: opening of each finger in metres) = the MJCF ranges.
JOINT_LOW = np.array([-2.0, -1.8, -0.4, -2.0, -2.8, 0.0], dtype=np.float32)
JOINT_HIGH = np.array([2.0, 1.8, 2.8, 2.0, 2.8, 0.035], dtype=np.float32)
# Folded over the base, gripper pointing down ~8 cm above the table at x = 9 cm, fingers open.
HOME_QPOS = np.array([0.0, -0.35, 2.25, 1.24, 0.0, 0.03], dtype=np.float32)

CUBE_HALF = 0.015  # 3 cm cubes; the gripper opens to 7 cm
BOWL_RADIUS = 0.048  # inner radius of a bowl's wall ring
BOWL_WALL = 0.03  # wall height
ZONE_RADIUS = 0.05
PARK = np.array([2.0, 2.0, -1.0])  # where unused mocap bodies wait, out of every camera's view

COLORS: dict[str, tuple[float, float, float]] = {
    "red": (0.85, 0.1, 0.1),
    "green": (0.1, 0.65, 0.2),
    "blue": (0.1, 0.3, 0.9),
    "yellow": (0.95, 0.85, 0.1),
    "purple": (0.55, 0.2, 0.75),
    "orange": (1.0, 0.5, 0.0),
}

_CAMERA_FRONT = {"pos": (0.47, -0.24, 0.34), "target": (0.15, 0.0, 0.06), "fovy": 45}


def _xyaxes(pos: tuple[float, ...], target: tuple[float, ...]) -> str:
    """MJCF xyaxes of a camera at `pos` looking at `target` with world +z up."""
    f = np.subtract(target, pos).astype(float)
    f /= np.linalg.norm(f)
    x = np.cross(f, (0.0, 0.0, 1.0))
    x /= np.linalg.norm(x)
    y = np.cross(-f, x)
    return " ".join(f"{v:.4f}" for v in (*x, *y))


def _cube(i: int) -> str:
    h = CUBE_HALF
    return (
        f'<body name="cube{i}" pos="{0.1 + 0.1 * i} 0.3 {h}"><freejoint name="cube{i}_joint"/>'
        f'<geom name="cube{i}_geom" type="box" size="{h} {h} {h}" density="800" friction="0.5 0.01 0.001" '
        f'condim="3" solref="0.005 1"/></body>'
    )


def _bowl(i: int) -> str:
    """A bowl: a flat bottom and a ring of 12 wall boxes (collides like a real bowl, cheaply)."""
    walls = []
    for k in range(12):
        a = 2 * np.pi * k / 12
        r = BOWL_RADIUS + 0.004
        walls.append(
            f'<geom name="bowl{i}_wall{k}" type="box" size="0.004 0.014 {BOWL_WALL / 2}" '
            f'pos="{r * np.cos(a):.4f} {r * np.sin(a):.4f} {BOWL_WALL / 2}" euler="0 0 {a:.4f}"/>'
        )
    return (
        f'<body name="bowl{i}" mocap="true" pos="{PARK[0]} {PARK[1] + i} {PARK[2]}">'
        f'<geom name="bowl{i}_bottom" type="cylinder" size="{BOWL_RADIUS + 0.008} 0.002" pos="0 0 0.002"/>'
        f"{''.join(walls)}</body>"
    )


def _zone(i: int) -> str:
    return (
        f'<body name="zone{i}" mocap="true" pos="{PARK[0]} {PARK[1] - 1 - i} {PARK[2]}">'
        f'<geom name="zone{i}_geom" type="cylinder" size="{ZONE_RADIUS} 0.0005" pos="0 0 0.0005" '
        f'contype="0" conaffinity="0"/></body>'
    )


def scene_xml(n_cubes: int, n_bowls: int = 0, n_zones: int = 0) -> str:
    cam = _CAMERA_FRONT
    objects = [_cube(i) for i in range(n_cubes)] + [_bowl(i) for i in range(n_bowls)]
    objects += [_zone(i) for i in range(n_zones)]
    return f"""
<mujoco model="tabletop">
  <include file="{ARM_XML}"/>
  <option timestep="{TIMESTEP}" integrator="implicitfast" cone="elliptic" impratio="10"/>
  <visual><global offwidth="640" offheight="640"/><quality shadowsize="1024"/>
    <headlight ambient="0.45 0.45 0.45" diffuse="0.5 0.5 0.5"/></visual>
  <asset>
    <texture name="sky" type="skybox" builtin="gradient" rgb1="0.75 0.8 0.88" rgb2="0.35 0.38 0.45"
             width="64" height="64"/>
  </asset>
  <worldbody>
    <light name="top" pos="0.2 0 1.2" dir="0 0 -1" diffuse="0.5 0.5 0.5" castshadow="true"/>
    <geom name="table" type="box" size="0.4 0.45 0.02" pos="0.2 0 -0.02" rgba="0.78 0.74 0.68 1"
          friction="0.5 0.01 0.001"/>
    <geom name="floor" type="plane" size="3 3 0.1" pos="0 0 -0.75" rgba="0.3 0.3 0.32 1"/>
    <camera name="front" pos="{" ".join(map(str, cam["pos"]))}"
            xyaxes="{_xyaxes(cam["pos"], cam["target"])}" fovy="{cam["fovy"]}"/>
    {"".join(objects)}
  </worldbody>
</mujoco>
"""


def build_model(n_cubes: int, n_bowls: int = 0, n_zones: int = 0) -> mujoco.MjModel:
    """Compiles the scene with `n_cubes` free cubes `cube<i>`, mocap bowls `bowl<i>`, zones `zone<i>`."""
    return mujoco.MjModel.from_xml_string(scene_xml(n_cubes, n_bowls, n_zones))


def set_body_rgb(model: mujoco.MjModel, body: str, rgb: tuple[float, float, float]) -> None:
    """Colours every geom of `body` (cubes, bowl walls, zones)."""
    body_id = model.body(body).id
    for g in np.flatnonzero(model.geom_bodyid == body_id):
        model.geom_rgba[g] = (*rgb, 1.0)
