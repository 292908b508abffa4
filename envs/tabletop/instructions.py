"""Language instructions from templates, with named evaluation splits.

Each task fills its template slots ("obj": a cube colour; "tgt": a target colour or a direction)
with a *combination* of values. Splits:

- "train": training paraphrases, combinations not held out.
- "heldout_phrasing": paraphrases never used in "train", same combinations as "train".
- "heldout_combo": training paraphrases, only the held-out combinations (an (object colour,
  target colour) pair never seen together in "train"; for one-slot tasks, an object colour never
  used as that task's target in "train").

So an evaluation reports seen / held-out-phrasing / held-out-combo success separately.
"""

import itertools

import numpy as np

from envs.tabletop.scene import COLORS

SPLITS = ("train", "heldout_phrasing", "heldout_combo")
COLOR_NAMES = tuple(COLORS)
# direction word -> (unit vector in the robot frame, phrase); +x is away from the robot, +y its left
DIRECTIONS = {
    "left": ((0.0, 1.0), "to the left"),
    "right": ((0.0, -1.0), "to the right"),
    "forward": ((1.0, 0.0), "away from the robot"),
    "backward": ((-1.0, 0.0), "toward the robot"),
}

TEMPLATES: dict[str, dict[str, tuple[str, ...]]] = {
    "TouchCube": {
        "train": (
            "touch the {obj} cube",
            "reach for the {obj} cube and touch it",
            "put the gripper on the {obj} cube",
            "tap the {obj} cube",
        ),
        "heldout": ("make contact with the {obj} block", "poke the {obj} block"),
    },
    "PickCube": {
        "train": (
            "pick up the {obj} cube",
            "lift the {obj} cube",
            "grab the {obj} cube and raise it",
            "take the {obj} cube off the table",
        ),
        "heldout": ("raise the {obj} block into the air", "hoist the {obj} block"),
    },
    "PushCube": {
        "train": (
            "push the {obj} cube onto the {tgt} zone",
            "slide the {obj} cube into the {tgt} area",
            "move the {obj} cube to the {tgt} target by pushing it",
            "shove the {obj} cube onto the {tgt} patch",
        ),
        "heldout": (
            "nudge the {obj} block over to the {tgt} circle",
            "get the {obj} block onto the {tgt} marker without lifting it",
        ),
    },
    "SlideCube": {
        "train": (
            "push the {obj} cube {tgt}",
            "slide the {obj} cube {tgt}",
            "move the {obj} cube {tgt} by pushing it",
        ),
        "heldout": ("nudge the {obj} block {tgt}", "shove the {obj} block a little {tgt}"),
    },
    "PlaceInBowl": {
        "train": (
            "put the {obj} cube in the {tgt} bowl",
            "place the {obj} cube into the {tgt} bowl",
            "pick up the {obj} cube and drop it in the {tgt} bowl",
            "move the {obj} cube into the {tgt} bowl",
        ),
        "heldout": (
            "deposit the {obj} block inside the {tgt} dish",
            "the {obj} block goes in the {tgt} bowl",
        ),
    },
    "StackCube": {
        "train": (
            "stack the {obj} cube on the {tgt} cube",
            "put the {obj} cube on top of the {tgt} cube",
            "place the {obj} cube onto the {tgt} cube",
            "build a tower with the {obj} cube on the {tgt} cube",
        ),
        "heldout": (
            "set the {obj} block upon the {tgt} block",
            "rest the {obj} block on top of the {tgt} one",
        ),
    },
}

_PAIR_HELDOUT = frozenset(
    {
        ("red", "blue"),
        ("green", "yellow"),
        ("blue", "purple"),
        ("yellow", "orange"),
        ("purple", "red"),
        ("orange", "green"),
    }
)
HELDOUT_COMBOS: dict[str, frozenset[tuple[str, ...]]] = {
    "TouchCube": frozenset({("orange",)}),
    "PickCube": frozenset({("purple",)}),
    "PushCube": _PAIR_HELDOUT,
    "PlaceInBowl": _PAIR_HELDOUT,
    "StackCube": _PAIR_HELDOUT,
    "SlideCube": frozenset(
        {
            ("red", "left"),
            ("green", "right"),
            ("blue", "forward"),
            ("yellow", "backward"),
            ("purple", "left"),
            ("orange", "right"),
        }
    ),
}


def all_combos(task: str) -> list[tuple[str, ...]]:
    """Every slot combination of `task` (held out or not)."""
    if task in ("TouchCube", "PickCube"):
        return [(c,) for c in COLOR_NAMES]
    if task == "SlideCube":
        return list(itertools.product(COLOR_NAMES, DIRECTIONS))
    return list(itertools.permutations(COLOR_NAMES, 2))  # object and target colours differ


def combos(task: str, split: str) -> list[tuple[str, ...]]:
    """The combinations `split` samples from for `task`."""
    check_split(split)
    held = HELDOUT_COMBOS[task]
    if split == "heldout_combo":
        return sorted(held)
    return [c for c in all_combos(task) if c not in held]


def templates(task: str, split: str) -> tuple[str, ...]:
    check_split(split)
    return TEMPLATES[task]["heldout" if split == "heldout_phrasing" else "train"]


def check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; use one of {SPLITS}")


def sample(task: str, split: str, rng: np.random.Generator) -> tuple[tuple[str, ...], str]:
    """A (combination, instruction) pair for one episode."""
    options = combos(task, split)
    combo = options[int(rng.integers(len(options)))]
    template = templates(task, split)[int(rng.integers(len(templates(task, split))))]
    return combo, render(template, combo)


def render(template: str, combo: tuple[str, ...]) -> str:
    slots = {"obj": combo[0]}
    if len(combo) > 1:
        slots["tgt"] = DIRECTIONS[combo[1]][1] if combo[1] in DIRECTIONS else combo[1]
    return template.format(**slots)
