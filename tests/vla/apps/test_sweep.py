"""Hydra multirun with the joblib launcher, and multi-process training with `accelerate launch`.

Both start real processes the way a user does (`vla train -m ...`, `accelerate launch -m vla.apps.train`).
"""

import json
import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

import joblib
import pytest
import torch
from safetensors.torch import load_file

from vla import checkpoint as ckpt
from vla.apps.processes import stdlib_start_method

ROOT = Path(__file__).resolve().parents[3]
ENV = {**os.environ, "WANDB_MODE": "disabled", "HYDRA_FULL_ERROR": "1"}


def _child_exit_code(use_fix: bool) -> int | str:
    """In a loky worker: start a forkserver child (as the eval's vector env does) and join it."""
    ctx = multiprocessing.get_context("forkserver")
    try:
        if use_fix:
            with stdlib_start_method():
                proc = ctx.Process(target=int)
                proc.start()
        else:
            proc = ctx.Process(target=int)
            proc.start()
    except ValueError as err:  # raised in the parent on some Python versions
        return str(err)
    proc.join(60)
    return proc.exitcode


def test_processes_start_from_a_joblib_worker() -> None:
    """Hydra's joblib launcher runs jobs in loky workers, whose global start method ("loky") a
    forkserver child cannot re-apply: without the fix the child dies, with it the child runs."""
    with_fix, without = joblib.Parallel(n_jobs=2, backend="loky")(
        joblib.delayed(_child_exit_code)(fix) for fix in (True, False)
    )
    assert with_fix == 0
    assert without != 0


def test_joblib_sweep_runs_two_jobs_that_share_a_missing_dataset(tmp_path: Path) -> None:
    """Two parallel jobs need the same not-yet-recorded dataset: one records it, the other waits;
    both train, checkpoint and evaluate in their own run dirs."""
    data, sweep = tmp_path / "data" / "touch", tmp_path / "sweep"
    cmd = [
        sys.executable, "-m", "vla.cli", "train", "-m", "hydra/launcher=joblib", "experiment=debug",
        "train.steps=2", "train.lr=1e-3,3e-4", f"dataset.root={data}", f"hydra.sweep.dir={sweep}",
    ]  # fmt: skip
    proc = subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for job, lr in (("0", 1e-3), ("1", 3e-4)):
        run = sweep / job
        assert ckpt.resolve_checkpoint(run).name == "step_000002"
        saved = (run / ckpt.CHECKPOINTS / "last" / "config.yaml").read_text()
        assert f"lr: {lr}" in saved
        report = json.loads((run / "eval" / "step_000002" / "report.json").read_text())
        assert report["rows"][0]["episodes"] == 1
    assert (data / "meta" / "info.json").exists()
    assert sorted(p.name for p in data.parent.iterdir() if not p.name.endswith(".lock")) == ["touch"]
    # the sweep report callback ran in the launching process once the joblib workers were done
    assert "2 jobs: 2 done." in (sweep / "report.md").read_text()


def _accelerate(*overrides: str) -> None:
    cmd = [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
        "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
        "-m", "vla.apps.train", "experiment=debug", *overrides,
    ]  # fmt: skip
    proc = subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.mark.slow
def test_two_process_training_resumes_exactly(tmp_path: Path, debug_dataset: Path) -> None:
    """`accelerate launch --multi_gpu --num_processes 2` on a CPU: one gloo group, one run dir, an RNG
    state per process; 4 steps straight == 2 + resume + 2 (same weights)."""
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    _accelerate(f"dataset.root={debug_dataset}", f"run_dir={straight}", "train.eval_at_end=false")
    state = straight / ckpt.CHECKPOINTS / "step_000002" / "training_state"
    assert (state / "rng_rank0.json").exists() and (state / "rng_rank1.json").exists()
    # the data is sharded: each process sees half the batches, so epochs pass twice as fast
    assert json.loads((state / "state.json").read_text())["epoch"] >= 1
    _accelerate(
        f"dataset.root={debug_dataset}", f"run_dir={resumed}", "train.eval_at_end=false",
        f"resume={straight / ckpt.CHECKPOINTS / 'step_000002'}",
    )  # fmt: skip
    name = f"{ckpt.CHECKPOINTS}/step_000004/pretrained/model.safetensors"
    a, b = load_file(str(straight / name)), load_file(str(resumed / name))
    assert all(torch.equal(a[k], b[k]) for k in a)
