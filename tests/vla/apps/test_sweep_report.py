"""`vla sweep report`: a real multirun of the debug experiment with failing jobs, a killed run and a
running one; seeds grouped; the files; the CLI's errors; the report at the end of `vla train -m`."""

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vla.apps import run_status, sweep_files
from vla.apps.sweep_report import main, policy_ratios, write_report
from vla.apps.sweep_runs import DONE, FAILED, NOT_STARTED, RUNNING, Run, group, t_interval
from vla.provenance import git_stamp

ROOT = Path(__file__).resolve().parents[3]
ENV = {**os.environ, "WANDB_MODE": "disabled"}


def _sweep(sweep: Path, *overrides: str) -> tuple[subprocess.Popen, Path]:
    """`vla train -m experiment=debug ...` started in the background; its output goes to a log file."""
    cmd = [
        sys.executable,
        "-m",
        "vla.cli",
        "train",
        "-m",
        "experiment=debug",
        f"hydra.sweep.dir={sweep}",
        *overrides,
    ]
    log = sweep.parent / f"{sweep.name}.log"
    with log.open("w") as out:
        return subprocess.Popen(cmd, cwd=ROOT, env=ENV, stdout=out, stderr=subprocess.STDOUT), log


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory, debug_dataset: Path) -> tuple[Path, int, str]:
    """2 seeds x 2 batch sizes: batch 100000 fails inside each job (larger than the 9-sample dataset)."""
    sweep = tmp_path_factory.mktemp("multirun") / "sweep"
    proc, log = _sweep(
        sweep, "train.steps=2", f"dataset.root={debug_dataset}", "seed=0,1", "train.batch_size=4,100000"
    )
    proc.wait(timeout=600)
    return sweep, proc.returncode, log.read_text()


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_a_sweep_with_failed_jobs_runs_them_all_and_reports_at_the_end(sweep: tuple[Path, int, str]) -> None:
    directory, returncode, out = sweep
    assert returncode == 1, out[-3000:]  # Hydra still fails the sweep, after every job ran
    assert "4 jobs: 2 done, 2 failed." in out, out[-3000:]
    for name in ("report.md", "report.csv", "success.png", "loss.png"):
        assert (directory / name).stat().st_size > 0, name
    rows = {r["job"]: r for r in _csv(directory / "report.csv")}
    assert [rows[j]["status"] for j in "0123"] == [DONE, FAILED, DONE, FAILED]
    assert [rows[j]["seed"] for j in "0123"] == ["0", "0", "1", "1"]
    assert [rows[j]["config"] for j in "0123"] == ["c0", "c1", "c0", "c1"]
    assert rows["1"]["error"].startswith("ConfigError: train.batch_size=100000 is larger than the dataset")
    assert rows["0"]["train.batch_size"] == "4" and rows["0"]["policy"] == "vla"
    for job in "02":  # what a finished run records, and what is derived from its eval report
        assert int(rows[job]["params"]) > 0 and int(rows[job]["steps_trained"]) == 2
        assert float(rows[job]["samples_per_s"]) > 0 and float(rows[job]["peak_rss_mb"]) > 100
        assert float(rows[job]["p95_ms"]) >= float(rows[job]["p50_ms"]) > 0
        assert float(rows[job]["actions_per_s"]) > 0 and rows[job]["episodes/TouchCube/train"] == "1"
    status = json.loads((directory / "1" / run_status.STATUS_FILE).read_text())
    assert status["status"] == FAILED and "loader_factory" in status["traceback"]
    assert (status["commit"], status["uncommitted"]) == git_stamp()  # the code it ran, from git
    text = (directory / "report.md").read_text()
    assert "| **c0 (best)** | train.batch_size=4 | 0,1 | 2/2 |" in text
    assert "| c1 | train.batch_size=100000 | 0,1 | 0/2 (2 failed) |" in text
    assert "0/2 [0.00, 0.66]" in text  # the two seeds' episodes pooled, Wilson interval


def test_killed_running_and_not_started_jobs_are_listed(sweep: tuple[Path, int, str], tmp_path: Path) -> None:
    """A copy of the sweep where job 0 was killed (no final checkpoint, its process gone), job 2 is
    still running (its process alive) and job 3 never started (no dir)."""
    directory = Path(shutil.copytree(sweep[0], tmp_path / "sweep", symlinks=True))
    shutil.rmtree(directory / "0" / "checkpoints")
    gone = subprocess.Popen(["true"])
    gone.wait()
    _set_running(directory / "0", gone.pid)
    _set_running(directory / "2", os.getpid())
    shutil.rmtree(directory / "3")
    result = write_report(directory, out=tmp_path / "report")
    runs = {r.job: r for r in result["runs"]}
    assert [runs[j].status for j in "0123"] == [FAILED, FAILED, RUNNING, NOT_STARTED]
    assert runs["0"].error.startswith(f"killed: its process ({gone.pid}) is gone")
    assert runs["3"].overrides[-2:] == ["seed=1", "train.batch_size=100000"]  # from multirun.yaml
    assert "4 jobs: 2 failed, 1 running, 1 not started." in result["markdown"]
    assert len(_csv(tmp_path / "report" / "report.csv")) == 4


def _set_running(job_dir: Path, pid: int) -> None:
    status = run_status.read_status(job_dir)
    status.update(status="running", pid=pid)
    (job_dir / run_status.STATUS_FILE).write_text(json.dumps(status))


def test_seeds_give_a_student_t_interval() -> None:
    stat = t_interval([0.5, 0.7])
    assert stat.mean == pytest.approx(0.6) and stat.n == 2
    assert stat.high - stat.mean == pytest.approx(12.7062 * 0.141421 / 2**0.5, rel=1e-4)  # t(0.975, 1 dof)
    assert t_interval([0.5]).low is None


def test_ratios_of_a_baseline_policy_to_each_other() -> None:
    def run(policy: str, params: float, success: float) -> Run:
        row = {"task": "T", "split": "train", "success_rate": success, "successes": 1, "episodes": 2}
        return Run(job=policy, overrides=[f"policy={policy}"], status=DONE, policy=policy,
                   metrics={"params": params}, eval_rows=[row])  # fmt: skip

    ratios = policy_ratios([run("vla", 100, 0.5), run("act", 50, 0.25), run("act", 50, 0.75)], "vla")
    assert ratios == [{"policy": "act", "runs": 2, "params": 2.0, "success": 1.0}]
    unfinished = Run(job="x", overrides=["policy=vla"], status=RUNNING, policy="vla")
    assert policy_ratios([unfinished, run("act", 50, 0.25)], "vla") == []  # a live sweep: none yet
    with pytest.raises(ValueError, match="--baseline-of smolvla: no run of this sweep has policy 'smolvla'"):
        policy_ratios([run("vla", 100, 0.5)], "smolvla")


def test_a_policy_sweep_has_one_policy_column(tmp_path: Path) -> None:
    """`policy=` is both an override that varies and the fixed policy column: report.csv names it once."""
    row = {"task": "T", "split": "train", "success_rate": 0.5, "successes": 1, "episodes": 2,
           "ci95_low": 0.09, "ci95_high": 0.91}  # fmt: skip
    runs = [
        Run(job=str(i), overrides=[f"policy={p}", "train.lr=0.1"], status=DONE, policy=p, eval_rows=[row])
        for i, p in enumerate(("vla", "act"))
    ]
    path = sweep_files.write_csv(runs, group(runs), tmp_path / "report.csv")
    with path.open(newline="") as f:
        header = next(csv.reader(f))
    assert len(header) == len(set(header)) and header.count("policy") == 1
    assert [r["policy"] for r in _csv(path)] == ["vla", "act"]


def test_cli_help_and_errors_name_the_dir(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        main(["report", "--help"])
    assert "--baseline-of" in capsys.readouterr().out
    main([])
    assert "report" in capsys.readouterr().out
    with pytest.raises(
        SystemExit, match=f"{tmp_path / 'nope'} does not exist.*expected a Hydra multirun dir"
    ):
        main(["report", str(tmp_path / "nope")])
    (tmp_path / "run" / ".hydra").mkdir(parents=True)
    with pytest.raises(SystemExit, match=r"is the dir of a single run.*pass the multirun dir"):
        main(["report", str(tmp_path / "run")])
    with pytest.raises(SystemExit, match=r"holds no multirun\.yaml and no job dir"):
        main(["report", str(tmp_path)])


@pytest.mark.slow
def test_a_live_sweep_then_killed(tmp_path: Path, debug_dataset: Path) -> None:
    """Reported while its first job trains (running, the next not started), then SIGKILLed: the job
    that was training is listed as failed (killed), never dropped."""
    directory = tmp_path / "sweep"
    proc, log = _sweep(directory, "train.steps=100000", f"dataset.root={debug_dataset}", "seed=0,1")
    try:
        deadline = time.monotonic() + 300
        while not (directory / "0" / "metrics.jsonl").exists():
            assert time.monotonic() < deadline and proc.poll() is None, log.read_text()[-3000:]
            time.sleep(0.5)
        live = {r.job: r.status for r in write_report(directory, out=tmp_path / "live")["runs"]}
        assert live == {"0": RUNNING, "1": NOT_STARTED}
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    runs = {r.job: r for r in write_report(directory)["runs"]}
    assert runs["0"].status == FAILED and runs["0"].error.startswith("killed:")
    assert runs["1"].status == NOT_STARTED
