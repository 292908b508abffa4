"""Meta-World's task names, benchmark sets, difficulty groups, and our instructions (data only).

Nothing here imports `metaworld` or MuJoCo, so `import envs` stays light; tests check that the 50
names are the installed metaworld's (`metaworld.env_dict.ALL_V3_ENVIRONMENTS`).

Instructions were written in this project, one per task ("train"), plus two held-out paraphrases per
task that no training instruction uses ("heldout_phrasing"). They are not the texts of LeRobot's
Meta-World datasets (lerobot/envs/metaworld_config.json, TASK_DESCRIPTIONS).
"""

SPLITS = ("train", "heldout_phrasing")

# task -> (train instruction, (held-out paraphrase, held-out paraphrase)); keys in Meta-World's order
_INSTRUCTIONS: dict[str, tuple[str, tuple[str, str]]] = {
    "assembly-v3": (
        "pick up the ring and fit it over the peg",
        ("lift the nut and slide it down onto the post", "put the round nut on the peg"),
    ),
    "basketball-v3": (
        "pick up the ball and dunk it through the hoop",
        ("grab the basketball and drop it into the basket", "score the ball in the hoop"),
    ),
    "bin-picking-v3": (
        "move the puck from its bin into the other bin",
        ("take the puck out of one box and put it in the other box", "transfer the puck to the empty bin"),
    ),
    "box-close-v3": (
        "pick up the lid and put it on the box",
        ("close the box by placing its cover on top", "cover the box with the lid"),
    ),
    "button-press-topdown-v3": (
        "press the button down from above",
        ("push the button straight down from the top", "hit the top-facing button"),
    ),
    "button-press-topdown-wall-v3": (
        "press the button down from above, next to the wall",
        ("push the button by the wall straight down", "hit the top-facing button beside the wall"),
    ),
    "button-press-v3": (
        "push the button in from the front",
        ("press the button facing the robot", "poke the front button until it clicks in"),
    ),
    "button-press-wall-v3": (
        "push the button in from the front, reaching past the wall",
        ("press the button behind the low wall", "get around the wall and press the button"),
    ),
    "coffee-button-v3": (
        "press the button on the coffee machine",
        ("push the coffee maker's button", "turn on the coffee machine with its button"),
    ),
    "coffee-pull-v3": (
        "pull the mug away from the coffee machine",
        ("drag the cup out from under the coffee maker", "take the mug back from the machine"),
    ),
    "coffee-push-v3": (
        "push the mug under the coffee machine",
        ("slide the cup beneath the coffee maker's spout", "move the mug to the coffee machine"),
    ),
    "dial-turn-v3": (
        "turn the dial",
        ("rotate the knob", "spin the dial around"),
    ),
    "disassemble-v3": (
        "lift the ring off the peg",
        ("take the nut off the post", "pull the round nut up and off the peg"),
    ),
    "door-close-v3": (
        "close the door",
        ("swing the door shut", "push the open door closed"),
    ),
    "door-lock-v3": (
        "turn the lock to lock the door",
        ("lock the door with its latch", "rotate the door's lock down"),
    ),
    "door-open-v3": (
        "open the door",
        ("pull the door open by its handle", "swing the door open"),
    ),
    "door-unlock-v3": (
        "turn the lock to unlock the door",
        ("unlock the door with its latch", "rotate the door's lock back"),
    ),
    "drawer-close-v3": (
        "close the drawer",
        ("push the drawer shut", "slide the open drawer in"),
    ),
    "drawer-open-v3": (
        "open the drawer",
        ("pull the drawer out by its handle", "slide the drawer open"),
    ),
    "faucet-open-v3": (
        "turn the faucet on",
        ("open the tap by rotating its handle", "rotate the faucet handle to open it"),
    ),
    "faucet-close-v3": (
        "turn the faucet off",
        ("close the tap by rotating its handle", "rotate the faucet handle to shut it"),
    ),
    "hammer-v3": (
        "pick up the hammer and drive the nail in",
        ("grab the hammer and knock the nail into the wall", "hit the nail home with the hammer"),
    ),
    "hand-insert-v3": (
        "put the gripper into the hole",
        ("insert the hand into the opening in the table", "reach down into the hole"),
    ),
    "handle-press-side-v3": (
        "press the handle down from the side",
        ("push the side handle downward", "lower the handle from the side"),
    ),
    "handle-press-v3": (
        "press the handle down",
        ("push the handle downward", "lower the handle all the way"),
    ),
    "handle-pull-side-v3": (
        "pull the handle up from the side",
        ("lift the side handle upward", "raise the handle from the side"),
    ),
    "handle-pull-v3": (
        "pull the handle up",
        ("lift the handle upward", "raise the handle all the way"),
    ),
    "lever-pull-v3": (
        "pull the lever up",
        ("raise the lever", "lift the lever to the top"),
    ),
    "peg-insert-side-v3": (
        "pick up the peg and push it sideways into the hole",
        ("insert the peg into the side opening", "plug the peg into the hole from the side"),
    ),
    "pick-place-wall-v3": (
        "pick up the puck and put it on the goal behind the wall",
        (
            "lift the puck over the wall to the target",
            "carry the puck past the wall and set it down on the goal",
        ),
    ),
    "pick-out-of-hole-v3": (
        "pick the puck up out of the hole",
        ("lift the puck from the hole", "take the puck out of the opening"),
    ),
    "reach-v3": (
        "move the gripper to the goal",
        ("reach for the target position", "bring the hand to the goal point"),
    ),
    "push-back-v3": (
        "pull the puck back to the goal",
        ("drag the puck toward the robot onto the target", "bring the puck back to the goal spot"),
    ),
    "push-v3": (
        "push the puck to the goal",
        ("slide the puck onto the target", "shove the puck to the goal spot"),
    ),
    "pick-place-v3": (
        "pick up the puck and place it at the goal",
        ("lift the puck and set it down on the target", "carry the puck to the goal"),
    ),
    "plate-slide-v3": (
        "slide the plate into the cabinet",
        ("push the plate into the rack", "move the plate into the cabinet"),
    ),
    "plate-slide-side-v3": (
        "slide the plate sideways into the cabinet",
        ("push the plate into the rack from the side", "move the plate sideways into the cabinet"),
    ),
    "plate-slide-back-v3": (
        "slide the plate out of the cabinet",
        ("pull the plate out of the rack", "take the plate back out of the cabinet"),
    ),
    "plate-slide-back-side-v3": (
        "slide the plate sideways out of the cabinet",
        ("pull the plate out of the rack to the side", "take the plate sideways out of the cabinet"),
    ),
    "peg-unplug-side-v3": (
        "pull the peg out of the hole sideways",
        ("unplug the peg from the side", "draw the peg out of its socket"),
    ),
    "soccer-v3": (
        "push the ball into the goal",
        ("kick the soccer ball into the net", "score a goal with the ball"),
    ),
    "stick-push-v3": (
        "pick up the stick and push the box with it",
        ("use the stick to shove the container forward", "grab the stick and push the box to the goal"),
    ),
    "stick-pull-v3": (
        "pick up the stick and pull the box with it",
        ("use the stick to drag the container", "grab the stick and pull the box to the goal"),
    ),
    "push-wall-v3": (
        "push the puck around the wall to the goal",
        (
            "slide the puck past the wall onto the target",
            "get the puck to the goal behind the wall by pushing",
        ),
    ),
    "reach-wall-v3": (
        "move the gripper over the wall to the goal",
        ("reach past the wall for the target position", "bring the hand to the goal beyond the wall"),
    ),
    "shelf-place-v3": (
        "pick up the puck and put it on the shelf",
        ("lift the puck onto the shelf", "place the puck up on the shelf"),
    ),
    "sweep-into-v3": (
        "sweep the puck into the hole",
        ("push the puck into the opening", "slide the puck until it drops into the hole"),
    ),
    "sweep-v3": (
        "sweep the puck off the table",
        ("push the puck off the edge", "slide the puck over the table's edge"),
    ),
    "window-open-v3": (
        "slide the window open",
        ("open the window", "push the window to open it"),
    ),
    "window-close-v3": (
        "slide the window closed",
        ("close the window", "push the window shut"),
    ),
}

TASK_NAMES: tuple[str, ...] = tuple(_INSTRUCTIONS)  # the 50 Meta-World v3 tasks (= MT50)
TASK_INSTRUCTIONS: dict[str, str] = {task: train for task, (train, _) in _INSTRUCTIONS.items()}
HELDOUT_PARAPHRASES: dict[str, tuple[str, ...]] = {task: held for task, (_, held) in _INSTRUCTIONS.items()}

# Meta-World's MT10 (metaworld.env_dict.MT10_V3), in its order
MT10_TASKS: tuple[str, ...] = (
    "reach-v3", "push-v3", "pick-place-v3", "door-open-v3", "drawer-open-v3", "drawer-close-v3",
    "button-press-topdown-v3", "peg-insert-side-v3", "window-open-v3", "window-close-v3",
)  # fmt: skip
MT50_TASKS: tuple[str, ...] = TASK_NAMES

# The difficulty grouping MT50 results are reported by (28 / 11 / 6 / 5 tasks), copied from LeRobot's
# lerobot/envs/metaworld_config.json (DIFFICULTY_TO_TASKS, lerobot 0.6.1), the grouping of its
# Meta-World docs and evaluation (`--env.task=easy|medium|hard|very_hard`).
DIFFICULTY: dict[str, tuple[str, ...]] = {
    "easy": (
        "button-press-v3", "button-press-topdown-v3", "button-press-topdown-wall-v3", "button-press-wall-v3",
        "coffee-button-v3", "dial-turn-v3", "door-close-v3", "door-lock-v3", "door-open-v3", "door-unlock-v3",
        "drawer-close-v3", "drawer-open-v3", "faucet-close-v3", "faucet-open-v3", "handle-press-v3",
        "handle-press-side-v3", "handle-pull-v3", "handle-pull-side-v3", "lever-pull-v3", "plate-slide-v3",
        "plate-slide-back-v3", "plate-slide-back-side-v3", "plate-slide-side-v3", "reach-v3", "reach-wall-v3",
        "window-close-v3", "window-open-v3", "peg-unplug-side-v3",
    ),
    "medium": (
        "basketball-v3", "bin-picking-v3", "box-close-v3", "coffee-pull-v3", "coffee-push-v3", "hammer-v3",
        "peg-insert-side-v3", "push-wall-v3", "soccer-v3", "sweep-v3", "sweep-into-v3",
    ),
    "hard": (
        "assembly-v3", "hand-insert-v3", "pick-out-of-hole-v3", "pick-place-v3", "push-v3", "push-back-v3",
    ),
    "very_hard": (
        "shelf-place-v3", "disassemble-v3", "stick-pull-v3", "stick-push-v3", "pick-place-wall-v3",
    ),
}  # fmt: skip
TASK_DIFFICULTY: dict[str, str] = {task: group for group, tasks in DIFFICULTY.items() for task in tasks}

# Published MT50 success averages (%), for the report beside ours, as issue 21 quotes them (from the SmolVLA
# and Evo-1 papers, 2025). Only averages: per-group numbers were not found in a source we can name.
PUBLISHED_MT50: dict[str, str] = {
    "Evo-1 (0.77B)": "80.6",
    "SmolVLA (2.25B)": "68.2",
    "SmolVLA (0.45B)": "57.3",
    "pi0 (3.3B)": "47.9-50.5",
    "TinyVLA": "31.6",
    "Diffusion Policy": "10.5",
}


def instruction(task: str, split: str, rng_value: float) -> str:
    """The instruction of `task` on `split`; on heldout_phrasing, the paraphrase rng_value in [0, 1) picks."""
    if task not in _INSTRUCTIONS:
        raise ValueError(f"unknown Meta-World task {task!r}; known: {TASK_NAMES}")
    if split == "train":
        return TASK_INSTRUCTIONS[task]
    if split == "heldout_phrasing":
        held = HELDOUT_PARAPHRASES[task]
        return held[min(int(rng_value * len(held)), len(held) - 1)]
    raise ValueError(
        f"split={split!r}: Meta-World has the splits {SPLITS} (no held-out combinations: one object per task)"
    )
