"""scripts/experiments/failures.py: the outcome rules on hand-made tracks, real PickCube, TouchCube,
PushCube and PlaceInBowl episodes of the scripted expert (MuJoCo physics, the expert bound to the env)
classified as successes, and a real PickCube episode whose expert opens the fingers mid-lift classified
as held, dropped and released (and, with the gripper kept shut, a success)."""

import gymnasium as gym
import numpy as np
import pytest

from scripts.experiments.failures import (
    classify,
    classify_place,
    classify_push,
    hold_table,
    how_it_left,
    run_episode,
    takes_layout,
)
from vla.apps.rollout import make_rollout_policy

CUBES = np.array([[0.18, 0.0, 0.015], [0.15, 0.1, 0.015], [0.15, -0.1, 0.015]])  # named cube first


def track(end: np.ndarray, steps: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """The grasp point moving in a straight line from above the base to `end`; cubes at rest."""
    site = np.linspace([0.0, 0.0, 0.2], end, steps)
    return site, np.repeat(CUBES[None], steps, axis=0)


@pytest.mark.parametrize(
    ("end", "expected"),
    [
        (CUBES[0] + [0.01, 0.0, 0.01], "missed grasp"),  # 1 cm off, at the cube's height: fingers missed
        (CUBES[1] + [0.0, 0.01, 0.0], "wrong cube"),
        (np.array([0.05, 0.0, 0.15]), "never close"),
        (CUBES[0] + [0.0, 0.0, 0.06], "never close"),  # above the right cube, never came down
    ],
)
def test_outcome_from_the_closest_approach(end: np.ndarray, expected: str) -> None:
    site, cubes = track(end)
    assert classify(False, False, site, cubes) == expected


def test_success_and_holding_come_first() -> None:
    site, cubes = track(CUBES[1])
    assert classify(True, False, site, cubes) == "success"
    assert classify(False, True, site, cubes) == "held, dropped"


@pytest.mark.parametrize(
    ("env_id", "control_hz", "layout"),
    [
        ("vla/PickCube-v0", 10, {"layout": "slots"}),
        ("vla/TouchCube-v0", 30, {"layout": "slots"}),
        ("vla/PushCube-v0", 30, {}),  # PushCube and PlaceInBowl have only their random layout
        ("vla/PlaceInBowl-v0", 30, {}),
    ],
)
def test_the_scripted_expert_is_classified_a_success(env_id: str, control_hz: int, layout: dict) -> None:
    env = gym.make(env_id, control_hz=control_hz, cameras=["front"], image_size=32, **layout)
    try:
        assert run_episode(env, make_rollout_policy(env), seed=100000) == ("success", None)
    finally:
        env.close()


ZONES = np.array([[0.25, 0.0, 0.0], [0.15, 0.15, 0.0], [0.15, -0.15, 0.0]])  # named zone first


def pushed(named_to: np.ndarray, other_to: np.ndarray, steps: int = 10) -> np.ndarray:
    """Two cubes sliding in straight lines from CUBES[:2] to the given xy: (steps, 2, 3)."""
    ends = np.array([[*named_to, 0.015], [*other_to, 0.015]])
    return np.linspace(CUBES[:2], ends, steps)


@pytest.mark.parametrize(
    ("named_to", "other_to", "expected"),
    [
        (ZONES[1, :2] + [0.01, 0.0], CUBES[1, :2], "wrong zone"),
        # moved 2.5 cm, stopped 4.5 cm from its zone's centre: on the zone, outside the 4 cm success needs
        (CUBES[0, :2] + [0.025, 0.0], CUBES[1, :2], "pushed, off"),
        (CUBES[0, :2], CUBES[1, :2] + [0.0, 0.05], "wrong cube"),
        (CUBES[0, :2] + [0.01, 0.0], CUBES[1, :2], "never moved"),  # brushed 1 cm
    ],
)
def test_push_outcome_from_where_the_cubes_went(named_to, other_to, expected: str) -> None:
    assert classify_push(False, pushed(np.array(named_to), np.array(other_to)), ZONES) == expected


BOWLS = np.array([[0.25, 0.1, 0.0], [0.25, -0.1, 0.0]])  # named bowl first


@pytest.mark.parametrize(
    ("cube_end", "expected"),
    [
        ([0.25, -0.1, 0.02], "wrong bowl"),
        ([0.20, 0.0, 0.015], "held, not placed"),  # dropped on the table between the bowls
        ([0.25, 0.1, 0.09], "held, not placed"),  # still carried above its bowl at the end
    ],
)
def test_place_outcome_from_where_the_held_cube_ended(cube_end: list[float], expected: str) -> None:
    site, cubes = track(CUBES[0])
    cubes[-1, 0] = cube_end
    assert classify_place(False, True, site, cubes, BOWLS) == expected


def test_place_without_a_hold_is_classified_as_a_grasp() -> None:
    site, cubes = track(CUBES[1] + [0.0, 0.01, 0.0])
    assert classify_place(False, False, site, cubes, BOWLS) == "wrong cube"


@pytest.mark.parametrize(
    ("held", "command", "expected"),
    [
        ([0, 1, 1, 1, 1], [0.03, 0.0, 0.0, 0.0, 0.0], "held to the end"),
        ([0, 1, 1, 1, 0, 0], [0.03, 0.0, 0.0, 0.0, 0.03, 0.03], "released"),  # opened on the step it left
        ([0, 1, 1, 1, 1, 0], [0.03, 0.0, 0.0, 0.02, 0.0, 0.0], "released"),  # opened 2 steps before
        ([0, 1, 1, 1, 1, 1, 0], [0.03, 0.02, 0.0, 0.0, 0.0, 0.0, 0.01], "slipped"),  # opened 5 steps before
        ([0, 1, 1, 1, 0, 0], [0.03, 0.01, 0.01, 0.014, 0.014, 0.03], "slipped"),  # opened after it fell
    ],
)
def test_how_the_held_cube_left_the_fingers(held: list[int], command: list[float], expected: str) -> None:
    assert how_it_left(np.array(held, bool), np.array(command)) == expected


def test_hold_table_counts_each_kind() -> None:
    holds = [
        {"left": "slipped", "command_mm": 8.0, "lift_cm": 2.0},
        {"left": "slipped", "command_mm": 10.0, "lift_cm": 0.5},
        {"left": "released", "command_mm": 1.0, "lift_cm": 3.0},
    ]
    lines = hold_table(holds)
    assert "| slipped | 2 | 9.0 | 2.0, 0.5 |" in lines
    assert "| released | 1 | 1.0 | 3.0 |" in lines
    assert "| held to the end | 0 | | |" in lines
    assert hold_table([]) == []


class OpensMidLift:
    """The scripted expert, but once the named cube is 3 cm off the table it commands the fingers open."""

    def __init__(self, env):
        self.expert, self.sim, self.opened = make_rollout_policy(env), env.unwrapped, False

    def reset(self) -> None:
        self.expert.reset()
        self.opened = False

    def select_action(self, observation):
        action = np.array(self.expert.select_action(observation), dtype=np.float32)
        self.opened |= self.sim.data.body("cube0").xpos[2] > 0.045
        if self.opened:
            action[5] = 0.03
        return action


def test_a_real_drop_by_opening_is_classified_released() -> None:
    env = gym.make("vla/PickCube-v0", control_hz=10, cameras=["front"], image_size=32, layout="slots")
    try:
        outcome, hold = run_episode(env, OpensMidLift(env), seed=100000)
    finally:
        env.close()
    assert outcome == "held, dropped"
    assert hold["left"] == "released"
    assert hold["command_mm"] == pytest.approx(0.0, abs=1.0)  # the expert squeezes while it holds
    assert 2.0 < hold["lift_cm"] < 5.5  # lifted, not to the 5.5 cm PickCube's success needs


def test_keep_closed_overrides_the_opening_and_the_lift_succeeds() -> None:
    """--keep-closed: the same expert that opens mid-lift, its opening replaced by a squeeze."""
    env = gym.make("vla/PickCube-v0", control_hz=10, cameras=["front"], image_size=32, layout="slots")
    try:
        assert run_episode(env, OpensMidLift(env), seed=100000, keep_closed=True) == ("success", None)
    finally:
        env.close()


def test_the_layout_argument_is_read_from_the_env_classes() -> None:
    assert takes_layout("vla/PickCube-v0") and takes_layout("vla/TouchCube-v0")
    assert not takes_layout("vla/PushCube-v0") and not takes_layout("vla/PlaceInBowl-v0")
