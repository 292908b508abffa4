"""A checkpoint written by N processes resumes on M: real `accelerate launch` gloo groups on the CPU,
the real Trainer and checkpoint files (tests/vla/training/procs_worker.py, a small MLP).

2 processes x batch 4 and 1 process x batch 8 take the same samples per step (process i takes every
2nd batch of 4 of the epoch's order) and the same gradient, so a run that switches between them at a
checkpoint must take exactly the samples of a run that never switched, and end at its weights. With
another global batch the data position, saved in steps, is converted through samples.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from vla import checkpoint as ckpt

ROOT = Path(__file__).resolve().parents[3]
LAUNCH_2 = [
    "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
    "--mixed_precision", "no", "--dynamo_backend", "no",
]  # fmt: skip
STEPS, SWITCH = 9, 4  # the switch is mid-epoch (6 steps of 8 samples per epoch); the run crosses into epoch 1


def _run(processes: int, run_dir: Path, out: Path, *args: str, batch: int | None = None) -> str:
    """One worker session (1 process, or 2 under accelerate launch); batch per process: 8 // processes."""
    launch = LAUNCH_2 if processes == 2 else []
    cmd = [sys.executable, *launch, "-m", "tests.vla.training.procs_worker", str(run_dir), str(out),
           "--batch-size", str(batch or 8 // processes), "--steps", str(STEPS), *args]  # fmt: skip
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stderr


def _steps(out: Path, processes: int) -> list[set[int]]:
    """The samples of each step of a session: the union over its processes."""
    per_rank = [json.loads(Path(f"{out}.rank{r}.json").read_text()) for r in range(processes)]
    return [set().union(*(rank[i] for rank in per_rank)) for i in range(len(per_rank[0]))]


def _weights(out: Path) -> dict[str, torch.Tensor]:
    return load_file(f"{out}.safetensors")


@pytest.fixture(scope="module")
def straight(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1 process x 8 for 9 steps, never interrupted: the reference."""
    out = tmp_path_factory.mktemp("straight") / "straight"
    _run(1, out.parent / "run", out)
    assert len(_steps(out, 1)) == STEPS and all(len(s) == 8 for s in _steps(out, 1))
    return out


def _switch(tmp_path: Path, straight: Path, first: int, then: int) -> None:
    """`first` processes to step 4, then `then` processes to step 9 == the straight run."""
    _run(first, tmp_path / "run", tmp_path / "a", "--until", str(SWITCH))
    saved = ckpt.resolve_checkpoint(tmp_path / "run")
    assert ckpt.saved_process_count(saved) == first
    state = json.loads((saved / ckpt.TRAINING_STATE / "state.json").read_text())
    assert (state["num_processes"], state["batch_size"], state["batch_in_epoch"]) == (
        first,
        8 // first,
        SWITCH,
    )
    _run(then, tmp_path / "resumed", tmp_path / "b", "--resume", str(saved))
    assert _steps(tmp_path / "a", first) + _steps(tmp_path / "b", then) == _steps(straight, 1)
    a, b = _weights(straight), _weights(tmp_path / "b")
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)  # DDP's all-reduce: not bit-equal
    assert not torch.allclose(a["net.0.weight"], _weights(tmp_path / "a")["net.0.weight"])


def test_two_processes_resume_on_one(tmp_path: Path, straight: Path) -> None:
    """2 x 4 -> 1 x 8: the same samples at every step (across the switch and the epoch end), the same
    weights; and 2 x 4 -> 1 x 4 (half the global batch) continues at sample 32 of the epoch."""
    _switch(tmp_path, straight, 2, 1)
    log = _run(1, tmp_path / "half", tmp_path / "half", "--resume", str(tmp_path / "run"), batch=4)
    assert "resuming a checkpoint of 2 process(es) x batch 4 on 1 x 4: global batch 4 (was 8)" in log
    half, reference = _steps(tmp_path / "half", 1), _steps(straight, 1)
    assert len(half) == STEPS - SWITCH and all(len(s) == 4 for s in half)
    assert [half[0] | half[1], half[2] | half[3]] == reference[4:6]  # samples 32..47, then epoch 1


@pytest.mark.slow
def test_one_process_resumes_on_two(tmp_path: Path, straight: Path) -> None:
    """1 x 8 -> 2 x 4: process 1, which has no RNG state of its own, takes process 0's."""
    _switch(tmp_path, straight, 1, 2)


@pytest.mark.slow
def test_a_position_between_steps_repeats_the_rest_of_a_step(tmp_path: Path) -> None:
    """1 process x 8 saved after 3 steps (24 samples); 2 x 8 (16 a step) resume at sample 16, the
    step boundary before it, and say so."""
    _run(1, tmp_path / "run", tmp_path / "a", "--until", "3", batch=8)
    log = _run(2, tmp_path / "resumed", tmp_path / "b", "--resume", str(tmp_path / "run"), batch=8)
    assert "not a multiple of this global batch (16): the last 8 samples before it are seen again" in log
    first, resumed = _steps(tmp_path / "a", 1), _steps(tmp_path / "b", 2)
    assert len(resumed[0]) == 16
    assert first[2] < resumed[0]  # step 4 takes samples 16..31: step 3's 8 again, then 8 new ones
    assert not (resumed[0] - first[2]) & (first[0] | first[1])
