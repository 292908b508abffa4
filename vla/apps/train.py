"""`vla train`: imitation training of a policy on a LeRobotDataset, with periodic sim evaluation.

    vla train experiment=debug                       # tiny backbone, a few steps, records its own data
    vla train dataset.root=outputs/datasets/pick train.steps=5000 backbone=smolvlm2_256m
    vla train resume=outputs/train/<run>             # continues exactly where the run stopped

The run dir holds checkpoints/ (see vla/checkpoint.py), metrics.jsonl, plots/*.png, eval/step_*/
(report.md, videos) and, unless wandb.mode=disabled, a wandb run (offline by default).

The app builds what the training library (vla/training/) is handed: the dataset (recorded first when
dataset.record_if_missing), checked against the env it will be evaluated in; the policy; the sim
evaluator. vla/training itself knows no env and no policy.
"""

import fcntl
import logging
import os
import shutil
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import gymnasium as gym
import hydra
from accelerate.utils import set_seed
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

import envs  # registers the ids; knows the multi-task env's tasks
from vla import checkpoint as ckpt
from vla import runtime
from vla.apps import run_status
from vla.apps.eval import evaluate, success_metrics, task_name
from vla.apps.processes import stdlib_start_method
from vla.apps.record import record_dataset
from vla.config import CONF_DIR
from vla.constants import ACTION
from vla.data.checks import check_dataset
from vla.data.dataset import DatasetError, dataset_features, load_stats, make_dataloader
from vla.data.meta import read_info
from vla.data.writer import lock_path
from vla.logging_utils import RunLogger
from vla.model import hub
from vla.training import cotrain, setup
from vla.training.loop import Trainer
from vla.training.offline_eval import OfflineEvaluator, heldout_episodes
from vla.training.validate import ConfigError, validate_train

log = logging.getLogger(__name__)


def train(cfg: DictConfig) -> Path:
    """Trains as cfg says; returns the run dir. Reads top to bottom as the table of contents."""
    resume_from = setup.resume_dir(cfg)
    if resume_from is not None:  # the run's own settings, except those this command line sets
        changed = setup.inherit_run_config(cfg, resume_from)
        if changed:
            log.warning("resuming with settings that differ from the run's (as given): %s", changed)
    validate_train(cfg)  # 1. bad values fail here, before any work
    check_lerobot_policy(cfg)
    check_backbone_weights(cfg)
    accelerator = setup.make_accelerator(cfg.train)  # 2. device, mixed precision, processes
    run_dir = setup.run_dir(cfg, resume_from, accelerator)
    set_seed(cfg.seed)
    roots = prepare_dataset(cfg)  # 3. data: recorded if asked, checked against the env
    check_datasets(cfg, roots)
    heldout = heldout_split(cfg, roots)  # env=none: episodes kept out of training, for the offline metrics
    policy = build_policy(cfg, roots, resume_from)  # 4. the policy, fresh or from the checkpoint
    config = OmegaConf.to_container(cfg, resolve=True)
    logger = RunLogger(run_dir, cfg.wandb, config) if accelerator.is_main_process else None
    evaluate = make_evaluator(cfg, run_dir, roots, heldout) if accelerator.is_main_process else None
    evaluator = run_status.Stopwatch(evaluate or (lambda *_: {})) if accelerator.is_main_process else None
    train_episodes = _train_episodes(roots, heldout)
    loaders = setup.loader_factory(cfg, roots, train_episodes)
    qa = cotrain.qa_batches(  # scene QA samples added to every step (train.cotrain.qa_fraction > 0)
        cfg.train, roots, loaders, train_episodes, cfg.seed, accelerator.process_index
    )
    trainer = Trainer(
        cfg=OmegaConf.to_container(cfg.train, resolve=True), accelerator=accelerator, policy=policy,
        make_loader=loaders, run_dir=run_dir, config_yaml=OmegaConf.to_yaml(config), logger=logger,
        evaluate=evaluator if evaluate else None, qa_batches=qa,
    )  # fmt: skip
    if resume_from is not None:  # 5. optimiser, schedule, EMA, RNG, data position
        trainer.resume(resume_from)
        log.info("resumed from %s at step %d", resume_from, trainer.step)
    first_step, t0 = trainer.step, time.perf_counter()
    trainer.fit()  # 6. train, checkpoint, evaluate
    if logger is not None:  # 7. size and throughput, for `vla sweep report`
        qa_per_step = cotrain.qa_per_step(cfg.train)
        samples = (cfg.train.batch_size + qa_per_step) * accelerator.num_processes  # QA samples count too
        summary = run_status.train_summary(
            policy, trainer.step - first_step, samples, time.perf_counter() - t0, evaluator.seconds
        )
        summary["qa_samples_per_step"] = qa_per_step * accelerator.num_processes
        logger.log(trainer.step, summary, split=run_status.SUMMARY_SPLIT)
        for plot in logger.close():
            log.info("plot: %s", plot)
    log.info("run dir: %s (checkpoint: %s)", run_dir, run_dir / "checkpoints" / "last")
    return run_dir


def prepare_dataset(cfg: DictConfig) -> list[Path]:
    """The dataset roots: [dataset.root], recording expert demos into it first when
    dataset.record_if_missing is set, or dataset.roots (each must exist: they are recorded by `vla record`).

    Several runs may need the same missing dataset at once (a joblib sweep, `accelerate launch`):
    one records it under a lock into a temporary folder renamed into place; the others wait for it
    and then read it. A recording that was killed leaves only its temporary folder, never a half root.
    """
    if cfg.dataset.roots is not None:
        cfg.dataset.root = None  # its default gave way (validate_dataset_roots); the saved config says so
        missing = [r for r in cfg.dataset.roots if not _has_dataset(Path(r))]
        if missing:
            raise ConfigError(
                f"dataset.roots: {missing} hold no dataset; record each with `vla record env=<task> "
                "root=<folder>` (dataset.record_if_missing records only a single dataset.root)"
            )
        return [Path(r) for r in cfg.dataset.roots]
    root = Path(cfg.dataset.root)
    if _has_dataset(root):
        return [root]
    if no_sim(cfg):
        raise ConfigError(
            f"dataset.root={str(root)!r} holds no dataset, and env=none has no simulator to record one: "
            "point dataset.root at a LeRobotDataset v3 folder (holds meta/info.json), e.g. one recorded on "
            "the robot with lerobot's `lerobot-record` (docs/real_robot.md)"
        )
    if not cfg.dataset.record_if_missing:
        raise ConfigError(
            f"dataset.root={str(root)!r} holds no dataset; record one with "
            f"`vla record env={_choice('env')} root={root}` or pass dataset.record_if_missing=true"
        )
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.parent / f".{root.name}.prepare.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # blocks while another run records this dataset
        if not _has_dataset(root):  # nobody recorded it while we waited
            for stale in root.parent.glob(f".tmp-{root.name}-*"):
                shutil.rmtree(stale, ignore_errors=True)
            tmp = root.parent / f".tmp-{root.name}-{os.getpid()}"
            log.info(
                "recording %d expert episodes of %s into %s (staged in %s)",
                cfg.dataset.num_episodes, cfg.env.id, root, tmp.name,
            )  # fmt: skip
            record_demos(cfg.env, tmp, cfg.dataset)
            os.replace(tmp, root)
            lock_path(tmp).unlink(missing_ok=True)  # the writer's lock file for tmp
    return [root]


def _has_dataset(root: Path) -> bool:
    return (root / "meta" / "info.json").exists()


def record_demos(env_cfg: Mapping[str, Any], root: Path, data: Mapping[str, Any]) -> None:
    """Successful scripted-expert episodes; failed attempts are dropped and the next seed is tried.

    The multi-task env records its tasks round-robin (the same number of demos each, every episode
    under its own task's env id and step limit), not the task its reset would draw at random.
    One commit at the end: `root` is a staging folder that a killed run throws away (prepare_dataset),
    so committing along the way buys nothing here, and each commit costs ~0.4 s (lerobot reopens the
    dataset and reloads every episode's metadata; 300 demos took 36 s with a commit per 10, 26 s
    with one).
    """
    kwargs = dict(OmegaConf.to_container(env_cfg.kwargs, resolve=True)) if env_cfg.get("kwargs") else {}
    split = kwargs.pop("split", "train")
    env_ids: str | list[str] = env_cfg.id
    if env_cfg.id == envs.MULTITASK_ID:
        tasks = kwargs.pop("tasks", None)
        env_ids = [i for i in envs.TASK_IDS if tasks is None or task_name(i) in tasks]
    with stdlib_start_method():  # recording workers may start from a joblib sweep job
        record_dataset(
            env_ids, root, num_episodes=data["num_episodes"], split=split, seeds=data["seed_base"],
            env_kwargs=kwargs, num_workers=data["record_workers"], commit_every=data["num_episodes"],
            commit_every_s=None, video={"vcodec": data["video_codec"]},
        )  # fmt: skip


def no_sim(cfg: DictConfig) -> bool:
    """env=none: no simulator; the policy is built for the dataset and evaluated offline (module doc)."""
    return cfg.env.id is None


def check_datasets(cfg: DictConfig, roots: list[Path]) -> None:
    """Each dataset passes `vla dataset check` for training (every problem listed, encoding warnings
    logged), fits the env the policy will act in, and several share their features."""
    for root in roots:
        check_dataset(root, job="train")
    cotrain.check_qa_files(roots, cotrain.fraction(cfg.train), cfg.policy.name, cfg.eval.get("qa_dataset"))
    for root in roots if not no_sim(cfg) else []:
        check_dataset_fits(cfg, dataset_features(root), root)
    if len(roots) > 1:
        try:
            dataset_features(roots)
        except DatasetError as err:
            raise ConfigError(f"dataset.roots: {err}") from err


def check_dataset_fits(cfg: DictConfig, features: Any, root: Path) -> None:
    """The dataset must match the env the policy will act in: cameras, image size, state and action dims."""
    kwargs = OmegaConf.to_container(cfg.env.kwargs, resolve=True) if cfg.env.get("kwargs") else {}
    env = gym.make(cfg.env.id, **kwargs)
    try:
        pixels = env.observation_space["pixels"]
        state_dim = env.observation_space["agent_pos"].shape[0]
        action_dim = env.action_space.shape[0]
    finally:
        env.close()
    where = f"dataset {root}"
    fix = "re-record the dataset with this env config, or choose the env it was recorded with"
    for cam in features.cameras:
        if cam not in pixels.spaces:
            raise ConfigError(
                f"{where} has camera {cam!r}; env {cfg.env.id} has {list(pixels.spaces)} ({fix})"
            )
        h, w = pixels[cam].shape[:2]
        if tuple(features.image_shapes[cam][1:]) != (h, w):
            raise ConfigError(
                f"{where} has {cam} images {features.image_shapes[cam][1:]}, "
                f"env.kwargs.image_size gives {(h, w)} ({fix})"
            )
    if features.action_dim != action_dim or features.state_dim != state_dim:
        raise ConfigError(
            f"{where} has action dim {features.action_dim} / state dim {features.state_dim}; "
            f"env {cfg.env.id} has {action_dim} / {state_dim} ({fix})"
        )


def check_backbone_weights(cfg: DictConfig) -> None:
    """policy=vla: a pretrained backbone's weights are on disk or downloadable, before any data is recorded
    or read (offline, the error names the model, the folder looked in and the two fixes)."""
    from policies.registry import LEROBOT_POLICIES

    if cfg.policy.name not in LEROBOT_POLICIES:
        hub.require_weights(cfg.backbone.get("pretrained"))


def check_lerobot_policy(cfg: DictConfig) -> None:
    """policy=act|diffusion|smolvla: the group's keys checked against lerobot's config class (an unknown
    field, n_obs_steps, hub weights) before any data is recorded or read; a config error names the key."""
    from policies.registry import LEROBOT_POLICIES  # imports lerobot only when such a policy is chosen

    if cfg.policy.name not in LEROBOT_POLICIES:
        return
    try:
        LEROBOT_POLICIES[cfg.policy.name]().config_cls.from_dict(
            OmegaConf.to_container(cfg.policy, resolve=True)
        )
    except ValueError as err:
        raise ConfigError(str(err)) from err


def build_policy(cfg: DictConfig, roots: list[Path], resume_from: Path | None) -> Any:
    """A fresh policy of cfg.policy.name for the datasets (vla, or LeRobot's act / diffusion / smolvla),
    or the resumed checkpoint's (the class its `_target_` names: weights, tokenizer, stats)."""
    # imported here only for start-up speed: transformers takes seconds, and `vla train --help` needs none
    from policies.registry import LEROBOT_POLICIES, load_checkpoint, make_lerobot_policy
    from policies.vla.policy import VLAPolicy, collect_action_chunks

    if resume_from is not None:
        return load_checkpoint(resume_from / ckpt.PRETRAINED)
    features = dataset_features(roots)
    policy_cfg = OmegaConf.to_container(cfg.policy, resolve=True)
    name = policy_cfg.pop("name", "vla")
    if name in LEROBOT_POLICIES:
        return make_lerobot_policy(name, policy_cfg, load_stats(roots), features)
    if name != "vla":
        raise ConfigError(f"policy={name}: `vla train` trains vla, {', '.join(LEROBOT_POLICIES)}")
    chunks = None
    if cfg.tokenizer.type == "fast":  # FAST's BPE is fitted on the dataset's action chunks
        loader = make_dataloader(roots, cfg.policy.chunk_size, 256, shuffle=False)
        chunks = collect_action_chunks(loader)
    dims = (features.cameras, features.state_dim, features.action_dim)
    return VLAPolicy.from_config(policy_cfg, load_stats(roots), *dims, chunks, fps=features.fps)


def heldout_split(cfg: DictConfig, roots: list[Path]) -> list[int]:
    """env=none: the dataset's episodes held out of training for the offline evaluation; [] with a sim."""
    share = cfg.eval.offline.heldout_episodes
    if not no_sim(cfg) or share == 0:
        return []
    if len(roots) > 1:
        raise ConfigError(
            f"env=none holds episodes out of one dataset, {len(roots)} were given: merge them into one, or "
            "set eval.offline.heldout_episodes=0 (no offline evaluation)"
        )
    try:
        return heldout_episodes(dataset_features(roots[0]).num_episodes, share)
    except ValueError as err:
        raise ConfigError(f"eval.offline.heldout_episodes={share}: {err}") from err


def _train_episodes(roots: list[Path], heldout: list[int]) -> list[int] | None:
    if not heldout:
        return None
    return sorted(set(range(dataset_features(roots[0]).num_episodes)) - set(heldout))


def make_evaluator(cfg: DictConfig, out_root: Path, roots: list[Path], heldout: list[int]) -> Any:
    """(policy, step) -> metrics: the sim evaluation run during training, as `vla eval` runs it
    (eval.envs or the multi-task env: per task, and the average as success/<split>); with env=none the
    offline metrics on the held-out episodes (vla/training/offline_eval.py), or None without any."""
    if no_sim(cfg):
        if not heldout:
            return None
        names = read_info(roots[0])["features"][ACTION].get("names")
        names = names if isinstance(names, list) else ()  # lerobot also allows {"motors": [...]}
        offline = cfg.eval.offline
        return OfflineEvaluator(
            roots[0], heldout, cfg.policy.chunk_size, out_root / "eval", names,
            plot_episodes=offline.plot_episodes, max_frames=offline.max_frames,
        )  # fmt: skip
    env_cfg = OmegaConf.to_container(cfg.env, resolve=True)
    eval_cfg = OmegaConf.to_container(cfg.eval, resolve=True)

    def run(policy: Any, step: int) -> dict[str, float]:
        report = evaluate(
            policy, f"step {step}", env_cfg, eval_cfg, out_root / "eval" / ckpt.step_dir_name(step)
        )
        return success_metrics(report)

    return run


def _choice(group: str) -> str:
    try:
        return str(HydraConfig.get().runtime.choices[group])
    except (ValueError, KeyError):
        return "<name>"


@hydra.main(config_path=CONF_DIR, config_name="config", version_base="1.3")
def _main(cfg: DictConfig) -> None:
    runtime.configure(cfg.runtime)
    job_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        # <job dir>/status.json: running, then done or failed with the error (vla sweep report reads it)
        with run_status.recorded(job_dir) as status:
            status["run_dir"] = str(train(cfg))
    except (ConfigError, DatasetError, hub.MissingWeightsError) as err:  # message with its fix: no traceback
        if HydraConfig.get().mode == RunMode.MULTIRUN:
            raise  # Hydra records this job as failed and runs the others; sys.exit would end the sweep
        _remove_if_unused(job_dir)
        kind = {ConfigError: "config error", DatasetError: "dataset error"}.get(type(err), "missing weights")
        sys.exit(f"vla train: {kind}: {err}")


def _remove_if_unused(job_dir: Path) -> None:
    """A run that failed before any work leaves no folder behind: only Hydra's and our bookkeeping."""
    bookkeeping = {".hydra", "train.log", run_status.STATUS_FILE}
    if job_dir.is_dir() and {p.name for p in job_dir.iterdir()} <= bookkeeping:
        shutil.rmtree(job_dir)


def main() -> None:
    _main()


if __name__ == "__main__":  # `accelerate launch -m vla.apps.train ...` (multi-process) runs this module
    main()
