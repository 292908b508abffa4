"""vla/training/optim.py: the learning-rate schedule over steps, or over a time budget."""

import pytest
import torch

from vla.training.optim import make_scheduler, warmup_cosine

CFG = {"steps": 100, "warmup_steps": 10, "min_lr_ratio": 0.1, "max_seconds": 60.0}


def test_warmup_then_cosine_to_the_floor_over_steps() -> None:
    assert warmup_cosine(0, 100, 10, 0.1) == pytest.approx(0.1)
    assert warmup_cosine(10, 100, 10, 0.1) == pytest.approx(1.0)
    assert warmup_cosine(55, 100, 10, 0.1) == pytest.approx(0.55)  # half-way: the middle of the cosine
    assert warmup_cosine(100, 100, 10, 0.1) == pytest.approx(0.1)


def _lr_after(cfg: dict, steps: int, elapsed: float) -> float:
    opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = make_scheduler(opt, cfg, lambda: elapsed)
    for _ in range(steps):
        opt.step()
        sched.step()
    return sched.get_last_lr()[0]


def test_seconds_clock_reaches_the_floor_when_the_budget_is_spent_whatever_the_steps() -> None:
    seconds = {**CFG, "schedule_clock": "seconds"}
    assert _lr_after(seconds, 20, elapsed=60.0) == pytest.approx(0.1)  # budget spent after 20 of 100 steps
    assert _lr_after(seconds, 20, elapsed=30.0) < 1.0  # half the budget: on the way down
    assert _lr_after(seconds, 5, elapsed=60.0) == pytest.approx(0.6)  # warmup stays in steps
    # the default clock ignores the time spent
    assert _lr_after({**CFG, "schedule_clock": "steps"}, 20, elapsed=60.0) == pytest.approx(
        warmup_cosine(20, 100, 10, 0.1)
    )
