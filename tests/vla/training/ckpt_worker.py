"""A training process for the resume and SIGKILL tests: the real Trainer, checkpoint module and
DataLoader, with a small MLP policy so the checkpoint mechanism is tested apart from the VLA model.

    python -m tests.vla.training.ckpt_worker RUN_DIR OUT.safetensors --steps 12 [--until 6] [--resume]
"""

import argparse
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from safetensors.torch import load_model, save_file, save_model
from torch.utils.data import DataLoader, TensorDataset

from vla.training.loop import Trainer


class MLPPolicy(torch.nn.Module):
    """compute_loss / save_pretrained / from_pretrained, like VLAPolicy; dropout exercises the RNG."""

    def __init__(self, width: int):
        super().__init__()
        self.width = width
        self.net = torch.nn.Sequential(
            torch.nn.Linear(4, width), torch.nn.ReLU(), torch.nn.Dropout(0.2),
            torch.nn.Linear(width, width), torch.nn.ReLU(), torch.nn.Linear(width, 2),
        )  # fmt: skip

    def compute_loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        loss = torch.nn.functional.mse_loss(self.net(batch["x"]), batch["y"])
        return loss, {"mse": loss.item()}

    def save_pretrained(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        save_model(self, str(directory / "model.safetensors"))
        (directory / "config.yaml").write_text(f"width: {self.width}\n")

    @classmethod
    def from_pretrained(cls, directory: Path) -> "MLPPolicy":
        policy = cls(int((directory / "config.yaml").read_text().split(":")[1]))
        load_model(policy, str(directory / "model.safetensors"))
        return policy


def train_cfg(steps: int, save_every: int, ema: bool) -> dict[str, Any]:
    return {
        "steps": steps, "lr": 1e-2, "weight_decay": 0.01, "betas": [0.9, 0.95], "eps": 1e-8,
        "warmup_steps": 2, "min_lr_ratio": 0.1, "grad_clip_norm": 1.0, "keep_last": 2,
        "ema": {"enabled": ema, "decay": 0.9, "start_step": 0},
        "log_every": 1, "save_every": save_every, "eval_every": 0, "eval_at_end": False,
    }  # fmt: skip


def make_loader_factory(seed: int) -> Any:
    g = torch.Generator().manual_seed(123)
    data = TensorDataset(torch.randn(40, 4, generator=g), torch.randn(40, 2, generator=g))

    def factory(epoch: int) -> DataLoader:
        gen = torch.Generator().manual_seed(seed + epoch)
        return DataLoader(data, batch_size=8, shuffle=True, generator=gen, collate_fn=_collate)

    return factory


def _collate(items: list[tuple[torch.Tensor, torch.Tensor]]) -> dict[str, torch.Tensor]:
    return {"x": torch.stack([i[0] for i in items]), "y": torch.stack([i[1] for i in items])}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("run_dir", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--steps", type=int, default=12)
    p.add_argument("--until", type=int, default=None)
    p.add_argument("--save-every", type=int, default=3)
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--ema", action="store_true")
    p.add_argument("--resume", action="store_true")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    if args.resume:
        from vla.checkpoint import PRETRAINED, resolve_checkpoint

        policy = MLPPolicy.from_pretrained(resolve_checkpoint(args.run_dir) / PRETRAINED)
    else:
        policy = MLPPolicy(args.width)
    cfg = train_cfg(args.steps, args.save_every, args.ema)
    trainer = Trainer(
        cfg=cfg, accelerator=Accelerator(cpu=True), policy=policy,
        make_loader=make_loader_factory(seed=7), run_dir=args.run_dir, config_yaml="worker: 1\n",
    )  # fmt: skip
    if args.resume:
        trainer.resume(args.run_dir)
    trainer.fit(until=args.until)
    save_file({k: v.contiguous() for k, v in policy.state_dict().items()}, str(args.out))
    (args.out.with_suffix(".losses")).write_text("\n".join(f"{x:.10e}" for x in trainer.history))


if __name__ == "__main__":
    main()
