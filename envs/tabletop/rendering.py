"""Offscreen rendering: one mujoco.Renderer per image size, reused for every camera and step.

Shadows and multisampling are off by default: on a CPU (EGL through Mesa llvmpipe) they cost ~10x.
"""

import atexit

import mujoco
import numpy as np


class Cameras:
    """Renders named cameras of one MjModel; `render(data)` -> {camera: (H, W, 3) uint8}."""

    def __init__(
        self,
        model: mujoco.MjModel,
        cameras: tuple[str, ...],
        size: int,
        shadows: bool = False,
        multisample: bool = False,
    ) -> None:
        known = {model.camera(i).name for i in range(model.ncam)}
        unknown = [c for c in cameras if c not in known]
        if unknown:
            raise ValueError(f"unknown camera(s) {unknown}; this scene has {sorted(known)}")
        if not 16 <= size <= 640:
            raise ValueError(f"image_size={size} is out of range; use 16..640 pixels")
        # The offscreen buffer's sample count is read when a renderer's context is made.
        model.vis.quality.offsamples = 4 if multisample else 0
        self.model, self.cameras, self.size, self.shadows = model, tuple(cameras), size, shadows
        self._renderers: dict[int, mujoco.Renderer] = {}

    def _renderer(self, size: int) -> mujoco.Renderer:
        if size not in self._renderers:
            renderer = mujoco.Renderer(self.model, size, size)
            renderer.scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = self.shadows
            renderer.scene.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = False
            if not self._renderers:
                # Close our GL contexts at exit before mujoco.egl terminates the display (atexit runs
                # last-registered first, and the display's hook is registered with the first context).
                atexit.register(_close_all, self._renderers)
            self._renderers[size] = renderer
        return self._renderers[size]

    def renderer(self, size: int | None = None) -> mujoco.Renderer:
        """The renderer of `size` px images (default: the observations' size), e.g. for segmentation."""
        return self._renderer(size or self.size)

    def render_one(self, data: mujoco.MjData, camera: str, size: int | None = None) -> np.ndarray:
        renderer = self._renderer(size or self.size)
        renderer.update_scene(data, camera)
        return renderer.render()  # (H, W, 3) uint8, a fresh array

    def render(self, data: mujoco.MjData) -> dict[str, np.ndarray]:
        return {cam: self.render_one(data, cam) for cam in self.cameras}

    def close(self) -> None:
        _close_all(self._renderers)


def _close_all(renderers: dict[int, mujoco.Renderer]) -> None:
    for renderer in renderers.values():
        renderer.close()
    renderers.clear()
