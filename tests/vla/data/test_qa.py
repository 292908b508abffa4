"""Scene questions from a scene description (vla/data/qa.py): exact answers, ambiguity skipped,
held-out phrasings only in held-out rows, the same rows every time. Hand-made scenes; the simulator's
own descriptions are tested in tests/vla/apps/test_scene_qa.py."""

import re

import pandas as pd
import pytest

from vla.data import qa

PALETTE = ["red", "green", "blue", "yellow", "purple", "orange"]


def cube(name: str, colour: str, u: float, xy=(0.2, 0.0), visible: float = 1.0) -> dict:
    return {"name": name, "colour": colour, "pos": [*xy, 0.015], "pixel": [u, 50.0], "visible": visible}


def scene(cubes: list[dict], **extra) -> dict:
    base = {
        "cubes": cubes, "bowls": [], "zones": [], "image_size": 96, "held": None, "palette": PALETTE,
        "instruction": "pick up the red cube", "object": "cube0", "target": None,
    }  # fmt: skip
    return {**base, **extra}


THREE = [cube("cube0", "red", 10), cube("cube1", "blue", 50), cube("cube2", "green", 90)]


def rows(s: dict, types=qa.QA_TYPES, episode: int = 0, frame: int = 0) -> pd.DataFrame:
    return pd.DataFrame(list(qa.scene_rows(s, episode, frame, types)))


def answers(s: dict, qa_type: str) -> list[str]:
    table = rows(s, [qa_type])
    return [] if table.empty else table[table["split"] == "train"]["answer"].tolist()


def test_positions_count_and_caption_of_three_cubes() -> None:
    s = scene(THREE)
    assert answers(s, "colour_at_position") == ["red", "blue", "green"]  # left, middle, right
    table = rows(s, ["colour_at_position"])
    assert "left" in table.iloc[0]["question"] or "on the left" in table.iloc[0]["question"]
    assert answers(s, "count") == ["3"]
    assert answers(s, "caption") == ["three cubes: red on the left, blue in the middle, green on the right"]
    assert answers(s, "holding") == ["no"]
    assert answers(s, "referent") == ["red"]
    assert 'the left cube"' in rows(s, ["referent"]).iloc[0]["question"]


def test_left_of_and_exists_are_right_both_ways() -> None:
    for episode in range(20):  # different draws of the pair and the colours
        table = rows(scene(THREE), ["left_of", "exists"], episode=episode)
        for r in table.itertuples():
            if r.type == "left_of":
                a, b = re.search(
                    r"the (\w+) (?:cube|block) .* the (\w+) (?:cube|block|one)", r.question
                ).groups()
                u = {"red": 10, "blue": 50, "green": 90}
                assert r.answer == ("yes" if u[a] < u[b] else "no"), r.question
            else:
                colour = next(c for c in PALETTE if c in r.question)
                assert r.answer == ("yes" if colour in ("red", "blue", "green") else "no"), r.question


def test_ambiguous_places_are_not_asked_about() -> None:
    close = [cube("cube0", "red", 10), cube("cube1", "blue", 50), cube("cube2", "green", 53)]
    s = scene(close)
    assert answers(s, "colour_at_position") == ["red"]  # blue and green are 3 px apart: which is middle?
    assert answers(s, "referent") == ["red"]
    assert answers(s, "caption") == ["three cubes: blue, green and red"]  # no places claimed
    for r in rows(s, ["left_of"]).itertuples():
        assert not ("blue" in r.question and "green" in r.question)
    s = scene(close, object="cube1", instruction="pick up the blue cube")
    assert answers(s, "referent") == []
    s = scene(THREE, instruction="push the red cube to the left")  # the robot's left, not the image's
    assert answers(s, "referent") == []


def test_a_hidden_cube_leaves_only_the_gripper_question() -> None:
    s = scene([*THREE[:2], cube("cube2", "green", 90, visible=0.3)], held="cube2")
    assert set(rows(s)["type"]) == {"holding"} and answers(s, "holding") == ["yes"]
    assert answers(scene(THREE, held="unclear"), "holding") == []


def test_held_cube_is_in_the_caption() -> None:
    s = scene(THREE, held="cube1")
    assert answers(s, "caption")[0].endswith("; the gripper holds the blue cube")
    assert answers(s, "holding") == ["yes"]


def test_nearest_to_a_bowl_needs_a_clear_winner() -> None:
    cubes = [cube("cube0", "red", 20, xy=(0.20, 0.10)), cube("cube1", "blue", 70, xy=(0.20, -0.10))]
    bowl = {"name": "bowl0", "colour": "green", "pos": [0.2, 0.05, 0.0], "pixel": [30, 40], "visible": 1.0}
    s = scene(cubes, bowls=[bowl])
    assert answers(s, "nearest_to") == ["red"]
    assert "green bowl" in rows(s, ["nearest_to"]).iloc[0]["question"]
    assert answers(s, "caption") == ["two cubes: red on the left, blue on the right; one bowl: green"]
    bowl["pos"] = [0.2, 0.005, 0.0]  # 9.5 vs 10.5 cm: too close to call
    assert answers(scene(cubes, bowls=[bowl]), "nearest_to") == []
    assert answers(scene(cubes), "nearest_to") == []  # no bowl, no zone: no question


def test_heldout_phrasings_never_in_train_rows_and_rows_repeat() -> None:
    assert all(not set(t["train"]) & set(t["heldout"]) for t in qa.TEMPLATES.values())
    table = pd.concat([rows(scene(THREE, held=h), episode=e) for e in range(10) for h in (None, "cube0")])
    for r in table.itertuples():
        other = "heldout" if r.split == "train" else "train"
        assert _template_of(r.type, r.question, r.split) and not _template_of(r.type, r.question, other)
        assert r.answer == r.answer.lower() and r.answer.strip()
    assert set(table["split"]) == {"train", "heldout"}
    again = pd.concat([rows(scene(THREE, held=h), episode=e) for e in range(10) for h in (None, "cube0")])
    pd.testing.assert_frame_equal(table, again)


def _template_of(qa_type: str, question: str, split: str) -> bool:
    """Whether `question` is one of the type's `split` phrasings with its slots filled."""
    for template in qa.TEMPLATES[qa_type][split]:
        pattern = re.sub(r"\\\{\w+\\\}", ".+", re.escape(template))
        if re.fullmatch(pattern, question):
            return True
    return False


def test_unknown_type_is_named() -> None:
    with pytest.raises(ValueError, match=r"unknown question type\(s\) \['colour'\]"):
        list(qa.scene_rows(scene(THREE), 0, 0, ["colour"]))
