"""A training process for the N -> M process resume tests: the real Trainer, checkpoint module and
accelerate set-up (one gloo group when started by `accelerate launch`), on a small MLP without dropout
whose batches carry their sample indices, so a test can compare which samples every step took.

    python -m tests.vla.training.procs_worker RUN OUT --batch-size 8 --steps 9 [--until 4] [--resume]
    accelerate launch --multi_gpu --num_processes 2 -m tests.vla.training.procs_worker RUN OUT --batch-size 4

Writes OUT.rank<r>.json (this process's sample indices per step of this session) and, from the main
process, OUT.safetensors (the final weights).
"""

import argparse
import json
import logging
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file
from torch.utils.data import DataLoader

from tests.vla.training.ckpt_worker import train_cfg
from vla.checkpoint import PRETRAINED, resolve_checkpoint
from vla.training.loop import Trainer
from vla.training.setup import make_accelerator

SAMPLES = 48  # 6 steps of 8 samples per epoch: a 9-step run crosses an epoch boundary


class IndexedMLP(torch.nn.Module):
    """compute_loss / save_pretrained like a policy; remembers the sample indices of every batch. No
    dropout: 2 processes x batch 4 and 1 x 8 then take the same gradient (DDP averages the two halves)."""

    def __init__(self) -> None:
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.Tanh(), torch.nn.Linear(16, 2))
        self.seen: list[list[int]] = []

    def compute_loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        self.seen.append(batch["idx"].tolist())
        loss = torch.nn.functional.mse_loss(self.net(batch["x"]), batch["y"])
        return loss, {}

    def save_pretrained(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        save_file(
            {k: v.contiguous() for k, v in self.state_dict().items()}, str(directory / "model.safetensors")
        )


def loader_factory(batch_size: int) -> Any:
    g = torch.Generator().manual_seed(123)
    x, y = torch.randn(SAMPLES, 4, generator=g), torch.randn(SAMPLES, 2, generator=g)

    def factory(epoch: int) -> DataLoader:
        gen = torch.Generator().manual_seed(7 + epoch)  # the order depends on the epoch only
        return DataLoader(
            list(range(SAMPLES)), batch_size=batch_size, shuffle=True, generator=gen, drop_last=True,
            collate_fn=lambda idx: {"x": x[idx], "y": y[idx], "idx": torch.tensor(idx)},
        )  # fmt: skip

    return factory


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("run_dir", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--batch-size", type=int, required=True)
    p.add_argument("--steps", type=int, default=9)
    p.add_argument("--until", type=int, default=None)
    p.add_argument("--resume", type=Path, default=None)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO)  # the test reads the Trainer's resume messages
    torch.set_num_threads(1)
    torch.manual_seed(0)
    accelerator = make_accelerator({"mixed_precision": "no", "cpu": True})
    policy = IndexedMLP()
    if args.resume is not None:
        from safetensors.torch import load_model

        load_model(policy, str(resolve_checkpoint(args.resume) / PRETRAINED / "model.safetensors"))
    trainer = Trainer(
        cfg=train_cfg(args.steps, save_every=args.until or args.steps, ema=False),
        accelerator=accelerator,
        policy=policy,
        make_loader=loader_factory(args.batch_size),
        run_dir=args.run_dir,
        config_yaml="worker: 1\n",
    )
    if args.resume is not None:
        trainer.resume(args.resume)
    trainer.fit(until=args.until)
    Path(f"{args.out}.rank{accelerator.process_index}.json").write_text(json.dumps(policy.seen))
    if accelerator.is_main_process:
        save_file({k: v.contiguous() for k, v in policy.state_dict().items()}, f"{args.out}.safetensors")


if __name__ == "__main__":
    main()
