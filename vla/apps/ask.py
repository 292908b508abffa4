"""`vla ask`: ask a trained VLA a question about a camera image; prints its answer.

    vla ask policy_path=outputs/train/<run> image=frame.png question="what colour is the cube on the left?"
    vla ask policy_path=<run> image.front=front.png image.wrist=wrist.png question="how many cubes are there?"

key=value arguments as the Hydra apps take them, but read here (not by Hydra) so that a question keeps
every character it has: commas, quotes, brackets and '=' are Hydra syntax, and in a question they are
words. A policy with several cameras needs one png per camera (image.<camera>=...); `image=` alone serves
a single-camera policy. Images are used at their own size, as the camera's frames were in training
(a different size is resized by the backbone, which the policy may not have seen).
"""

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

USAGE = """usage: vla ask policy_path=<run or checkpoint dir> image=<png> question=<text> [max_new_tokens=16]
       vla ask policy_path=... image.front=<png> image.wrist=<png> question=...   (one png per camera)

Answers a question about the image(s) with the policy's language model (greedy, until eos) and prints it.
Only a VLA policy answers (one trained with train.cotrain.qa_fraction > 0 has learnt to: docs/training.md)."""

KEYS = ("policy_path", "question", "max_new_tokens", "image")


class AskError(ValueError):
    """A bad argument; the message names it and the fix."""


def parse_args(argv: Sequence[str]) -> dict[str, Any]:
    """key=value arguments -> {"policy_path", "question", "max_new_tokens", "images": {camera or "": png}}."""
    args: dict[str, Any] = {"max_new_tokens": 16, "images": {}}
    for arg in argv:
        key, eq, value = arg.partition("=")
        if not eq:
            raise AskError(f"argument {arg!r} is not key=value (keys: {', '.join(KEYS)}, image.<camera>)")
        if key == "image" or key.startswith("image."):
            args["images"][key.removeprefix("image").removeprefix(".")] = value
        elif key == "max_new_tokens":
            if not value.isdigit() or int(value) < 1:
                raise AskError(f"max_new_tokens={value!r}: must be an integer >= 1 (e.g. max_new_tokens=16)")
            args[key] = int(value)
        elif key in KEYS:
            args[key] = value
        else:
            raise AskError(f"unknown key {key!r} (keys: {', '.join(KEYS)}, image.<camera>)")
    for key in ("policy_path", "question"):
        if not args.get(key):
            raise AskError(f"{key}= is missing\n\n{USAGE}")
    if not args["images"]:
        raise AskError(f"image= is missing: one png, or image.<camera>=<png> per camera\n\n{USAGE}")
    return args


def camera_images(cameras: Sequence[str], given: dict[str, str]) -> dict[str, np.ndarray]:
    """{camera: (H, W, 3) uint8} for the policy's cameras from the given pngs (key "" = `image=`)."""
    if set(given) == {""}:
        if len(cameras) != 1:
            raise AskError(
                f"the policy sees {len(cameras)} cameras {list(cameras)}: give one png each, "
                + " ".join(f"image.{c}=<png>" for c in cameras)
            )
        given = {cameras[0]: given[""]}
    missing = [c for c in cameras if c not in given]
    unknown = [c for c in given if c not in cameras]
    if missing or unknown:
        raise AskError(
            f"the policy's cameras are {list(cameras)}; given {sorted(given)} (missing {missing}, "
            f"unknown {unknown}): give " + " ".join(f"image.{c}=<png>" for c in cameras)
        )
    return {c: read_png(Path(given[c])) for c in cameras}


def read_png(path: Path) -> np.ndarray:
    from PIL import Image

    if not path.is_file():
        raise AskError(f"image {path} does not exist")
    with Image.open(path) as img:
        return np.array(img.convert("RGB"), dtype=np.uint8)  # a writable copy (torch takes it as is)


def ask(args: dict[str, Any]) -> str:
    """Loads the policy and answers args["question"] about args["images"]."""
    from vla.apps.eval import load_policy
    from vla.constants import image_key

    policy, _ = load_policy(args["policy_path"], None)
    if not hasattr(policy, "answer"):
        raise AskError(f"policy_path={args['policy_path']}: this policy writes no text; only a VLA answers")
    obs = {image_key(c): img for c, img in camera_images(policy.cfg.cameras, args["images"]).items()}
    return policy.answer(obs, args["question"], max_new_tokens=args["max_new_tokens"])


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return
    from vla.training.validate import ConfigError  # what load_policy raises for a bad policy_path

    try:
        print(ask(parse_args(argv)))
    except (AskError, ConfigError, FileNotFoundError) as err:
        sys.exit(f"vla ask: {err}")


if __name__ == "__main__":
    main()
