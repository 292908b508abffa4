"""`vla demo` end to end through the CLI, on the real preset shrunk to minutes of work: it records
TouchCube at 30 Hz, trains the tiny VLA, evaluates it in MuJoCo and prints the summary with its
timings. The preset's own settings (rate, chunk, re-planning) reach the dataset and the checkpoint."""

import json
import subprocess
import sys
from pathlib import Path

import yaml

from vla import checkpoint as ckpt

ROOT = Path(__file__).resolve().parents[3]


def test_vla_demo_records_at_30_hz_trains_evaluates_and_summarises(tmp_path: Path) -> None:
    run, data = tmp_path / "run", tmp_path / "touch30"
    cmd = [
        sys.executable, "-m", "vla.cli", "demo", f"run_dir={run}", f"dataset.root={data}",
        "dataset.num_episodes=3", "dataset.record_workers=1", "train.steps=2", "train.warmup_steps=0",
        "train.save_every=2",
        "eval.n_episodes=1", "eval.n_envs=1", "eval.splits=[train]", "eval.max_steps=6",
        "eval.n_videos=1", "runtime.torch_threads=1",
    ]  # fmt: skip
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    info = json.loads((data / "meta" / "info.json").read_text())
    assert (info["fps"], info["total_episodes"]) == (30, 3)

    pretrained = run / ckpt.CHECKPOINTS / "last" / "pretrained"
    saved = yaml.safe_load((pretrained / "config.yaml").read_text())["policy"]
    assert (saved["chunk_size"], saved["n_action_steps"], saved["fps"]) == (10, 3, 30)

    summary = (run / "demo_summary.md").read_text()
    assert summary in proc.stdout  # printed as written
    assert "| TouchCube | train |" in summary and "Wall time: record" in summary
    report = json.loads((run / "eval" / "report.json").read_text())
    assert report["env_kwargs"]["control_hz"] == 30 and report["rows"][0]["episodes"] == 1
    assert [Path(v).suffix for v in report["files"]["videos"]] == [".mp4"]
    stages = report["timings_s"]  # the file keeps what the summary printed
    assert set(stages) == {"record", "train", "eval", "total"} and stages["total"] >= stages["train"] > 0
