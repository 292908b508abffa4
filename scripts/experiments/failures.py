"""Why a policy's PickCube, TouchCube, PushCube or PlaceInBowl episodes fail, from the simulator's state.

.venv/bin/python scripts/experiments/failures.py RUN_DIR [--env pick_cube|touch_cube|push_cube|place_in_bowl]
    [--episodes 30] [--seed-base 100000] [--split train] [--layout slots] [--control-hz 10]
    [--n-action-steps N] [--out FILE.md]

The same seeds as `vla eval` (seed_base + i). For every step it records where the gripper's grasp point
is, which cube the fingers touch and whether one cube hangs in them (envs/tabletop/describe.held_cube),
and prints one outcome per episode, counted:

    success         the env's own success (PickCube: the named cube lifted; TouchCube: touched)
    held, dropped   the named cube hung in the fingers at some step, and the episode still failed
    missed grasp    the grasp point came within 2 cm (xy) and 3 cm (height) of the named cube's centre,
                    and it never hung in the fingers (TouchCube: came that close and never touched it)
    wrong cube      the grasp point's closest approach to a cube was to a distractor
    never close     the grasp point came no closer than that to any cube

PushCube (the named cube onto the named zone) is classified by where the cubes went instead:

    success         the env's own success (the named cube's centre within 4 cm of its zone's)
    wrong zone      the named cube moved and ended on another zone
    pushed, off     the named cube moved (>= 2 cm) and ended outside its zone's 4 cm and on no other
                    zone: pushed short, past or aside
    wrong cube      only the distractor cube moved
    never moved     neither cube moved 2 cm

PlaceInBowl (the named cube into the named bowl): a grasp first, then the place:

    success         the env's own success (the named cube in its bowl, released)
    wrong bowl      the named cube hung in the fingers and ended in the other bowl
    held, not placed  the named cube hung in the fingers and ended in no bowl (or still held)
    missed grasp, wrong cube, never close   the named cube never hung in the fingers: as PickCube

PickCube and PlaceInBowl episodes that failed after the named cube hung in the fingers are also split by
how it left them (a second table), from the gripper command the policy sent (metres per finger; the
cube's half-width is 1.5 cm, the demos command 0, a squeeze):

    held to the end  still hanging in the fingers at the last step (not lifted or not placed in time)
    released         the command rose above 1.5 cm (fingers told to open) in the step the cube left
                     the fingers or in the 3 steps before it
    slipped          the command stayed below 1.5 cm and the cube stopped hanging in the fingers
                     alone: it fell out, or was set down on something with the fingers shut

with the median command while held and the highest the cube was lifted while held.

--keep-closed (PickCube) is an intervention, not a measurement of the policy: from the first step the
named cube hangs in the fingers, the gripper command sent is min(policy's, 0), a squeeze, to the end.
It shows how many episodes the policy's own opening cost.
"""

import argparse
import inspect
import os
import sys
from collections import Counter
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a file from the repo root

import gymnasium as gym
import numpy as np

import envs  # noqa: F401  (registers the vla/ ids)
from envs.tabletop.describe import held_cube
from envs.tabletop.scene import BOWL_RADIUS, BOWL_WALL, CUBE_HALF, ZONE_RADIUS
from envs.tabletop.scripted import CLOSED
from policies.base import observation_from_env
from vla.apps.eval import load_policy

ENV_IDS = {
    "pick_cube": "vla/PickCube-v0",
    "touch_cube": "vla/TouchCube-v0",
    "push_cube": "vla/PushCube-v0",
    "place_in_bowl": "vla/PlaceInBowl-v0",
}
GRASP_OUTCOMES = ("missed grasp", "wrong cube", "never close")
OUTCOMES = {
    "pick_cube": ("success", "held, dropped", *GRASP_OUTCOMES),
    "touch_cube": ("success", "held, dropped", *GRASP_OUTCOMES),
    "push_cube": ("success", "wrong zone", "pushed, off", "wrong cube", "never moved"),
    "place_in_bowl": ("success", "wrong bowl", "held, not placed", *GRASP_OUTCOMES),
}
NEAR_XY, NEAR_Z = 0.02, 0.03  # m: the grasp point inside the cube's reach
MOVED = 0.02  # m: a cube that moved less than this in xy was at most brushed
HOLD_OUTCOMES = ("held to the end", "released", "slipped")
RELEASE_WINDOW = 3  # steps before the cube left the fingers in which an opening command counts


def closest_approach(site: np.ndarray, cube: np.ndarray) -> tuple[float, float]:
    """(xy distance, height above the cube's centre) at the step the grasp point was nearest the cube."""
    d = np.linalg.norm(site - cube, axis=1)
    i = int(np.argmin(d))
    return float(np.linalg.norm(site[i, :2] - cube[i, :2])), float(site[i, 2] - cube[i, 2])


def classify(success: bool, held_named: bool, site: np.ndarray, cubes: np.ndarray) -> str:
    """site (T, 3), cubes (T, n, 3) with the named cube first."""
    if success:
        return "success"
    if held_named:
        return "held, dropped"
    approach = [closest_approach(site, cubes[:, k]) for k in range(cubes.shape[1])]
    xy, dz = approach[0]
    if xy < NEAR_XY and abs(dz) < NEAR_Z:
        return "missed grasp"
    nearest = int(np.argmin([np.hypot(a, b) for a, b in approach]))
    if nearest != 0 and approach[nearest][0] < 2 * NEAR_XY:
        return "wrong cube"
    return "never close"


def classify_push(success: bool, cubes: np.ndarray, zones: np.ndarray) -> str:
    """cubes (T, n, 3) with the named cube first, zones (z, 2+) with the named zone first."""
    if success:
        return "success"
    moved = np.linalg.norm(cubes[-1, :, :2] - cubes[0, :, :2], axis=1)
    if moved[0] >= MOVED:
        to_zone = np.linalg.norm(zones[:, :2] - cubes[-1, 0, :2], axis=1)
        nearest = int(np.argmin(to_zone))
        return "wrong zone" if nearest != 0 and to_zone[nearest] <= ZONE_RADIUS else "pushed, off"
    return "wrong cube" if moved[1:].max(initial=0.0) >= MOVED else "never moved"


def classify_place(
    success: bool, held_named: bool, site: np.ndarray, cubes: np.ndarray, bowls: np.ndarray
) -> str:
    """As classify, then for a held cube where it ended: bowls (b, 3) with the named bowl first."""
    if success or not held_named:
        return classify(success, False, site, cubes)
    end = cubes[-1, 0]
    in_bowl = [np.linalg.norm(end[:2] - b[:2]) <= BOWL_RADIUS and end[2] < BOWL_WALL for b in bowls]
    return "wrong bowl" if any(in_bowl[1:]) else "held, not placed"


def how_it_left(held: np.ndarray, command: np.ndarray) -> str:
    """How the named cube left the fingers: held (T,) bool, whether it hung in them after each step;
    command (T,) the gripper target sent at that step (m per finger). Needs one held step."""
    if held[-1]:
        return "held to the end"
    last = int(np.flatnonzero(held)[-1])
    window = command[max(last + 1 - RELEASE_WINDOW, 0) : last + 2]  # last + 1: the step it left
    return "released" if window.max() > CUBE_HALF else "slipped"


def run_episode(env, policy, seed: int, keep_closed: bool = False) -> tuple[str, dict | None]:
    """(outcome, the hold) of one episode; the hold (how_it_left, median command while held in mm, the
    highest the cube was lifted while held in cm) only for a failed episode whose named cube was held.
    keep_closed: once the named cube has hung in the fingers, the gripper is commanded shut."""
    obs, _ = env.reset(seed=seed)
    policy.reset()
    sim = env.unwrapped
    n = sim.n_cubes
    site, cubes, held, command, success = [], [], [], [], False
    done = False
    while not done:
        action = np.array(policy.select_action(observation_from_env(obs, sim.task_description)))
        if keep_closed and any(held):
            action[5] = min(action[5], CLOSED)  # the demos' squeeze
        obs, _, terminated, truncated, info = env.step(action)
        command.append(float(action[5]))
        site.append(sim.data.site("grasp_site").xpos.copy())
        cubes.append([sim.data.body(f"cube{i}").xpos.copy() for i in range(n)])
        held.append(held_cube(sim.model, sim.data, n) == "cube0")
        success, done = bool(info.get("is_success")), terminated or truncated
    site, cubes, held, command = np.array(site), np.array(cubes), np.array(held), np.array(command)
    if sim.n_zones:  # PushCube: where the cubes went, not where the fingers were
        zones = np.array([sim.data.body(f"zone{i}").xpos for i in range(sim.n_zones)])
        return classify_push(success, cubes, zones), None
    if sim.n_bowls:  # PlaceInBowl: the grasp, then where the held cube ended
        bowls = np.array([sim.data.body(f"bowl{i}").xpos for i in range(sim.n_bowls)])
        outcome = classify_place(success, held.any(), site, cubes, bowls)
    else:
        outcome = classify(success, held.any(), site, cubes)
    if success or not held.any():
        return outcome, None
    lift = cubes[held, 0, 2].max() - CUBE_HALF  # the cube's bottom above the table
    hold = {"left": how_it_left(held, command), "command_mm": 1000 * float(np.median(command[held]))}
    return outcome, {**hold, "lift_cm": 100 * float(lift)}


def hold_table(holds: list[dict]) -> list[str]:
    """The markdown lines splitting failed episodes with a held named cube by how it left the fingers."""
    if not holds:
        return []
    rows = []
    for kind in HOLD_OUTCOMES:
        of_kind = [h for h in holds if h["left"] == kind]
        if not of_kind:
            rows.append(f"| {kind} | 0 | | |")
            continue
        command = np.median([h["command_mm"] for h in of_kind])
        lift = ", ".join(f"{h['lift_cm']:.1f}" for h in of_kind)
        rows.append(f"| {kind} | {len(of_kind)} | {command:.1f} | {lift} |")
    header = (
        "| how the held cube left the fingers | episodes | median command while held (mm) | lifted (cm) |"
    )
    return ["", header, "|---|---|---|---|", *rows]


def takes_layout(env_id: str) -> bool:
    """Whether the env's class takes a `layout` argument (PickCube, TouchCube; the others have one)."""
    env_class = gym.envs.registration.load_env_creator(gym.spec(env_id).entry_point)
    return "layout" in inspect.signature(env_class).parameters


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", help="a run dir or checkpoint dir, as `vla eval policy_path=`")
    parser.add_argument("--env", default="pick_cube", choices=sorted(ENV_IDS))
    parser.add_argument("--episodes", type=int, default=30)
    parser.add_argument("--seed-base", type=int, default=100000)
    parser.add_argument("--split", default="train")
    parser.add_argument(
        "--layout", default="slots", choices=["slots", "random"], help="pick_cube, touch_cube; others: random"
    )
    parser.add_argument("--control-hz", type=int, default=10)
    parser.add_argument("--n-action-steps", type=int, default=None, help="default: the policy's own")
    parser.add_argument("--out", type=Path, default=None, help="also write the table here (markdown)")
    parser.add_argument(
        "--keep-closed", action="store_true", help="pick_cube: shut the gripper once the cube is held"
    )
    args = parser.parse_args(argv)
    if args.keep_closed and args.env != "pick_cube":
        parser.error(f"--keep-closed is for --env pick_cube (it would stop {args.env}'s release)")
    policy, label = load_policy(args.run_dir, None)
    if args.n_action_steps is not None:
        policy.n_action_steps = args.n_action_steps
    layout = {"layout": args.layout} if takes_layout(ENV_IDS[args.env]) else {}  # others: random only
    env = gym.make(
        ENV_IDS[args.env], split=args.split, control_hz=args.control_hz, **layout,
        cameras=list(policy.cfg.cameras), image_size=96,
    )  # fmt: skip
    episodes = [run_episode(env, policy, args.seed_base + i, args.keep_closed) for i in range(args.episodes)]
    env.close()
    outcomes = [outcome for outcome, _ in episodes]
    counts = Counter(outcomes)
    kinds = OUTCOMES[args.env]
    last_seed = args.seed_base + args.episodes - 1
    lines = [
        f"{args.env} ({layout.get('layout', 'random')}, {args.control_hz} Hz, split {args.split},"
        f" seeds {args.seed_base}..{last_seed}, n_action_steps {policy.n_action_steps}"
        f"{', gripper kept shut once held' if args.keep_closed else ''}): {label}",
        "",
        "| outcome | episodes |",
        "|---|---|",
        *(f"| {o} | {counts[o]} / {len(outcomes)} |" for o in kinds),
    ]
    table = "\n".join(lines + hold_table([hold for _, hold in episodes if hold]))
    print(table)
    if args.out:
        args.out.write_text(table + "\n")
    return table


if __name__ == "__main__":
    main()
