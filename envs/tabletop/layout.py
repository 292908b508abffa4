"""Random object layouts inside the arm's reach, with a minimum spacing and task-specific checks."""

from collections.abc import Callable

import numpy as np

R_MIN, R_MAX = 0.12, 0.235  # m from the base: the top-down grasp is reachable (IK checked) in between
MAX_ANGLE = 1.0  # rad either side of straight ahead


def reachable(
    xy: np.ndarray, r_min: float = R_MIN, r_max: float = R_MAX, max_angle: float = MAX_ANGLE
) -> bool:
    r = float(np.hypot(xy[0], xy[1]))
    return r_min <= r <= r_max and abs(np.arctan2(xy[1], xy[0])) <= max_angle


def sample_layout(
    rng: np.random.Generator,
    n: int,
    min_dist: float,
    check: Callable[[np.ndarray], bool] | None = None,
    tries: int = 2000,
) -> np.ndarray:
    """(n, 2) reachable points at least `min_dist` apart that pass `check(points)`."""
    for _ in range(tries):
        r = rng.uniform(R_MIN, R_MAX, n)
        a = rng.uniform(-MAX_ANGLE, MAX_ANGLE, n)
        pts = np.stack([r * np.cos(a), r * np.sin(a)], axis=1)  # (n, 2)
        gaps = np.linalg.norm(pts[:, None] - pts[None], axis=-1) + np.eye(n)  # (n, n)
        if gaps.min() >= min_dist and (check is None or check(pts)):
            return pts
    raise RuntimeError(
        f"no layout of {n} objects {min_dist} m apart found in {tries} tries; loosen the check"
    )


def sample_point(rng: np.random.Generator) -> np.ndarray:
    """(2,) one uniformly random point of the reachable region (uniform in radius and angle)."""
    r, a = rng.uniform(R_MIN, R_MAX), rng.uniform(-MAX_ANGLE, MAX_ANGLE)
    return np.array([r * np.cos(a), r * np.sin(a)])


def segment_clear(a: np.ndarray, b: np.ndarray, points: np.ndarray, clearance: float) -> bool:
    """Whether every point in `points` (k, 2) is at least `clearance` from the segment a-b."""
    ab = b - a
    t = np.clip(((points - a) @ ab) / max(float(ab @ ab), 1e-12), 0.0, 1.0)  # (k,)
    closest = a + t[:, None] * ab  # (k, 2)
    return bool(np.all(np.linalg.norm(points - closest, axis=1) >= clearance))
