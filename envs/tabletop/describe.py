"""What a camera sees of the tabletop, from the simulator's exact state: the scene description that
scene questions (vla dataset qa) are generated from.

`describe(env, camera, size)` returns a JSON-serialisable dict:

    task, instruction           the task's name and the episode's instruction
    object, target              body names the instruction refers to ("cube0"; "bowl0" | "zone0" |
                                "cube1" | None), from the task's privileged state
    camera, image_size          the camera the pixel coordinates below are in, and its image size
    cubes, bowls, zones         one dict per object: name, colour (a name of scene.COLORS), pos (world
                                xyz, m), pixel ([u, v]: column from the image's left edge, row from its
                                top, of the projected centre), visible (the fraction of the object's
                                pixels that the camera sees: 1 = nothing in front of it, 0 = hidden)
    palette                     every colour name an object of the suite can have
    held                        "cube<i>" when the gripper holds that cube (both fingers touch it and
                                nothing else does: it hangs in the gripper), None when no finger touches
                                any cube, "unclear" otherwise (touching, pushing, grasping on the table)

Left and right are the camera's: the "front" camera looks at the robot from its front right, so the
image's left is roughly the robot's right. Visibility comes from segmentation renders: the scene as
is, and each object alone (every other geom moved out of view), counted in pixels.
"""

from typing import Any

import mujoco
import numpy as np

from envs.tabletop import scene

_OUT_OF_VIEW = np.array([0.0, 0.0, -1000.0])  # where the other geoms go when one object is rendered alone


def colour_of(model: mujoco.MjModel, body: str) -> str:
    """The scene.COLORS name of a body's colour (set per episode by the task)."""
    geom = int(np.flatnonzero(model.geom_bodyid == model.body(body).id)[0])
    rgb = model.geom_rgba[geom, :3]
    for name, value in scene.COLORS.items():
        if np.allclose(rgb, value, atol=1e-6):
            return name
    raise ValueError(f"body {body!r} has colour {rgb.tolist()}, none of {list(scene.COLORS)}")


def project(
    model: mujoco.MjModel, data: mujoco.MjData, camera: str, size: int, xyz: np.ndarray
) -> np.ndarray:
    """Pixel [u, v] (column, row; 0 at the image's top-left corner) of a world point in `camera`'s view."""
    cam = model.camera(camera).id
    rel = data.cam_xmat[cam].reshape(3, 3).T @ (np.asarray(xyz, dtype=float) - data.cam_xpos[cam])
    # MuJoCo cameras look along their -z axis, x to the image's right, y up
    focal = (size / 2) / np.tan(np.radians(model.cam_fovy[cam]) / 2)
    return np.array([size / 2 + focal * rel[0] / -rel[2], size / 2 - focal * rel[1] / -rel[2]])


def _segment(
    renderer: mujoco.Renderer, data: mujoco.MjData, camera: str, keep: set[int] | None
) -> np.ndarray:
    """(H, W) geom id per pixel (-1: none); with `keep`, every other geom is moved out of view first."""
    renderer.update_scene(data, camera)
    if keep is not None:
        for g in renderer.scene.geoms[: renderer.scene.ngeom]:
            if g.objtype != mujoco.mjtObj.mjOBJ_GEOM or g.objid not in keep:
                g.pos[:] = _OUT_OF_VIEW
    seg = renderer.render()  # (H, W, 2): object id, object type
    return np.where(seg[..., 1] == int(mujoco.mjtObj.mjOBJ_GEOM), seg[..., 0], -1)


def visible_fractions(
    model: mujoco.MjModel, data: mujoco.MjData, renderer: mujoco.Renderer, camera: str, bodies: list[str]
) -> dict[str, float]:
    """Per body: pixels seen in the scene / pixels seen with the body alone (0 when it is out of view)."""
    renderer.enable_segmentation_rendering()
    try:
        full = _segment(renderer, data, camera, None)
        fractions = {}
        for body in bodies:
            geoms = set(np.flatnonzero(model.geom_bodyid == model.body(body).id).tolist())
            alone = np.isin(_segment(renderer, data, camera, geoms), list(geoms)).sum()
            seen = np.isin(full, list(geoms)).sum()
            fractions[body] = float(seen / alone) if alone else 0.0
        return fractions
    finally:
        renderer.disable_segmentation_rendering()


def held_cube(model: mujoco.MjModel, data: mujoco.MjData, n_cubes: int) -> str | None:
    """ "cube<i>" hanging in the gripper, None when no finger touches a cube, else "unclear"."""
    fingers = {model.body("finger_left").id, model.body("finger_right").id}
    cubes = {model.body(f"cube{i}").id: f"cube{i}" for i in range(n_cubes)}
    touches: dict[int, set[int]] = {c: set() for c in cubes}  # cube body -> bodies in contact with it
    for con in data.contact[: data.ncon]:
        b1, b2 = int(model.geom_bodyid[con.geom1]), int(model.geom_bodyid[con.geom2])
        for a, b in ((b1, b2), (b2, b1)):
            if a in touches:
                touches[a].add(b)
    touched = [c for c, others in touches.items() if others & fingers]
    if not touched:
        return None
    hanging = [c for c in touched if touches[c] == fingers]  # both fingers, nothing else
    return cubes[hanging[0]] if len(touched) == 1 and hanging else "unclear"


def describe(env: Any, renderer: mujoco.Renderer, camera: str = "front") -> dict[str, Any]:
    """The scene description of a tabletop task env (not MultiTask: pass its current task's env)."""
    model, data, size = env.model, env.data, renderer.width
    state = env.privileged_state()
    groups = {
        "cubes": [f"cube{i}" for i in range(env.n_cubes)],
        "bowls": [f"bowl{i}" for i in range(env.n_bowls)],
        "zones": [f"zone{i}" for i in range(env.n_zones)],
    }
    seen = visible_fractions(model, data, renderer, camera, [b for names in groups.values() for b in names])
    description: dict[str, Any] = {
        "task": env.task_name,
        "instruction": env.task_description,
        "object": state.get("object"),
        "target": state.get("target"),
        "camera": camera,
        "image_size": size,
        "held": held_cube(model, data, env.n_cubes),
        "palette": list(scene.COLORS),  # every colour an object of the suite can have
    }
    for group, names in groups.items():
        description[group] = [
            {
                "name": name,
                "colour": colour_of(model, name),
                "pos": data.body(name).xpos.tolist(),
                "pixel": project(model, data, camera, size, data.body(name).xpos).tolist(),
                "visible": round(seen[name], 4),
            }
            for name in names
        ]
    return description
