"""The byte-level BPE text tokenizer shipped with the `tiny` backbone (vla/model/assets/tiny_bpe.json).

Trained here, deterministically, on a generated corpus of tabletop instructions plus common English,
so the whole framework runs offline. Byte-level BPE encodes any text (unknown words fall back to bytes).
Regenerate with `python -m vla.model.tiny_tokenizer` (the file is committed; tests never retrain it).
"""

import itertools
import random
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

ASSET = Path(__file__).resolve().parent / "assets" / "tiny_bpe.json"
VOCAB_SIZE = 1024

# Special tokens of the SmolVLM/Idefics3 processor (image placeholders, turn markers) plus a pad token.
SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<end_of_utterance>",
    "<image>",
    "<fake_token_around_image>",
    "<global-img>",
    "<video>",
)

_COLORS = "red green blue yellow purple orange white black pink gray cyan brown".split()
_OBJECTS = "cube block ball cup bowl plate box drawer button lid peg ring bin tray target goal marker".split()
_VERBS = (
    "pick up|push|touch|stack|place|put|open|close|move|lift|slide|press|grasp|reach|drop|lower|rotate|"
    "turn|pull|sweep|align|insert|hold|raise"
).split("|")
_PLACES = "on top of|onto|into|next to|to the left of|to the right of|in front of|behind|near|inside".split(
    "|"
)
_ENGLISH = (
    "the a an and or of to in on at with from by for is are was be this that it as not do does done "
    "robot arm gripper hand table object task please then now first second third left right up down "
    "front back top bottom small large big tiny center middle corner side edge area zone position "
    "slowly quickly carefully gently until all each every other same different action state image "
    "camera wrist what where which who how one two three four five six seven eight nine ten"
).split()


def corpus(seed: int = 0, n: int = 20000) -> list[str]:
    """Generated training text: instruction templates and English word sequences (deterministic)."""
    rng = random.Random(seed)
    lines = []
    for _ in range(n):
        c1, c2 = rng.choice(_COLORS), rng.choice(_COLORS)
        o1, o2 = rng.choice(_OBJECTS), rng.choice(_OBJECTS)
        v, p = rng.choice(_VERBS), rng.choice(_PLACES)
        template = rng.randrange(4)
        if template == 0:
            lines.append(f"{v} the {c1} {o1}")
        elif template == 1:
            lines.append(f"{v.capitalize()} the {c1} {o1} {p} the {c2} {o2}.")
        elif template == 2:
            lines.append(" ".join(rng.choice(_ENGLISH) for _ in range(rng.randint(4, 12))))
        else:
            lines.append(f"{rng.randint(0, 999)} {rng.choice(_ENGLISH)} {rng.uniform(-9, 9):.2f}")
    lines += [" ".join(words) for words in itertools.permutations(_COLORS[:5], 2)]
    return lines


def train_tiny_tokenizer(vocab_size: int = VOCAB_SIZE, seed: int = 0) -> Tokenizer:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus(seed), trainer)
    return tok


def main() -> None:
    tok = train_tiny_tokenizer()
    ASSET.parent.mkdir(parents=True, exist_ok=True)
    tok.save(str(ASSET))
    print(f"wrote {ASSET} ({tok.get_vocab_size()} tokens)")


if __name__ == "__main__":
    main()
