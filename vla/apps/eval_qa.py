"""`vla eval ... eval.qa_dataset=PATH`: scene-question accuracy beside task success.

The rows of PATH's meta/vla_qa.parquet (`vla dataset qa PATH`), at most eval.qa_max_rows of them (a
seeded draw, the same rows every time), are asked of the policy about their frame's images
(policy.answer_batch: greedy, KV-cached). An answer counts as right when it equals the stored one after
strip() and lower(). Accuracy per question type and split (train templates / held-out templates) with
95% Wilson intervals, and an "all" row per split.
"""

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from vla.apps.eval_report import QA_ALL as ALL
from vla.apps.eval_report import wilson_interval
from vla.data.dataset import dataset_features, make_dataset
from vla.data.qa_format import QA_COLUMNS, read_qa
from vla.model.qa import QUESTION
from vla.training.qa_data import attach_samples, images_of
from vla.training.validate import ConfigError


def qa_accuracy(policy: Any, eval_cfg: Mapping[str, Any]) -> dict[str, Any] | None:
    """The QA section of an evaluation report, or None without eval.qa_dataset."""
    root = eval_cfg.get("qa_dataset")
    if not root:
        return None
    if not hasattr(policy, "answer_batch"):
        raise ConfigError(f"eval.qa_dataset={root}: this policy writes no text; only a VLA answers questions")
    rows = _picked_rows(Path(root), int(eval_cfg.get("qa_max_rows") or 200), int(eval_cfg["seed_base"]))
    _check_cameras(policy, Path(root))
    episodes = sorted(int(e) for e in rows["episode_index"].unique())
    dataset = make_dataset(root, chunk_size=1, episodes=episodes)  # only the frames asked about
    rows = attach_samples(rows, root, len(dataset), episodes)
    size, max_new = 16, int(eval_cfg.get("qa_max_new_tokens") or 16)
    predicted: list[str] = []
    for start in range(0, len(rows), size):
        part = rows.iloc[start : start + size]
        batch = {**images_of(dataset, part["sample"].tolist()), QUESTION: part["question"].tolist()}
        predicted += policy.answer_batch(batch, max_new_tokens=max_new)
    rows["predicted"] = predicted
    rows["correct"] = [same_answer(p, a) for p, a in zip(predicted, rows["answer"], strict=True)]
    answers = rows[[*QA_COLUMNS, "predicted", "correct"]].to_dict("records")
    return {"dataset": str(root), "rows": summarize_qa(rows), "answers": answers}


def same_answer(predicted: str, expected: str) -> bool:
    return predicted.strip().lower() == str(expected).strip().lower()


def _picked_rows(root: Path, max_rows: int, seed: int) -> Any:
    try:
        rows = read_qa(root)
    except (FileNotFoundError, ValueError) as err:
        raise ConfigError(f"eval.qa_dataset: {err}") from err
    if rows.empty:
        raise ConfigError(f"eval.qa_dataset={root}: its QA file holds no row (`vla dataset qa {root}`)")
    if len(rows) > max_rows:  # a seeded draw, kept in file order: the same rows on every evaluation
        keep = np.sort(np.random.default_rng(seed).choice(len(rows), max_rows, replace=False))
        rows = rows.iloc[keep]
    return rows.reset_index(drop=True)


def _check_cameras(policy: Any, root: Path) -> None:
    have = dataset_features(root).cameras
    missing = [c for c in policy.cfg.cameras if c not in have]
    if missing:
        raise ConfigError(
            f"eval.qa_dataset={root} has cameras {have}; the policy needs {policy.cfg.cameras} (missing "
            f"{missing}): use a dataset recorded with the policy's cameras"
        )


def summarize_qa(rows: Any) -> list[dict[str, Any]]:
    """One row per (split, type), then the split's pooled ALL row, with Wilson intervals."""
    out = []
    for split in sorted(rows["split"].unique(), key=lambda s: (s != "train", s)):
        part = rows[rows["split"] == split]
        types = [*sorted(part["type"].unique()), ALL]
        for kind in types:
            picked = part if kind == ALL else part[part["type"] == kind]
            k, n = int(picked["correct"].sum()), len(picked)
            lo, hi = wilson_interval(k, n)
            out.append({"type": kind, "split": split, "questions": n, "correct": k, "accuracy": k / n,
                        "ci95_low": lo, "ci95_high": hi})  # fmt: skip
    return out
