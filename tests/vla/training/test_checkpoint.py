"""Checkpoint files: no pickle, atomic `last`, retention, exact resume, SIGKILL during a write (fault 13)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from tests.vla.training import ckpt_worker
from vla import checkpoint as ckpt

ROOT = Path(__file__).resolve().parents[3]


def _weights_equal(a: Path, b: Path) -> bool:
    wa, wb = load_file(str(a)), load_file(str(b))
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def test_optimizer_state_round_trips_without_pickle() -> None:
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(model.parameters(), lr=0.1, betas=(0.8, 0.9))
    model(torch.ones(1, 3)).sum().backward()
    opt.step()
    tensors, meta = ckpt.optimizer_state_to_flat(opt.state_dict())
    restored = ckpt.optimizer_state_from_flat(tensors, meta)
    original = opt.state_dict()
    assert restored["param_groups"] == original["param_groups"]
    for pid, state in original["state"].items():
        for name, value in state.items():
            assert torch.equal(restored["state"][pid][name], value), (pid, name)


def test_rng_state_round_trips() -> None:
    import random

    torch.manual_seed(1), np.random.seed(2), random.seed(3)
    tensors, meta = ckpt.capture_rng_state()
    assert all(t.dtype == torch.uint8 for t in tensors.values())
    first = (torch.rand(3), np.random.rand(3), random.random())
    ckpt.restore_rng_state(tensors, meta)
    second = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(first[0], second[0]) and np.array_equal(first[1], second[1]) and first[2] == second[2]


def test_checkpoint_layout_retention_and_last(tmp_path: Path) -> None:
    model = torch.nn.Linear(2, 2)
    for step in (1, 2, 3, 4):
        ckpt.save_checkpoint(
            tmp_path, step, save_pretrained=lambda d: ckpt_worker.MLPPolicy(4).save_pretrained(d),
            config_yaml="a: 1\n", optimizer_state=torch.optim.AdamW(model.parameters()).state_dict(),
            keep_last=2,
        )  # fmt: skip
    root = tmp_path / ckpt.CHECKPOINTS
    assert sorted(p.name for p in root.iterdir()) == ["last", "step_000003", "step_000004"]
    assert os.readlink(root / "last") == "step_000004"
    assert ckpt.resolve_checkpoint(tmp_path) == (root / "step_000004").resolve()
    files = [p for p in (root / "step_000004").rglob("*") if p.is_file()]
    # untrusted checkpoints (fault 16): only safetensors, JSON and YAML, nothing pickle can hide in
    assert {p.suffix for p in files} == {".safetensors", ".json", ".yaml"}
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        ckpt.resolve_checkpoint(tmp_path / "nowhere")


@pytest.mark.parametrize("ema", [False, True])
def test_resume_is_exact(tmp_path: Path, ema: bool) -> None:
    """12 steps straight == 6 steps + resume + 6 steps: same loss curve, same weights (CPU).

    Step 6 is mid-epoch (5 batches per epoch), so the data position is exercised too.
    """
    flags = ["--ema"] if ema else []
    ckpt_worker.main([str(tmp_path / "a"), str(tmp_path / "a.st"), *flags])
    ckpt_worker.main([str(tmp_path / "b"), str(tmp_path / "b1.st"), "--until", "6", *flags])
    ckpt_worker.main([str(tmp_path / "b"), str(tmp_path / "b2.st"), "--resume", *flags])
    assert _weights_equal(tmp_path / "a.st", tmp_path / "b2.st")
    assert not _weights_equal(tmp_path / "b1.st", tmp_path / "b2.st")  # the second half did train
    straight = (tmp_path / "a.losses").read_text().split()
    halves = (tmp_path / "b1.losses").read_text().split() + (tmp_path / "b2.losses").read_text().split()
    assert straight == halves


def _worker(*args: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "tests.vla.training.ckpt_worker", *args]
    return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _kill_during_write(run_dir: Path, out: Path) -> bool:
    """Starts a run that checkpoints every step; SIGKILLs it as soon as a write (step >= 4) is under way."""
    proc = _worker(str(run_dir), str(out), "--steps", "40", "--save-every", "1", "--width", "768")
    root = run_dir / ckpt.CHECKPOINTS
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        tmp = [p for p in root.glob(".tmp-step_*")] if root.exists() else []
        if any(int(p.name.split("_")[1].split("-")[0]) >= 4 for p in tmp):
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            return any(root.glob(".tmp-step_*"))  # the kill landed before the rename
        time.sleep(0.0005)
    proc.kill()
    proc.wait()
    return False


def test_sigkill_during_checkpoint_write_keeps_last_valid(tmp_path: Path) -> None:
    """Fault 13: a real process killed mid-write; `last` stays on a complete checkpoint and resuming
    from it finishes with exactly the weights of an uninterrupted run."""
    for attempt in range(3):  # the kill must land inside a write; retry if the write won the race
        run_dir = tmp_path / f"killed{attempt}"
        if _kill_during_write(run_dir, tmp_path / "unused.st"):
            break
    else:
        pytest.fail("could not land a SIGKILL inside a checkpoint write in 3 attempts")
    last = ckpt.resolve_checkpoint(run_dir)
    step = ckpt.load_training_state(last, restore_rng=False)["step"]
    assert step >= 3
    assert (last / "pretrained" / "model.safetensors").exists()
    args = ["--steps", "40", "--save-every", "1", "--width", "768"]
    resumed = _worker(str(run_dir), str(tmp_path / "resumed.st"), "--resume", *args)
    straight = _worker(str(tmp_path / "straight"), str(tmp_path / "straight.st"), *args)
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read().decode()[-2000:]
    assert straight.wait(timeout=300) == 0, straight.stderr.read().decode()[-2000:]
    assert _weights_equal(tmp_path / "resumed.st", tmp_path / "straight.st")
    assert not list((run_dir / ckpt.CHECKPOINTS).glob(".tmp-*"))  # the next write cleaned the leftover
