"""AdamW, linear warmup + cosine decay, and an exponential moving average of the weights."""

import math
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import torch


def make_optimizer(model: torch.nn.Module, cfg: Mapping[str, Any]) -> torch.optim.AdamW:
    """AdamW with no weight decay on biases and norm gains (1-D tensors), as nanoGPT / most VLM recipes."""
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the policy has no trainable parameters: check policy/backbone freeze settings")
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    groups = [
        {"params": decay, "weight_decay": float(cfg["weight_decay"])},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(
        groups, lr=float(cfg["lr"]), betas=tuple(cfg["betas"]), eps=float(cfg["eps"]), foreach=False
    )


def make_scheduler(
    optimizer: torch.optim.Optimizer, cfg: Mapping[str, Any], elapsed_s: Callable[[], float] | None = None
) -> torch.optim.lr_scheduler.LambdaLR:
    """lr(step) = lr * warmup_cosine(step); a plain closure so the state_dict stays JSON-able.

    With `schedule_clock: seconds` the cosine follows the time budget instead: its progress is the
    larger of the steps done and the share of `max_seconds` spent (`elapsed_s()`), so a run stopped by
    its budget ends at the floor, whatever its speed (policies of different cost on one budget).
    """
    steps, warmup, floor = int(cfg["steps"]), int(cfg["warmup_steps"]), float(cfg["min_lr_ratio"])
    budget = cfg.get("max_seconds") if cfg.get("schedule_clock", "steps") == "seconds" else None

    def factor(step: int) -> float:
        spent = elapsed_s() / budget if budget and elapsed_s is not None else 0.0
        return warmup_cosine(step, steps, warmup, floor, spent)

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def warmup_cosine(step: int, total: int, warmup: int, floor: float, spent: float = 0.0) -> float:
    """Linear 1/warmup .. 1 over `warmup` steps, then cosine from 1 down to `floor` at `total` steps (or
    once `spent`, the share of a time budget used, reaches 1)."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, max((step - warmup) / max(1, total - warmup), spent))
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))


class EMA:
    """shadow = decay * shadow + (1 - decay) * param after each optimiser step (float32 shadows)."""

    def __init__(self, model: torch.nn.Module, decay: float, start_step: int = 0):
        self.decay, self.start_step = decay, start_step
        self.shadow = {k: v.detach().float().clone() for k, v in model.state_dict().items()}

    @torch.no_grad()
    def update(self, model: torch.nn.Module, step: int) -> None:
        decay = 0.0 if step < self.start_step else self.decay  # before start: track the weights exactly
        for key, value in model.state_dict().items():
            if value.dtype.is_floating_point:
                self.shadow[key].mul_(decay).add_(value.detach().float(), alpha=1 - decay)
            else:
                self.shadow[key].copy_(value)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.shadow

    def load_state_dict(self, state: Mapping[str, torch.Tensor]) -> None:
        for key, value in state.items():
            self.shadow[key].copy_(value)

    @contextmanager
    def applied(self, model: torch.nn.Module) -> Iterator[None]:
        """Inside the block the model holds the EMA weights (to save or evaluate); restored after."""
        backup = {k: v.detach().clone() for k, v in model.state_dict().items()}
        with torch.no_grad():
            for key, value in model.state_dict().items():
                value.copy_(self.shadow[key].to(value.dtype))
        try:
            yield
        finally:
            with torch.no_grad():
                for key, value in model.state_dict().items():
                    value.copy_(backup[key])
