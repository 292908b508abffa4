"""Hydra launchers that send the jobs of `vla train -m` to Slurm (or to submitit's local executor), each
job one process or a multi-process `accelerate launch` over the GPUs of one or several nodes.

    vla train -m hydra/launcher=slurm hydra.launcher.partition=gpu hydra.launcher.gpus_per_node=8 ...
    vla train -m hydra/launcher=slurm_local ...      # the same task code on this machine, no cluster

The presets are conf/hydra/launcher/{slurm,slurm_local}.yaml: hydra-submitit-launcher's keys plus an
`accelerate:` group. A job of accelerate.processes_per_node x nodes = 1 process runs inside its submitit
task as under any launcher. With more, the task still composes the job (its dir, .hydra/, callbacks),
then runs, on every node of the job,

    accelerate launch [--config_file F] --num_processes P*N --num_machines N --machine_rank <node>
        --main_process_ip <first node> --main_process_port <port> -m vla.apps.train <the job's overrides>
        hydra.run.dir=<job dir> hydra.output_subdir=null

so the processes write status.json, metrics.jsonl and checkpoints into the job dir, where the sweep
report reads them as it reads any job. docs/sweeps.md.
"""

import contextlib
import functools
import logging
import re
import shlex
import socket
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn
from hydra_plugins.hydra_submitit_launcher import submitit_launcher
from omegaconf import DictConfig, OmegaConf

from vla.apps import run_status
from vla.config import CONF_DIR

log = logging.getLogger(__name__)

ACCELERATE_CONF = Path(CONF_DIR) / "accelerate"
_PORTS = (20000, 30000)  # multi-node jobs: a port derived from the job id, the same on every node


class LaunchError(RuntimeError):
    pass


@dataclass
class AccelerateLaunch:
    """How each job starts its processes: `processes_per_node` on each of `nodes`; more than one in all
    means `accelerate launch` (DDP flags, or `config_file`'s settings) with `args` added."""

    processes_per_node: int = 1
    nodes: int = 1
    config_file: str | None = None  # a path, or the name of a file in conf/accelerate/ (ddp, multinode, fsdp)
    args: list[str] = field(default_factory=list)

    @classmethod
    def from_config(
        cls, accelerate: Mapping[str, Any] | None, params: Mapping[str, Any]
    ) -> "AccelerateLaunch":
        """The `accelerate:` group of a launcher preset, checked; params: the launcher's submitit keys."""
        given = dict(
            OmegaConf.to_container(accelerate, resolve=True)
            if OmegaConf.is_config(accelerate)
            else accelerate or {}
        )
        unknown = sorted(set(given) - {"processes_per_node", "config_file", "args"})
        if unknown:
            raise ValueError(
                f"hydra.launcher.accelerate: unknown keys {unknown} "
                "(known: processes_per_node, config_file, args)"
            )
        per_node = given.get("processes_per_node")
        per_node = 1 if per_node is None else per_node  # null: gpus_per_node was null (no GPUs asked for)
        nodes = int(params.get("nodes") or 1)
        if not isinstance(per_node, int) or per_node < 1:
            raise ValueError(
                f"hydra.launcher.accelerate.processes_per_node={per_node!r}: must be an integer >= 1 "
                "(one process per GPU of a node; e.g. hydra.launcher.gpus_per_node=8 sets it to 8)"
            )
        launch = cls(
            per_node, nodes, _config_path(given.get("config_file")), [str(a) for a in given.get("args") or []]
        )
        if launch.processes > 1 and int(params.get("tasks_per_node") or 1) != 1:
            raise ValueError(
                f"hydra.launcher.tasks_per_node={params['tasks_per_node']}: with {launch.processes} "
                "processes per job, `accelerate launch` starts them; keep hydra.launcher.tasks_per_node=1"
            )
        return launch

    @property
    def processes(self) -> int:
        return self.processes_per_node * self.nodes

    def command(
        self, overrides: Sequence[str], job_dir: Path, node: int, main_host: str, port: int
    ) -> list[str]:
        """The `accelerate launch` command of one node of a job."""
        cmd = [sys.executable, "-m", "accelerate.commands.launch"]
        if self.config_file:
            cmd += ["--config_file", self.config_file]
        else:  # DDP; on a machine without GPUs the processes form a gloo group (vla/training/setup.py)
            cmd += ["--multi_gpu", "--mixed_precision", "no", "--dynamo_backend", "no"]
        cmd += ["--num_processes", str(self.processes), "--num_machines", str(self.nodes)]
        cmd += ["--machine_rank", str(node), "--main_process_ip", main_host, "--main_process_port", str(port)]
        run_dir = f"hydra.run.dir={_quoted(str(job_dir))}"
        return [*cmd, *self.args, "-m", "vla.apps.train", *overrides, run_dir, "hydra.output_subdir=null"]

    def port(self, job_id: str) -> int:
        """One node: any free port (array jobs may share a node). Several: every node must agree without
        talking, so the port follows the job id."""
        if self.nodes == 1:
            with socket.socket() as s:
                s.bind(("", 0))
                return int(s.getsockname()[1])
        digits = re.sub(r"\D", "", job_id) or "0"
        return _PORTS[0] + int(digits) % (_PORTS[1] - _PORTS[0])


def _config_path(config_file: str | None) -> str | None:
    if not config_file:
        return None
    path = Path(config_file)
    if not path.suffix and len(path.parts) == 1:
        path = ACCELERATE_CONF / f"{config_file}.yaml"
    if not path.is_file():
        names = ", ".join(sorted(p.stem for p in ACCELERATE_CONF.glob("*.yaml")))
        raise ValueError(
            f"hydra.launcher.accelerate.config_file={config_file!r}: no such file ({path}); name one of "
            f"conf/accelerate/ ({names}) or give a path to an `accelerate config` file"
        )
    return str(path.resolve())  # the task's working dir may differ from the launching one


def _quoted(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def run_accelerated(launch: AccelerateLaunch, cfg: DictConfig) -> None:
    """The task function of a multi-process job (in its submitit task, on every node): `accelerate launch`
    of vla train with the job's overrides into the job's dir; raises when it fails."""
    import submitit

    hydra = HydraConfig.get()
    job_dir = Path(hydra.runtime.output_dir)
    env = submitit.JobEnvironment()
    cmd = launch.command(
        list(hydra.overrides.task), job_dir, env.node, env.hostnames[0], launch.port(env.job_id)
    )
    log.info("job %s, node %d of %d: %s", hydra.job.num, env.node, launch.nodes, shlex.join(cmd))
    returncode = subprocess.run(cmd, check=False).returncode
    if returncode == 0:
        return
    error = (
        f"`accelerate launch` of job {hydra.job.num} exited with status {returncode} on node {env.node} "
        f"(its output: {env.paths.stderr})"
    )
    if env.node == 0 and run_status.read_status(job_dir) is None:  # vla train never started: say why
        with contextlib.suppress(LaunchError), run_status.recorded(job_dir):
            raise LaunchError(error)
    raise LaunchError(error)


class _AccelerateJobs:
    """Mixin for hydra-submitit-launcher's launchers: the `accelerate:` group (AccelerateLaunch)."""

    def __init__(self, accelerate: Mapping[str, Any] | None = None, **params: Any) -> None:
        super().__init__(**params)  # type: ignore[call-arg]
        self.accelerate = AccelerateLaunch.from_config(accelerate, self.params)  # type: ignore[attr-defined]

    def __call__(
        self, sweep_overrides: list[str], job_dir_key: str, job_num: int, job_id: str, singleton_state: Any
    ) -> JobReturn:
        # in the submitit task (a copy of the launcher): the job's config and dir as usual; only what runs
        # it changes when it has several processes
        if self.accelerate.processes > 1:
            self.task_function = functools.partial(run_accelerated, self.accelerate)
        return super().__call__(sweep_overrides, job_dir_key, job_num, job_id, singleton_state)  # type: ignore[misc]


class SlurmLauncher(_AccelerateJobs, submitit_launcher.SlurmLauncher):
    """hydra/launcher=slurm: sbatch arrays through submitit."""


class LocalLauncher(_AccelerateJobs, submitit_launcher.LocalLauncher):
    """hydra/launcher=slurm_local: submitit's local executor, the slurm preset's task code on this machine."""
