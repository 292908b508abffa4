"""Launcher presets (conf/hydra/launcher/) and accelerate presets (conf/accelerate/): the presets hold only
keys their launcher knows; `hydra/launcher=slurm_local` runs a sweep end to end through submitit's local
executor (the slurm preset's code path without a cluster); the accelerate files are valid accelerate
configs (FSDP: test_fsdp.py). The joblib launcher and the dataset lock:
test_sweep.py."""

import dataclasses
import itertools
import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from accelerate.commands.config.config_args import load_config_from_file
from accelerate.utils import DistributedType
from hydra import compose, initialize_config_dir
from hydra_plugins.hydra_submitit_launcher.config import LocalQueueConf, SlurmQueueConf
from omegaconf import OmegaConf
from safetensors.torch import load_file

from hydra_plugins.vla_launchers.accelerate_jobs import AccelerateLaunch, LocalLauncher, SlurmLauncher
from vla import checkpoint as ckpt
from vla.apps import run_status
from vla.config import CONF_DIR

ROOT = Path(__file__).resolve().parents[3]
ENV = {**os.environ, "WANDB_MODE": "disabled", "HYDRA_FULL_ERROR": "1"}
ACCELERATE = ROOT / "conf" / "accelerate"


def _launcher(name: str) -> dict:
    with initialize_config_dir(CONF_DIR, version_base="1.3"):
        cfg = compose("config", overrides=[f"hydra/launcher={name}"], return_hydra_config=True)
    return OmegaConf.to_container(cfg.hydra.launcher, resolve=False)


@pytest.mark.parametrize(
    ("name", "schema", "ours"),
    [("slurm", SlurmQueueConf, SlurmLauncher), ("slurm_local", LocalQueueConf, LocalLauncher)],
)
def test_submitit_presets_hold_only_their_launchers_keys(name: str, schema: type, ours: type) -> None:
    """hydra-submitit-launcher passes every key to submitit (a typo would fail only at submission, on the
    cluster): each preset's keys are fields of its launcher's config plus our `accelerate:` group, its
    target our subclass of that launcher (hydra_plugins/vla_launchers), which Hydra instantiates."""
    preset = _launcher(name)
    fields = {f.name for f in dataclasses.fields(schema)}
    assert set(preset) - {"accelerate"} <= fields, sorted(set(preset) - fields)
    assert preset["_target_"] == f"{ours.__module__}.{ours.__name__}"
    # by name: Hydra's plugin scan re-executes plugin modules, so class objects differ between imports
    assert schema._target_ in {f"{c.__module__}.{c.__qualname__}" for c in ours.__mro__}
    assert preset["submitit_folder"].startswith("${hydra.sweep.dir}")  # logs inside the sweep
    assert preset["tasks_per_node"] == 1 and preset["nodes"] == 1  # accelerate starts a job's processes
    assert set(preset["accelerate"]) == {"processes_per_node", "config_file", "args"}


def test_a_job_of_several_processes_is_one_accelerate_launch_per_node() -> None:
    """The command each node of a job runs: DDP flags (or the named conf/accelerate file), all processes
    of the job, this node's rank, the first node as the rendezvous, the job's overrides into its dir."""
    launch = AccelerateLaunch.from_config({"processes_per_node": 4}, {"nodes": 2})
    cmd = launch.command(["train.lr=1e-3"], Path("/runs/0"), node=1, main_host="gpu7", port=20123)
    flags = dict(itertools.pairwise(cmd))
    assert cmd[1:3] == ["-m", "accelerate.commands.launch"] and "--multi_gpu" in cmd
    assert (
        flags["--num_processes"] == "8" and flags["--num_machines"] == "2" and flags["--machine_rank"] == "1"
    )
    assert flags["--main_process_ip"] == "gpu7" and flags["--main_process_port"] == "20123"
    assert cmd[-4:] == [
        "vla.apps.train",
        "train.lr=1e-3",
        "hydra.run.dir='/runs/0'",
        "hydra.output_subdir=null",
    ]
    assert launch.port("123_4") == launch.port("123_4")  # every node derives the same port
    named = AccelerateLaunch.from_config({"processes_per_node": 2, "config_file": "ddp"}, {})
    assert named.command([], Path("r"), 0, "h", 1)[3:5] == ["--config_file", str(ACCELERATE / "ddp.yaml")]
    assert AccelerateLaunch.from_config({"processes_per_node": None}, {}).processes == 1  # no GPUs asked


@pytest.mark.parametrize(
    ("accelerate", "params", "message"),
    [
        ({"processes": 2}, {}, "unknown keys ['processes']"),
        ({"processes_per_node": 0}, {}, "must be an integer >= 1"),
        ({"processes_per_node": 2, "config_file": "fdsp"}, {}, "no such file"),
        ({"processes_per_node": 2}, {"tasks_per_node": 2}, "keep hydra.launcher.tasks_per_node=1"),
    ],
)
def test_bad_accelerate_settings_are_named_before_submission(accelerate, params, message) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        AccelerateLaunch.from_config(accelerate, params)


@pytest.mark.parametrize("name", ["ddp", "multinode"])
def test_accelerate_presets_are_valid_accelerate_configs(name: str) -> None:
    """accelerate's own loader reads them (it rejects unknown keys); DDP, one process per GPU."""
    config = load_config_from_file(str(ACCELERATE / f"{name}.yaml"))
    assert config.distributed_type == DistributedType.MULTI_GPU
    assert config.num_processes == 8 * config.num_machines
    assert config.mixed_precision == "no"  # train.mixed_precision decides


@pytest.mark.slow
def test_slurm_local_sweep_runs_two_jobs_end_to_end(tmp_path: Path) -> None:
    """`vla train -m hydra/launcher=slurm_local`: two jobs in submitit processes, both needing the same
    not-yet-recorded dataset; each trains, checkpoints, evaluates and records status.json in its job dir,
    submitit keeps each job's logs, and the launching process writes the sweep report."""
    data, sweep = tmp_path / "data" / "touch", tmp_path / "sweep"
    cmd = [
        sys.executable, "-m", "vla.cli", "train", "-m", "hydra/launcher=slurm_local", "experiment=debug",
        "train.steps=2", "train.lr=1e-3,3e-4", f"dataset.root={data}", f"hydra.sweep.dir={sweep}",
    ]  # fmt: skip
    proc = subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Submitit 'local' sweep output dir" in proc.stderr + proc.stdout
    pids = set()
    for job, lr in (("0", 1e-3), ("1", 3e-4)):
        run = sweep / job
        status = run_status.read_status(run)
        assert status is not None and status["status"] == "done", status
        pids.add(status["pid"])
        assert ckpt.resolve_checkpoint(run).name == "step_000002"
        assert f"lr: {lr}" in (run / ckpt.CHECKPOINTS / "last" / "config.yaml").read_text()
        report = json.loads((run / "eval" / "step_000002" / "report.json").read_text())
        assert report["rows"][0]["episodes"] == 1
    assert len(pids) == 2 and os.getpid() not in pids  # each job in its own submitit process
    logs = sorted(p.name for p in (sweep / ".submitit").glob("*/*_log.err"))
    assert len(logs) == 2, logs
    # the dataset was recorded once, under the lock, into its place
    assert sorted(p.name for p in data.parent.iterdir() if not p.name.endswith(".lock")) == ["touch"]
    assert "2 jobs: 2 done." in (sweep / "report.md").read_text()
    assert (sweep / "report.csv").is_file()


TRAIN_2_STEPS = ("-m", "vla.apps.train", "experiment=debug", "train.steps=2", "train.eval_at_end=false")


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory: pytest.TempPathFactory, debug_dataset: Path) -> Path:
    """`accelerate launch --config_file conf/accelerate/ddp.yaml --num_processes 2` (a gloo group on this
    CPU): 2 steps of the debug experiment."""
    run = tmp_path_factory.mktemp("ddp") / "run"
    cmd = [
        sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(ACCELERATE / "ddp.yaml"),
        "--num_processes", "2", *TRAIN_2_STEPS, f"dataset.root={debug_dataset}", f"run_dir={run}",
    ]  # fmt: skip
    proc = subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return run


@pytest.mark.slow
def test_ddp_preset_trains_on_two_processes_and_resumes_on_one(tmp_path: Path, ddp_run: Path) -> None:
    """One run dir, an RNG state per process; its checkpoint continues on one process (N -> M)."""
    run = ddp_run
    state = run / ckpt.CHECKPOINTS / "step_000002" / "training_state"
    assert (state / "rng_rank0.json").exists() and (state / "rng_rank1.json").exists()
    assert json.loads((state / "state.json").read_text())["num_processes"] == 2
    resumed = tmp_path / "resumed"
    cmd = [
        sys.executable, "-m", "vla.apps.train", f"resume={run / ckpt.CHECKPOINTS / 'step_000002'}",
        "train.steps=4", "train.eval_at_end=false", f"run_dir={resumed}",
    ]  # fmt: skip
    proc = subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "at step 2" in proc.stderr + proc.stdout
    state = resumed / ckpt.CHECKPOINTS / "step_000004" / "training_state" / "state.json"
    assert json.loads(state.read_text())["num_processes"] == 1


@pytest.mark.slow
def test_slurm_local_job_of_two_processes_runs_accelerate_inside_its_task(
    tmp_path: Path, debug_dataset: Path
) -> None:
    """`hydra.launcher.accelerate.processes_per_node=2`: the submitit task runs a 2-process `accelerate
    launch` (gloo on this CPU) of the job into the job's dir, where status, checkpoint and RNG states of
    both ranks land as under any launcher."""
    sweep = tmp_path / "sweep"
    cmd = [
        sys.executable, "-m", "vla.cli", "train", "-m", "hydra/launcher=slurm_local",
        "hydra.launcher.accelerate.processes_per_node=2", "experiment=debug", "train.steps=2",
        "train.eval_at_end=false", f"dataset.root={debug_dataset}", f"hydra.sweep.dir={sweep}",
    ]  # fmt: skip
    proc = subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = sweep / "0"
    status = run_status.read_status(run)
    assert status is not None and status["status"] == "done", status
    state = run / ckpt.CHECKPOINTS / "step_000002" / "training_state"
    assert (state / "rng_rank0.json").exists() and (state / "rng_rank1.json").exists()
    assert json.loads((state / "state.json").read_text())["num_processes"] == 2
    logs = [*(sweep / ".submitit").glob("*/*_log.*"), *run.glob("*.log")]  # submitit's, the job's own
    task_logs = "".join(p.read_text() for p in logs)
    assert "accelerate.commands.launch --multi_gpu" in task_logs and "--num_processes 2" in task_logs


@pytest.mark.slow
def test_multinode_preset_on_two_machine_ranks_trains_as_one_machine(
    tmp_path: Path, debug_dataset: Path, ddp_run: Path
) -> None:
    """conf/accelerate/multinode.yaml as two machines of one process each, over loopback: two separate
    `accelerate launch` commands (machine ranks 0 and 1) meet at machine 0's address and train as one
    group; the result is the 2-process DDP run's, weight for weight. (One machine here: the ranks share
    its filesystem, as cluster nodes share theirs.)"""
    run = tmp_path / "run"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    launch = [
        sys.executable, "-m", "accelerate.commands.launch",
        "--config_file", str(ACCELERATE / "multinode.yaml"), "--num_machines", "2", "--num_processes", "2",
        "--main_process_ip", "127.0.0.1", "--main_process_port", str(port),
    ]  # fmt: skip
    job = [*TRAIN_2_STEPS, f"dataset.root={debug_dataset}", f"run_dir={run}"]
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.STDOUT, "text": True}
    machines = [
        subprocess.Popen([*launch, "--machine_rank", str(rank), *job], cwd=ROOT, env=ENV, **pipes)
        for rank in (0, 1)
    ]
    outputs = [m.communicate(timeout=600)[0] for m in machines]
    assert [m.returncode for m in machines] == [0, 0], outputs[0][-2000:] + outputs[1][-2000:]
    state = run / ckpt.CHECKPOINTS / "step_000002" / "training_state"
    assert json.loads((state / "state.json").read_text())["num_processes"] == 2
    weights = Path(ckpt.CHECKPOINTS) / "step_000002" / ckpt.PRETRAINED / "model.safetensors"
    ours, reference = load_file(str(run / weights)), load_file(str(ddp_run / weights))
    assert ours.keys() == reference.keys()
    assert all(torch.equal(ours[k], reference[k]) for k in ours)
