"""The simulated clock of the tabletop suite: physics rate, control rate, time limits in seconds.

Pure Python (no MuJoCo), so envs/__init__.py computes step limits without importing the simulator.

The physics always runs at PHYSICS_HZ (5 ms steps); only the number of physics steps per control
step follows `control_hz`. Control step k (0 = the first after reset) runs the whole number of
physics steps that puts the simulated clock nearest to (k + 1) / control_hz: 20 each at 10 Hz; at
30 Hz, where 200 / 30 is not whole, 7, 6, 7 in turn (35, 30, 35 ms), so the clock is within half a
physics step (2.5 ms) of k / 30 s and exact every 3 steps (a finer physics step would change the
contacts of the frozen 10 Hz envs; an uneven 30 Hz cadence changes nothing at 10 Hz).
"""

import math
import numbers

PHYSICS_HZ = 200
TIMESTEP = 1.0 / PHYSICS_HZ  # s (0.005)
DEFAULT_CONTROL_HZ = 10  # the rate of the frozen ids; 30 matches the SO-101, LeRobot's datasets, `vla deploy`


def check_control_hz(control_hz: object) -> int:
    """`control_hz` as an int; ValueError naming the value and the allowed rates otherwise."""
    if isinstance(control_hz, numbers.Real) and not isinstance(control_hz, bool):
        value = float(control_hz)
        if value.is_integer() and 1 <= value <= PHYSICS_HZ:
            return int(value)
    raise ValueError(
        f"control_hz={control_hz!r} is not a valid control rate: use a whole number of Hz from 1 to "
        f"{PHYSICS_HZ} (the physics rate), e.g. {DEFAULT_CONTROL_HZ} (the default) or 30 (the SO-101's "
        "and LeRobot's datasets' rate)"
    )


def physics_steps(control_hz: int, step: int) -> int:
    """Physics steps that control step `step` (0 = the first after reset) runs at `control_hz`."""
    return _nearest_physics_step(step + 1, control_hz) - _nearest_physics_step(step, control_hz)


def _nearest_physics_step(control_steps: int, control_hz: int) -> int:
    # round(control_steps * PHYSICS_HZ / control_hz) in integers: no float drift over a long episode
    return (2 * control_steps * PHYSICS_HZ + control_hz) // (2 * control_hz)


def episode_steps(time_limit_s: float, control_hz: int) -> int:
    """Control steps in `time_limit_s` seconds at `control_hz` (5 s: 50 steps at 10 Hz, 150 at 30 Hz)."""
    number = isinstance(time_limit_s, numbers.Real) and not isinstance(time_limit_s, bool)
    if not (number and math.isfinite(time_limit_s) and time_limit_s > 0):
        raise ValueError(
            f"time_limit_s={time_limit_s!r} must be a positive number of seconds (or None: no limit)"
        )
    return max(1, round(time_limit_s * control_hz))
