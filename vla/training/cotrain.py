"""Co-training with scene questions (`train.cotrain.qa_fraction`): every step adds QA samples to the
action batch, so the backbone keeps writing language about what it sees while it learns actions.

How a step is mixed, and why: the action batch stays `train.batch_size` samples drawn exactly as in
action-only training, and each step adds n_qa = round(batch_size * f / (1 - f)) QA samples (at least one),
so QA is the fraction f of the step's samples. Both losses are then present in every step (logged side by
side as action_loss and qa_loss) instead of alternating action steps and QA steps at random, whose
gradients and logged curves would jump from one kind to the other; and the action stream (its data
order, its loss scale) is the same as without co-training, which is what a comparison of the two needs.
The policy adds the QA loss at weight n_qa / batch_size (policies/vla/policy.py), one sample one share.

QA samples are rows of each dataset's meta/vla_qa.parquet with split "train" (held-out templates are
never trained on), drawn uniformly with replacement over all datasets' rows. The draw of step s depends
only on (seed, s, process): a resumed run draws the same QA samples, and qa_fraction=0 builds nothing
and draws nothing, so training is bit for bit what it was before co-training existed.
"""

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vla.data.qa_format import qa_path
from vla.model.qa import ANSWER, QUESTION
from vla.training.qa_data import images_of, qa_rows_with_samples
from vla.training.validate import ConfigError


def fraction(train_cfg: Any) -> float:
    """train.cotrain.qa_fraction; 0 where the config has no cotrain group (a run saved before it)."""
    return float((train_cfg.get("cotrain") or {}).get("qa_fraction", 0.0))


def qa_count(batch_size: int, fraction: float) -> int:
    """QA samples added to an action batch of batch_size so that they are `fraction` of the step's."""
    return max(1, round(batch_size * fraction / (1 - fraction)))


def qa_per_step(train_cfg: Any) -> int:
    """QA samples added to each step's action batch by this training config (0: no co-training)."""
    f = fraction(train_cfg)
    return qa_count(int(train_cfg["batch_size"]), f) if f else 0


def check_qa_files(
    roots: Sequence[Path], fraction: float, policy_name: str, qa_eval: str | None = None
) -> None:
    """qa_fraction > 0 needs the VLA policy and a QA file beside every training dataset; eval.qa_dataset
    (qa_eval) the VLA policy: checked before any work, not at the first evaluation."""
    if qa_eval and policy_name != "vla":
        raise ConfigError(
            f"eval.qa_dataset={qa_eval}: policy={policy_name} writes no text; only policy=vla answers"
        )
    if fraction == 0:
        return
    if policy_name != "vla":
        raise ConfigError(
            f"train.cotrain.qa_fraction={fraction}: policy={policy_name} writes no text; co-training "
            "with scene questions needs policy=vla (or set train.cotrain.qa_fraction=0)"
        )
    missing = [str(r) for r in roots if not qa_path(r).is_file()]
    if missing:
        raise ConfigError(
            f"train.cotrain.qa_fraction={fraction} but {missing} have no scene QA file "
            f"(meta/vla_qa.parquet): generate it with `vla dataset qa {missing[0]}` "
            "(or set train.cotrain.qa_fraction=0)"
        )


class QABatches:
    """step -> a QA batch (image keys, "question", "answer"), drawn from (seed, step, process) alone."""

    def __init__(
        self, dataset: Any, roots: Sequence[Path], episodes: Sequence[int] | None, size: int, seed: int,
        process: int = 0,
    ):  # fmt: skip
        try:
            self.rows = qa_rows_with_samples(roots, dataset.sizes, episodes, splits=["train"])
        except (FileNotFoundError, ValueError) as err:
            raise ConfigError(f"train.cotrain: {err}") from err
        if self.rows.empty:
            raise ConfigError(
                f"train.cotrain: the QA files of {[str(r) for r in roots]} hold no split=train row for the "
                "training episodes: regenerate them with `vla dataset qa PATH`"
            )
        self.dataset, self.size, self.seed, self.process = dataset, size, seed, process

    def __call__(self, step: int) -> dict[str, Any]:
        rng = np.random.default_rng([self.seed, step, self.process])
        picked = self.rows.iloc[rng.integers(0, len(self.rows), self.size)]
        batch = images_of(self.dataset, picked["sample"].tolist())
        batch[QUESTION] = picked["question"].tolist()
        batch[ANSWER] = picked["answer"].tolist()
        return batch


def qa_batches(
    train_cfg: Any, roots: Sequence[Path], make_loader: Callable[[int], Any], episodes: Sequence[int] | None,
    seed: int, process: int,
) -> QABatches | None:  # fmt: skip
    """The QA batch source of a `vla train` run, from the training loader's dataset (the same frames and
    image pipeline), or None when train.cotrain.qa_fraction is 0 (or unset): then nothing is touched."""
    size = qa_per_step(train_cfg)
    if size == 0:
        return None
    return QABatches(make_loader(0).dataset, roots, episodes, size, seed, process)
