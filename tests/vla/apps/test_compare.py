"""experiment=compare_debug: the policy comparison's whole pipeline (slow: ~5 min on 2 cores).

Every policy (vla, act, diffusion_ddim, smolvla) trains a few steps on the same two tiny recorded
datasets, is evaluated on the same seeds, and lands in one sweep report with the VLA's ratios to the
others; benchmarks/bench_compare.py publishes it stamped with the commit the runs recorded, and
benchmarks/bench_compare_wide.py evaluates the sweep's checkpoints again on more episodes, and
benchmarks/bench_cotrain.py sets a co-trained VLA (a second sweep, scene questions added) beside the
sweep's action-only one.
"""

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import bench_compare, bench_compare_wide, bench_cotrain
from vla.apps.record import record_dataset
from vla.apps.scene_qa import generate
from vla.data.qa_format import write_qa
from vla.provenance import git_stamp

ROOT = Path(__file__).resolve().parents[3]
TASKS = {"touch_cube": "vla/TouchCube-v0", "pick_cube": "vla/PickCube-v0"}


@pytest.mark.slow
def test_compare_debug_sweep_reports_every_policy(tmp_path: Path) -> None:
    kwargs = {"control_hz": 30, "cameras": ["front", "wrist"], "image_size": 96}
    roots = [tmp_path / name for name in TASKS]
    for root, env_id in zip(roots, TASKS.values(), strict=True):
        record_dataset(env_id, root, 2, "train", 1000, env_kwargs=kwargs, progress=False)
    sweep = tmp_path / "sweep"
    _sweep(roots, sweep)
    with open(sweep / "report.csv", newline="") as f:
        rows = {r["policy"]: r for r in csv.DictReader(f)}
    assert set(rows) == {"vla", "act", "diffusion_ddim", "smolvla"}
    for policy, row in rows.items():
        assert row["status"] == "done", (policy, row["error"])
        assert row["episodes/TouchCube/train"] == "1" and row["episodes/PickCube/train"] == "1"
        assert float(row["params"]) > 0 and float(row["p50_ms"]) > 0
    report = (sweep / "report.md").read_text()
    assert "## vla / each other policy" in report and (sweep / "success.png").exists()
    section = bench_compare.main(["--preset", "compare_debug", "--publish", str(sweep), "--no-write"])
    assert section["commit"] == git_stamp()[0] and section["name"] == "compare_debug"
    assert set(section["figures"]["policies"]) == set(rows)
    wide = bench_compare_wide.main(
        [str(sweep), "--preset", "compare_debug", "--episodes", "2", "--jobs", "1", "--no-write"]
    )
    runs = {r["policy"]: r for r in wide["figures"]["runs"]}
    assert set(runs) == set(rows) and wide["figures"]["ours"] == "vla"
    for run in runs.values():
        assert run["counts"]["TouchCube/train"][1] == 2 and run["counts"]["average/train"][1] == 4
    assert [c["of"] for c in wide["figures"]["target"]] == [2]
    assert all((sweep / job / "eval_wide_2" / "report.md").exists() for job in ("0", "1", "2", "3"))
    _cotrained_beside_action_only(roots, sweep, tmp_path / "cotrained")


def _sweep(roots: list[Path], sweep: Path, *overrides: str) -> None:
    cmd = [
        sys.executable, "-m", "vla.cli", "train", "-m", "experiment=compare_debug",
        f"dataset.roots=[{','.join(map(str, roots))}]", f"hydra.sweep.dir={sweep}", *overrides,
    ]  # fmt: skip
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]


def _cotrained_beside_action_only(roots: list[Path], sweep: Path, cotrained: Path) -> None:
    """The VLA co-trained with scene questions in a sweep of its own, then both arms evaluated and asked."""
    for root in roots:
        write_qa(root, generate(root))
    _sweep(roots, cotrained, "hydra.sweeper.params.policy=vla", "train.cotrain.qa_fraction=0.5")
    argv = [str(sweep), str(cotrained), "--preset", "compare_debug", "--episodes", "2", "--jobs", "1",
            "--qa-dataset", str(roots[0]), "--qa-rows", "6", "--no-write"]  # fmt: skip
    section = bench_cotrain.main(argv)
    runs = {r["arm"]: r for r in section["figures"]["runs"]}
    assert set(runs) == {"action-only", "co-trained, qa_fraction 0.5"}, runs.keys()
    for run in runs.values():
        assert run["counts"]["average/train"][1] == 4  # 2 episodes of each of the 2 tasks
        assert sum(n for key, (_, n) in run["qa"].items() if key.endswith("/all")) == 6
    assert (cotrained / "0" / "qa_touch_cube_6.json").exists() and (cotrained / "0" / "eval_wide_2").is_dir()
