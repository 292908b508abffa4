"""Scene questions with exact answers, from a scene description (no simulator here).

A scene description is the dict the tabletop envs' `describe_scene()` returns (envs/tabletop/describe.py):
"cubes", "bowls", "zones" (each object: "name", "colour", "pos" world xyz in m, "pixel" [u, v] in the
camera's image, "visible" fraction), "image_size", "held" (a cube's name, None or "unclear"),
"instruction", "object" (the cube the instruction names), "palette" (every colour an object can
have). `vla dataset qa` (vla/apps/scene_qa.py) gets one per frame from the simulator and turns it into
rows of meta/vla_qa.parquet (vla/data/qa_format.py).

A question is asked only when its answer is unambiguous in the image: every cube at least half in view,
"left of" and "on the left" only between cubes whose centres are apart by MIN_GAP of the image width,
"nearest" only when the nearest is closer by MIN_DISTANCE_GAP than the next. Each question instance
gets two rows: one with a training phrasing (split "train") and one with a held-out phrasing (split
"heldout", never trained on), as the envs' instruction splits hold paraphrases out. Which instance and
phrasing is drawn from a generator seeded by (episode, frame, type): regenerating gives the same rows.
"""

import itertools
import re
import zlib
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

MIN_VISIBLE = 0.5  # fraction of a cube's pixels in view for the scene questions to count it
MIN_GAP = 0.06  # of the image width between cube centres for left/right (a cube is ~8% wide)
MIN_DISTANCE_GAP = 0.02  # m: the nearest cube to a bowl or zone must be nearer than the next by this

# type -> {"train": phrasings, "heldout": phrasings}; slots are filled by the type's generator below
TEMPLATES: dict[str, dict[str, tuple[str, ...]]] = {
    "colour_at_position": {
        "train": (
            "what colour is the cube {where}?",
            "which colour does the {side} cube have?",
            "the cube {where}: what colour is it?",
        ),
        "heldout": ("tell me the colour of the {side} block", "name the colour of the block {where}"),
    },
    "count": {
        "train": ("how many cubes are there?", "how many cubes do you see?", "count the cubes."),
        "heldout": ("what is the number of blocks in the scene?", "how many blocks can be seen?"),
    },
    "exists": {
        "train": (
            "is there a {colour} cube?",
            "do you see a {colour} cube?",
            "is a {colour} cube in the scene?",
        ),
        "heldout": ("can you spot a {colour} block?", "does the scene contain a {colour} block?"),
    },
    "left_of": {
        "train": (
            "is the {a} cube left of the {b} cube?",
            "is the {a} cube to the left of the {b} one?",
            "does the {a} cube lie left of the {b} cube?",
        ),
        "heldout": (
            "from this view, is the {a} block further left than the {b} block?",
            "is the {a} block on the left side of the {b} block?",
        ),
    },
    "nearest_to": {
        "train": (
            "which cube is nearest the {colour} {place}?",
            "which cube is closest to the {colour} {place}?",
            "what colour is the cube nearest to the {colour} {place}?",
        ),
        "heldout": (
            "name the block closest to the {colour} {place}",
            "which block lies nearest to the {colour} {place}?",
        ),
    },
    "referent": {
        "train": (
            'which cube does "{command}" refer to?',
            'in "{command}", which cube is meant?',
            'what colour is the cube in "{command}"?',
        ),
        "heldout": (
            'which block is meant by the instruction "{command}"?',
            '"{command}": the block of which colour?',
        ),
    },
    "holding": {
        "train": (
            "is the gripper holding a cube?",
            "does the gripper hold a cube?",
            "is a cube in the gripper?",
        ),
        "heldout": ("has the robot grasped a block?", "is there a block between the fingers?"),
    },
    "caption": {
        "train": ("describe the scene in one line.", "what do you see?", "caption this image."),
        "heldout": ("give a one-line description of the scene.", "summarise what you see in one sentence."),
    },
}
QA_TYPES: tuple[str, ...] = tuple(TEMPLATES)
SIDES = {"left": "on the left", "middle": "in the middle", "right": "on the right"}
NUMBER_WORDS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six"}

Instance = tuple[dict[str, str], str]  # template slots, answer


def check_types(types: Sequence[str]) -> list[str]:
    unknown = [t for t in types if t not in TEMPLATES]
    if unknown:
        raise ValueError(f"unknown question type(s) {unknown}; use some of {list(QA_TYPES)}")
    return list(dict.fromkeys(types))


def _rng(episode: int, frame: int, qa_type: str) -> np.random.Generator:
    return np.random.default_rng([episode, frame, zlib.crc32(qa_type.encode())])


def cubes_in_view(scene: dict[str, Any]) -> bool:
    return all(c["visible"] >= MIN_VISIBLE for c in scene["cubes"])


def sides(scene: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """ "left" / "middle" / "right" -> the cube there in the image, for the sides that are unambiguous
    (2 cubes: left and right; 3: also the middle one)."""
    cubes = sorted(scene["cubes"], key=lambda c: c["pixel"][0])
    if len(cubes) not in (2, 3):
        return {}
    names = ["left", "right"] if len(cubes) == 2 else ["left", "middle", "right"]
    gap = MIN_GAP * scene["image_size"]
    apart = [b["pixel"][0] - a["pixel"][0] >= gap for a, b in itertools.pairwise(cubes)]
    clear = [apart[0], *(apart[i - 1] and apart[i] for i in range(1, len(cubes) - 1)), apart[-1]]
    return {name: cube for name, cube, ok in zip(names, cubes, clear, strict=True) if ok}


def _colour_at_position(scene: dict[str, Any], rng: np.random.Generator) -> list[Instance]:
    return [({"side": side, "where": SIDES[side]}, cube["colour"]) for side, cube in sides(scene).items()]


def _count(scene: dict[str, Any], rng: np.random.Generator) -> list[Instance]:
    return [({}, str(len(scene["cubes"])))]


def _exists(scene: dict[str, Any], rng: np.random.Generator) -> list[Instance]:
    present = sorted(c["colour"] for c in scene["cubes"])
    absent = [c for c in scene["palette"] if c not in present]
    found = [({"colour": present[int(rng.integers(len(present)))]}, "yes")]
    return found + ([({"colour": absent[int(rng.integers(len(absent)))]}, "no")] if absent else [])


def _left_of(scene: dict[str, Any], rng: np.random.Generator) -> list[Instance]:
    gap = MIN_GAP * scene["image_size"]
    cubes = scene["cubes"]
    pairs = [(a, b) for a in cubes for b in cubes if a is not b and abs(a["pixel"][0] - b["pixel"][0]) >= gap]
    if not pairs:
        return []
    a, b = pairs[int(rng.integers(len(pairs)))]
    return [({"a": a["colour"], "b": b["colour"]}, "yes" if a["pixel"][0] < b["pixel"][0] else "no")]


def _nearest_to(scene: dict[str, Any], rng: np.random.Generator) -> list[Instance]:
    found = []
    for place, group in (("bowl", "bowls"), ("zone", "zones")):
        for target in scene.get(group, []):
            if target["visible"] < MIN_VISIBLE:
                continue
            xy = np.asarray(target["pos"][:2])
            dist = sorted(
                (float(np.linalg.norm(np.asarray(c["pos"][:2]) - xy)), c["colour"]) for c in scene["cubes"]
            )
            if len(dist) == 1 or dist[1][0] - dist[0][0] >= MIN_DISTANCE_GAP:
                found.append(({"colour": target["colour"], "place": place}, dist[0][1]))
    return found


def _referent(scene: dict[str, Any], rng: np.random.Generator) -> list[Instance]:
    """The episode's instruction with the target cube named by its place instead of its colour. Not for
    instructions that already say left or right (SlideCube's directions are the robot's, not the image's)."""
    target = next((c for c in scene["cubes"] if c["name"] == scene.get("object")), None)
    side = next((s for s, c in sides(scene).items() if c is target), None)
    if target is None or side is None or re.search(r"\b(left|right)\b", scene["instruction"]):
        return []
    command = scene["instruction"]
    for noun in ("cube", "block"):
        command = command.replace(f"{target['colour']} {noun}", f"{side} {noun}", 1)
    return [] if command == scene["instruction"] else [({"command": command}, target["colour"])]


def _holding(scene: dict[str, Any], rng: np.random.Generator) -> list[Instance]:
    held = scene.get("held")
    return [] if held == "unclear" else [({}, "no" if held is None else "yes")]


def caption(scene: dict[str, Any]) -> str:
    """ "three cubes: red on the left, blue in the middle, green on the right"; bowls and zones follow
    by colour; the held cube last. Cubes are listed by colour when their places are not all clear."""
    cubes = scene["cubes"]
    placed = sides(scene)
    if len(placed) == len(cubes):
        parts = [f"{c['colour']} {SIDES[side]}" for side, c in placed.items()]
    else:
        parts = [_and(sorted(c["colour"] for c in cubes))]
    text = f"{_plural(len(cubes), 'cube')}: {', '.join(parts)}"
    for group, noun in (("bowls", "bowl"), ("zones", "zone")):
        if scene.get(group):
            text += f"; {_plural(len(scene[group]), noun)}: {_and(sorted(o['colour'] for o in scene[group]))}"
    held = next((c for c in cubes if c["name"] == scene.get("held")), None)
    return text + (f"; the gripper holds the {held['colour']} cube" if held else "")


def _caption(scene: dict[str, Any], rng: np.random.Generator) -> list[Instance]:
    others = scene.get("bowls", []) + scene.get("zones", [])
    return [] if any(o["visible"] < MIN_VISIBLE for o in others) else [({}, caption(scene))]


def _plural(n: int, noun: str) -> str:
    return f"{NUMBER_WORDS.get(n, str(n))} {noun}{'s' if n != 1 else ''}"


def _and(words: list[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


_GENERATORS = {
    "colour_at_position": _colour_at_position,
    "count": _count,
    "exists": _exists,
    "left_of": _left_of,
    "nearest_to": _nearest_to,
    "referent": _referent,
    "holding": _holding,
    "caption": _caption,
}
# types that need every cube in view (the gripper's state does not)
_NEED_CUBES_IN_VIEW = frozenset(QA_TYPES) - {"holding"}


def scene_rows(
    scene: dict[str, Any], episode: int, frame: int, types: Sequence[str] = QA_TYPES
) -> Iterator[dict[str, Any]]:
    """The QA rows of one frame: per question instance a "train" and a "heldout" phrasing."""
    for qa_type in check_types(types):
        if qa_type in _NEED_CUBES_IN_VIEW and not cubes_in_view(scene):
            continue
        rng = _rng(episode, frame, qa_type)
        for slots, answer in _GENERATORS[qa_type](scene, rng):
            for split in ("train", "heldout"):
                phrasings = TEMPLATES[qa_type][split]
                question = phrasings[int(rng.integers(len(phrasings)))].format(**slots)
                yield {
                    "episode_index": int(episode),
                    "frame_index": int(frame),
                    "type": qa_type,
                    "split": split,
                    "question": question,
                    "answer": answer.lower(),
                }
